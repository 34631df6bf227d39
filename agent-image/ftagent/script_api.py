"""The LLM helper that generated data scripts may import: ``from ftagent.script_api import
complete, complete_many``.

It runs inside the sandbox (:mod:`ftagent.sandbox`) and holds no key: every call goes to the
agent's LLM gateway (:mod:`ftagent.gateway`) as an OpenAI-style chat completion over the Unix
socket named by ``FT_LLM_GATEWAY_SOCKET``, the only variable it reads. The gateway picks the
models, meters the cost and answers HTTP 429 once the campaign's LLM budget is spent
(:class:`~ftagent.errors.BudgetExhausted` here).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import httpx

from ftagent.errors import BudgetExhausted, LlmError

SOCKET_ENV = "FT_LLM_GATEWAY_SOCKET"
URL = "http://gateway/v1/chat/completions"
"""The host part is ignored: the transport connects to the socket."""
CLIENT_THREADS = 8
"""Requests ``complete_many`` keeps open at once (the gateway bounds the model calls)."""
TIMEOUT_S = 1800.0

Pool = Literal["strong", "weak"]


def script_env(socket_path: Path | str) -> dict[str, str]:
    """The variables a script needs to use this module (set by the LLM planner)."""
    return {SOCKET_ENV: str(socket_path)}


@lru_cache(maxsize=1)
def _http() -> httpx.Client:
    path = os.environ.get(SOCKET_ENV)
    if not path:
        raise LlmError(f"no LLM gateway: {SOCKET_ENV} is not set")
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=path), timeout=httpx.Timeout(TIMEOUT_S, connect=10)
    )


def chat(messages: Sequence[dict[str, str]], *, pool: Pool | str = "weak", **params: Any) -> str:
    """One chat completion through the gateway; ``pool`` is ``strong``, ``weak`` or a
    configured model name. BudgetExhausted once the budget is spent, LlmError otherwise."""
    try:
        response = _http().post(URL, json={"model": pool, "messages": list(messages), **params})
    except httpx.HTTPError as exc:
        raise LlmError(f"the LLM gateway is unreachable: {exc}") from exc
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code != 200:
        error = payload.get("error") if isinstance(payload, dict) else None
        message = error.get("message") if isinstance(error, dict) else response.text[:500]
        text = f"LLM gateway HTTP {response.status_code}: {message}"
        if response.status_code == 429:
            raise BudgetExhausted(text)
        raise LlmError(text)
    try:
        return payload["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise LlmError("the LLM gateway's reply has no message") from exc


def _conversation(prompt: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


def complete(prompt: str, *, pool: Pool = "weak", system: str | None = None) -> str:
    """One completion; ``pool="strong"`` for reasoning, ``"weak"`` for bulk formatting."""
    return chat(_conversation(prompt, system), pool=pool)


def complete_many(
    prompts: Sequence[str], *, pool: Pool = "weak", system: str | None = None
) -> list[str | None]:
    """Completions for many prompts in parallel (bounded); None where a call failed."""

    def one(prompt: str) -> str | None:
        try:
            return chat(_conversation(prompt, system), pool=pool)
        except LlmError:
            return None

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as executor:
        return list(executor.map(one, prompts))
