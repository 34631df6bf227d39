"""Traces: bounded, structured records of what a step did, in its campaign's folder, for the
dashboard (and for people reading the volume).

``<round>/llm_calls.jsonl``: every LLM call the agent's planner made (model, pool, the prompt's
messages, the reply or the error, tokens, cost, latency), one JSON line each. Bounded: each text
is cut to :data:`MAX_TEXT_CHARS` and a file holds at most :data:`MAX_CALLS` lines (later calls
are counted, not written). The writer masks the API key in every text it writes; the files
never hold test items (the planner never sees them). The calls of LLM-written scripts are in
``<round>/llm_gateway.jsonl`` (:mod:`ftagent.gateway`), those of the evaluation's judge in the
evaluation folder.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

LLM_CALLS_NAME = "llm_calls.jsonl"
MAX_TEXT_CHARS = 12_000
MAX_CALLS = 200

_lock = threading.Lock()


class TraceMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str


class LlmCallTrace(BaseModel):
    """One LLM call (one model tried once, after litellm's own retries)."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: Literal["planner", "script", "judge"] = "planner"
    model: str
    pool: str | None = None
    purpose: str | None = None
    """What the call was for (``proposal``, ``data_script``, ``fix_script``...)."""
    messages: list[TraceMessage] = Field(default_factory=list)
    response: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float = Field(0.0, ge=0)
    latency_s: float = Field(0.0, ge=0)


def _cut(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    if len(text) > MAX_TEXT_CHARS:
        cut = len(text) - MAX_TEXT_CHARS
        text = text[:MAX_TEXT_CHARS] + f"\n[... {cut} more characters not kept]"
    return text


def append_llm_call(path: Path, trace: LlmCallTrace, *, secret: str | None = None) -> bool:
    """Append one call (texts bounded, ``secret`` masked); False when the file is full."""
    trace = trace.model_copy(
        update={
            "messages": [
                TraceMessage(role=m.role, content=_cut(m.content, secret)) for m in trace.messages
            ],
            "response": None if trace.response is None else _cut(trace.response, secret),
            "error": None if trace.error is None else _cut(trace.error, secret),
        }
    )
    line = trace.model_dump_json() + "\n"
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as handle:
                if sum(1 for _ in handle) >= MAX_CALLS:
                    return False
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)
    return True


def read_llm_calls(path: Path, limit: int = MAX_CALLS) -> list[LlmCallTrace]:
    """The calls recorded in ``path`` (none when it is missing; unreadable lines skipped)."""
    if not path.is_file():
        return []
    out: list[LlmCallTrace] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if len(out) >= limit:
                break
            try:
                out.append(LlmCallTrace.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError):
                continue
    return out


__all__ = [
    "LLM_CALLS_NAME",
    "LlmCallTrace",
    "TraceMessage",
    "append_llm_call",
    "read_llm_calls",
]
