"""LLM calls through litellm for the LLM planner and for generated data scripts.

Two model pools from ``spec.planner.llm``: strong models (proposals, code, chain-of-thought)
and weak models (bulk filtering and formatting; the strong pool when empty). A call tries the
pool's models in order and moves to the next on any error. At most ``maxWorkers`` calls run at
once. The cost of every call comes from litellm (the response's hidden ``response_cost``,
else ``litellm.completion_cost``) and is added to a :class:`CostMeter`, which refuses further
calls once the campaign's ``costBudgetUsd`` (spend of earlier steps included) is reached. The
API key is read from ``FT_LLM_API_KEY`` only (the operator mounts the Secret there); it stays
in the agent process: generated scripts reach the models through the agent's LLM gateway
(:mod:`ftagent.gateway`), never with the key. litellm is imported on first use, so the search
planner never pays for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ftagent.errors import BudgetExhausted, LlmError
from ftapi.traces import LlmCallTrace, TraceMessage, append_llm_call

log = logging.getLogger(__name__)

API_KEY_ENV = "FT_LLM_API_KEY"
DEFAULT_TIMEOUT_S = 300.0
Pool = Literal["strong", "weak"]
Message = dict[str, str]


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    value = (environ if environ is not None else os.environ).get(API_KEY_ENV)
    return value or None


class CostMeter:
    """US dollars spent on LLM calls, against an optional campaign budget (thread-safe)."""

    def __init__(self, limit: float | None = None, spent_before: float = 0.0) -> None:
        self.limit = limit
        self.spent_before = spent_before
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        """Spent in this step."""
        with self._lock:
            return self._spent

    def remaining(self) -> float | None:
        if self.limit is None:
            return None
        return max(0.0, self.limit - self.spent_before - self.spent)

    def exhausted(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def check(self) -> None:
        if self.exhausted():
            raise BudgetExhausted(
                f"LLM cost budget spent: ${self.spent_before + self.spent:.4f} of ${self.limit:.4f}"
            )

    def add(self, cost: float) -> None:
        if cost > 0:
            with self._lock:
                self._spent += cost


@dataclass(frozen=True)
class LlmReply:
    text: str
    model: str
    cost: float


@dataclass(frozen=True)
class LlmSettings:
    """The parts of ``spec.planner.llm`` the client needs (also rebuilt inside scripts)."""

    strong_models: tuple[str, ...]
    weak_models: tuple[str, ...] = ()
    api_base: str | None = None
    max_workers: int = 8

    def pool(self, name: Pool) -> tuple[str, ...]:
        if name == "weak" and self.weak_models:
            return self.weak_models
        return self.strong_models


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def llm_retries() -> int:
    """Retries of one LLM call after a 429, a 5xx, a timeout or a dropped connection, with
    litellm's own backoff (``FT_LLM_RETRIES``, default 3); then the next model is tried."""
    return int(os.environ.get("FT_LLM_RETRIES", "3"))


def load_litellm() -> Any:
    """litellm, configured for the agent (offline price table, no debug banners)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # e.g. response_format on providers without it
    return litellm


def response_cost(response: Any) -> float:
    """US dollars of one litellm response (its hidden ``response_cost``, else
    ``litellm.completion_cost``; 0 for a model missing from litellm's price table)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    if cost is None:
        try:
            cost = load_litellm().completion_cost(completion_response=response)
        except Exception as exc:  # a model missing from litellm's price table
            log.warning("no cost known for %s: %s", getattr(response, "model", "?"), exc)
            cost = 0.0
    return float(cost or 0.0)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (the API key) masked."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "***")
    return text


class LlmClient:
    """Calls the pools with fallback, bounded concurrency and cost accounting."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        api_key: str | None,
        meter: CostMeter | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        trace_path: Path | None = None,
    ) -> None:
        if not settings.strong_models:
            raise LlmError("no strong models configured (spec.planner.llm.strongModels)")
        self.settings = settings
        # OpenAI-compatible servers without auth still want some key.
        self.api_key = api_key or ("EMPTY" if settings.api_base else None)
        self.meter = meter or CostMeter()
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(settings.max_workers)
        self._litellm: Any = None
        self.trace_path = trace_path
        """Where every call is recorded (:mod:`ftapi.traces`); None: nowhere."""
        self._secret = api_key

    def _trace(self, model: str, pool: str, messages: Sequence[Message], **fields: Any) -> None:
        if self.trace_path is None:
            return
        trace = LlmCallTrace(
            model=model,
            pool=pool,
            messages=[
                TraceMessage(role=str(m.get("role", "")), content=str(m.get("content", "")))
                for m in messages
            ],
            **fields,
        )
        try:
            append_llm_call(self.trace_path, trace, secret=self._secret)
        except OSError as exc:  # a trace must never fail the step
            log.warning("cannot record the LLM call in %s: %s", self.trace_path, exc)

    def _lib(self) -> Any:
        if self._litellm is None:
            self._litellm = load_litellm()
        return self._litellm

    def _cost(self, response: Any) -> float:
        return response_cost(response)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        pool: Pool = "strong",
        json_mode: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LlmReply:
        """One chat completion from the first model of ``pool`` that answers."""
        litellm = self._lib()
        errors = []
        for model in self.settings.pool(pool):
            self.meter.check()
            extra: dict[str, Any] = {}
            if json_mode:
                extra["response_format"] = {"type": "json_object"}
            if temperature is not None:
                extra["temperature"] = temperature
            if max_tokens is not None:
                extra["max_tokens"] = max_tokens
            started = time.monotonic()
            try:
                with self._slots:
                    response = litellm.completion(
                        model=model,
                        messages=list(messages),
                        api_base=self.settings.api_base,
                        api_key=self.api_key,
                        timeout=self.timeout_s,
                        num_retries=llm_retries(),
                        max_retries=0,
                        **extra,
                    )
            except Exception as exc:
                short = scrub(_short(exc), self.api_key)
                log.warning("model %s failed: %s", model, short)
                errors.append(f"{model}: {type(exc).__name__}: {short}")
                latency = time.monotonic() - started
                self._trace(model, pool, messages, error=short, latency_s=latency)
                continue
            cost = self._cost(response)
            self.meter.add(cost)
            choices = getattr(response, "choices", None) or []
            text = (choices[0].message.content or "") if choices else ""
            usage = getattr(response, "usage", None)
            self._trace(
                model,
                pool,
                messages,
                response=text,
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                cost_usd=max(0.0, cost),
                latency_s=time.monotonic() - started,
            )
            if not text.strip():
                errors.append(f"{model}: empty reply")
                continue
            log.info("model %s answered (%d chars, $%.6f)", model, len(text), cost)
            return LlmReply(text=text, model=model, cost=cost)
        raise LlmError(f"every model of the {pool} pool failed: " + "; ".join(errors))

    def complete_many(
        self, conversations: Sequence[Sequence[Message]], *, pool: Pool = "weak"
    ) -> list[LlmReply | LlmError]:
        """Many completions, at most ``maxWorkers`` at a time; failures are returned."""

        def one(messages: Sequence[Message]) -> LlmReply | LlmError:
            try:
                return self.complete(messages, pool=pool)
            except LlmError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=self.settings.max_workers) as executor:
            return list(executor.map(one, conversations))
