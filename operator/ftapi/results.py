"""What the pods report back: the termination message, and the full results on the workspace.

Every worker writes exactly one :class:`StepResult` as compact JSON to its termination-message
file (the kubelet keeps at most 4 KiB of it); the operator parses it with
:meth:`StepResult.parse_message` and nothing else. Full results (loss history, per-item
scores, wrong answers) go to files on the workspace (:mod:`ftapi.workspace`), validated by the
models below.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from ftapi.base import LenientModel
from ftapi.campaign import EvaluationSetStatus, TrainingMethod
from ftapi.errors import format_validation_error
from ftapi.steps import DEFAULT_TERMINATION_LOG, TERMINATION_LOG_ENV, Split, StepKind

TERMINATION_MESSAGE_LIMIT = 4096
"""Bytes of the termination message the kubelet keeps (kuberuntime's maxMessageLength)."""


ITEM_SCORE_SCALE = 200
"""Per-item scores travel as one byte each: 0-1 as 0-200 (steps of 0.005); signed scores
(Kendall tau, -1..1) as 0-200 from -1 (steps of 0.01), marked by a leading ``-``."""
SIGNED_MARK = "-"
"""Not in the base64 alphabet: the encoded scores are signed."""
MAX_ITEM_SCORES = 1000
"""Per-item scores kept in a termination message (base64: 1336 characters)."""


def encode_item_scores(scores: Sequence[float]) -> str:
    """Per-item validation scores (0-1, or -1..1 when any is negative) as compact base64,
    for the termination message and the campaign status (paired comparisons need them, the
    4 KiB limit bounds them)."""
    kept = scores[:MAX_ITEM_SCORES]
    if any(s < 0 for s in kept):
        half = ITEM_SCORE_SCALE / 2
        raw = bytes(round((min(1.0, max(-1.0, s)) + 1) * half) for s in kept)
        return SIGNED_MARK + base64.b64encode(raw).decode()
    raw = bytes(round(min(1.0, s) * ITEM_SCORE_SCALE) for s in kept)
    return base64.b64encode(raw).decode()


ITEM_WEIGHT_SCALE = 4
"""Per-item weights travel as one byte each in steps of 1/4 (0-63.75)."""


def encode_item_weights(weights: Sequence[float]) -> str | None:
    """Per-item weights of a ratio metric as compact base64; None when all are 1 (a mean)."""
    kept = weights[:MAX_ITEM_SCORES]
    if all(w == 1 for w in kept):
        return None
    raw = bytes(min(255, max(0, round(w * ITEM_WEIGHT_SCALE))) for w in kept)
    return base64.b64encode(raw).decode()


def decode_item_weights(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return [b / ITEM_WEIGHT_SCALE for b in raw]


def decode_item_scores(text: str | None) -> list[float] | None:
    if not text:
        return None
    signed = text.startswith(SIGNED_MARK)
    try:
        raw = base64.b64decode(text.removeprefix(SIGNED_MARK), validate=True)
    except (binascii.Error, ValueError):
        return None
    if any(b > ITEM_SCORE_SCALE for b in raw):
        return None
    if signed:
        return [b / (ITEM_SCORE_SCALE / 2) - 1 for b in raw]
    return [b / ITEM_SCORE_SCALE for b in raw]


class FailureKind(StrEnum):
    """Why a step failed; decides what the operator does next."""

    CONFIG = "config"
    """The experiment's configuration is wrong: back to the agent for repair."""
    DATA = "data"
    """The experiment's data is wrong: back to the agent for repair."""
    OOM = "oom"
    """Out of memory: back to the agent (smaller batch, shorter cutoff, LoRA)."""
    TIMEOUT = "timeout"
    """The step ran past its deadline."""
    ENVIRONMENT = "environment"
    """The image or the caches are broken; retrying the same step will not help."""
    INFRASTRUCTURE = "infrastructure"
    """The pod was evicted, deleted or preempted: the operator retries the step."""
    INTERNAL = "internal"
    """A bug in the worker."""


REPAIRABLE_FAILURES = frozenset({FailureKind.CONFIG, FailureKind.DATA, FailureKind.OOM})


class ResultError(ValueError):
    """A termination message that is missing, too large or not a valid StepResult."""


class StepResult(LenientModel):
    """The termination message of every step: small, versioned JSON."""

    v: Literal[1] = 1
    step: StepKind
    ok: bool
    failure: FailureKind | None = None
    message: str = Field("", max_length=2048)
    """A human-readable summary; on failure, the relevant log lines."""
    hypothesis: str | None = Field(None, max_length=600)
    method: TrainingMethod | None = None
    samples: int | None = Field(None, ge=0)
    """Training records the agent built."""
    train_loss: float | None = None
    steps: int | None = Field(None, ge=0)
    scores: dict[Split, Annotated[float, Field(ge=-100, le=100)]] = Field(default_factory=dict)
    """Core-metric scores per split, for evaluation steps: 0-100 (-100..100 for Kendall tau)."""
    metric: str | None = Field(None, max_length=64)
    item_scores: str | None = Field(None, max_length=1400)
    """Per-item validation scores (encode_item_scores), for noise-aware acceptance."""
    item_weights: str | None = Field(None, max_length=1400)
    """Per-item weights (encode_item_weights) when the core metric is a ratio (micro F1);
    absent when every item weighs 1."""
    evaluation_set: EvaluationSetStatus | None = None
    """Prepare steps: the split sizes and the hash of their item ids."""
    judged: dict[Split, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """Evaluation steps with an LLM judge: items per split the judge decided."""
    outputs_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """The digest (``ftapi.digest.tree_digest``) of what the step made for later steps: the
    agent's plan and training data, the training step's model."""
    llm_cost: float | None = Field(None, ge=0)
    """US dollars spent on LLM calls in this step."""

    def dump_message(self) -> str:
        """Compact JSON that fits the kubelet's limit (the message is shortened if needed)."""
        text = self.model_dump_json(exclude_none=True, exclude_defaults=False)
        if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
            return text
        overflow = len(text.encode()) - TERMINATION_MESSAGE_LIMIT + 32
        shorter = self.model_copy(
            update={
                "message": self.message[: max(0, len(self.message) - overflow)] + " [...]",
                "hypothesis": (self.hypothesis or "")[:200] or None,
            }
        )
        return shorter.model_dump_json(exclude_none=True)

    def write_message(self, program: str) -> None:
        """Write the termination message to the file named by ``FT_TERMINATION_LOG`` and the
        pod log (and to stderr when the file is not writable)."""
        path = Path(os.environ.get(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG))
        message = self.dump_message()
        try:
            path.write_text(message, encoding="utf-8")
        except OSError as exc:
            print(f"{program}: cannot write {path}: {exc}", file=sys.stderr)
        print(f"{program} result: {message}", flush=True)

    @classmethod
    def parse_message(cls, text: str | None, expected: StepKind | None = None) -> StepResult:
        if not text or not text.strip():
            raise ResultError("the pod wrote no termination message")
        if len(text.encode()) > TERMINATION_MESSAGE_LIMIT:
            raise ResultError(f"termination message over {TERMINATION_MESSAGE_LIMIT} bytes")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ResultError(f"termination message is not JSON: {exc.msg}") from exc
        try:
            result = cls.model_validate(data)
        except ValidationError as exc:
            raise ResultError(
                "termination message is not a valid step result: " + format_validation_error(exc)
            ) from exc
        if expected is not None and result.step != expected:
            raise ResultError(f"termination message is for step {result.step}, not {expected}")
        if not result.ok and result.failure is None:
            raise ResultError("a failed step must say why (failure)")
        return result


class LossPoint(LenientModel):
    step: int = Field(ge=0)
    loss: float | None = Field(None, allow_inf_nan=True)
    """A diverged run logs NaN or infinite losses: measured, so kept (never in the status)."""
    learning_rate: float | None = None
    epoch: float | None = None


class TrainingResult(LenientModel):
    """``<iteration>/train/result.json`` (and ``smoke/result.json``): the whole training run."""

    v: Literal[1] = 1
    mode: Literal["smoke", "full"]
    ok: bool
    failure: FailureKind | None = None
    message: str = ""
    method: TrainingMethod | None = None
    loss_history: list[LossPoint] = Field(default_factory=list)
    final_loss: float | None = Field(None, allow_inf_nan=True)
    steps: int = 0
    output_dir: str | None = None
    """Adapter (LoRA) or model (full) folder, relative to the workspace mount."""
    adapter: bool = False
    """True when output_dir holds a LoRA adapter on top of the base model."""
    merged_dir: str | None = None
    """Base model + adapter merged, relative to the workspace mount (``FT_MERGE_ADAPTER``)."""
    runtime_seconds: float | None = None
    log_tail: list[str] = Field(default_factory=list)


class ItemScore(LenientModel):
    """One evaluation item's score, for paired comparisons between models: 0-1 for most
    metrics, -1..1 for Kendall tau; the mean over the item's samples when several answers are
    generated per item."""

    index: int
    score: float = Field(ge=-1, le=1)
    weight: float = Field(1.0, ge=0)
    """The item's share of a ratio metric's denominator (micro F1: 2TP + FP + FN); 1 for
    mean metrics. The split's score is the weighted mean of the item scores."""


class WrongAnswer(LenientModel):
    """A validation item the model got wrong, shown to the agent (never test items)."""

    index: int
    prompt: str
    expected: str
    predicted: str


class EvaluationResult(LenientModel):
    """``.../eval/<split>.json``: one split's evaluation."""

    v: Literal[1] = 1
    split: Split
    benchmark: str
    metric: str
    score: float = Field(ge=-100, le=100)
    """Core metric, 0-100 (-100..100 for Kendall tau)."""
    n_items: int = Field(ge=0)
    samples_per_item: int = Field(1, ge=1)
    """Answers generated per item; scores are means over them (avg@k)."""
    items: list[ItemScore] = Field(default_factory=list)
    judged: int = Field(0, ge=0)
    """Items an LLM judge decided (the rule-based scorer marked them wrong)."""
    wrong_answers: list[WrongAnswer] = Field(default_factory=list)
    model: str
    adapter: str | None = None
