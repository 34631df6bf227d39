"""The LLM helper that generated data scripts may import: ``from ftagent.script_api import
complete, complete_many``.

It runs inside the sandbox (:mod:`ftagent.sandbox`) and rebuilds the agent's
:class:`~ftagent.llm_client.LlmClient` from environment variables the LLM planner sets for the
script only: endpoint, key, model pools, concurrency and the campaign's remaining cost budget.
Every call's cost is appended to a JSON Lines log in the script's folder, which the agent adds
to the step's LLM cost after the run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache

from ftagent.llm_client import API_KEY_ENV, CostMeter, LlmClient, LlmSettings, Pool

API_BASE_ENV = "FT_LLM_API_BASE"
STRONG_ENV = "FT_LLM_STRONG_MODELS"
WEAK_ENV = "FT_LLM_WEAK_MODELS"
WORKERS_ENV = "FT_LLM_MAX_WORKERS"
COST_LIMIT_ENV = "FT_LLM_COST_LIMIT"
COST_LOG_ENV = "FT_LLM_COST_LOG"
COST_LOG_NAME = "llm_costs.jsonl"

_log_lock = threading.Lock()


def script_env(
    settings: LlmSettings, api_key: str | None, remaining_budget: float | None
) -> dict[str, str]:
    """The variables a script needs to use this module (set by the LLM planner)."""
    env = {
        STRONG_ENV: json.dumps(list(settings.strong_models)),
        WEAK_ENV: json.dumps(list(settings.weak_models)),
        WORKERS_ENV: str(settings.max_workers),
        COST_LOG_ENV: COST_LOG_NAME,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    if settings.api_base:
        env[API_BASE_ENV] = settings.api_base
    if api_key:
        env[API_KEY_ENV] = api_key
    if remaining_budget is not None:
        env[COST_LIMIT_ENV] = repr(remaining_budget)
    return env


class _LoggingMeter(CostMeter):
    def __init__(self, limit: float | None, log_path: str) -> None:
        super().__init__(limit=limit)
        self._path = log_path

    def add(self, cost: float) -> None:
        super().add(cost)
        with _log_lock, open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"cost": cost}) + "\n")


@lru_cache(maxsize=1)
def _client() -> LlmClient:
    environ: Mapping[str, str] = os.environ
    settings = LlmSettings(
        strong_models=tuple(json.loads(environ.get(STRONG_ENV, "[]"))),
        weak_models=tuple(json.loads(environ.get(WEAK_ENV, "[]"))),
        api_base=environ.get(API_BASE_ENV) or None,
        max_workers=int(environ.get(WORKERS_ENV, "4")),
    )
    limit = environ.get(COST_LIMIT_ENV)
    meter = _LoggingMeter(float(limit) if limit else None, environ.get(COST_LOG_ENV, COST_LOG_NAME))
    return LlmClient(settings, api_key=environ.get(API_KEY_ENV), meter=meter)


def complete(prompt: str, *, pool: Pool = "weak", system: str | None = None) -> str:
    """One completion; ``pool="strong"`` for reasoning, ``"weak"`` for bulk formatting."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return _client().complete(messages, pool=pool).text


def complete_many(
    prompts: Sequence[str], *, pool: Pool = "weak", system: str | None = None
) -> list[str | None]:
    """Completions for many prompts in parallel (bounded); None where every model failed."""
    conversations = [
        ([{"role": "system", "content": system}] if system else [])
        + [{"role": "user", "content": prompt}]
        for prompt in prompts
    ]
    replies = _client().complete_many(conversations, pool=pool)
    return [reply.text if hasattr(reply, "text") else None for reply in replies]
