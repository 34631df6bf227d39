"""The adapter contract: one evaluation item, one judged response, the core metric."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ftapi.catalog import AnswerFormat, Metric


@dataclass(frozen=True)
class EvalItem:
    """One item of a benchmark's evaluation set."""

    index: int
    """Position in the evaluation set (``eval.jsonl``)."""
    question: str
    answer: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    """The item's id in the evaluation set (``ftapi.evalsets.EvalRow.id``)."""
    group: str | None = None
    """The item's split group (FinanceIQ: its subject)."""


@dataclass(frozen=True)
class Judgement:
    """How one response scored."""

    score: float
    """Per-item value of the core metric: 0-1 (Kendall tau: -1..1)."""
    correct: bool
    extracted: Any = None
    """The extracted answer; None when the response was malformed."""
    predicted_label: str | None = None
    gold_label: str | None = None
    """Labels for corpus-level metrics (F1 over the whole split)."""
    judged_by_llm: bool = False
    weight: float = 1.0
    """The item's share of the metric's denominator. Mean metrics weigh every item 1; a
    corpus-level ratio such as micro F1 = sum(2 TP) / sum(2 TP + FP + FN) gives the item
    ``score = 2 TP / (2 TP + FP + FN)`` and ``weight = 2 TP + FP + FN``, so the weighted mean
    of the per-item scores is exactly the reported metric (and what the paired bootstrap
    resamples). An item that adds nothing to the denominator has weight 0."""


def weighted_mean(judgements: Sequence[Judgement]) -> float:
    """The core metric (0-1) as the weighted mean of the per-item scores."""
    total = sum(j.weight for j in judgements)
    return sum(j.score * j.weight for j in judgements) / total if total else 0.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class Adapter:
    """Extraction plus metric for one benchmark; subclasses implement :meth:`judge`."""

    answer_format: AnswerFormat
    metric: Metric

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        raise NotImplementedError

    def reweigh(self, judgements: Sequence[Judgement]) -> list[Judgement]:
        """The split's judgements with the weights that make their weighted mean the core
        metric, where those depend on the whole split (ChemCoTBench's mean over subtasks);
        unchanged by default."""
        return list(judgements)

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        """Core metric (first key, 0-100) and secondary metrics."""
        return {self.metric.value: 100.0 * weighted_mean(judgements)}


def _binary(ok: bool, extracted: Any) -> Judgement:
    return Judgement(score=1.0 if ok else 0.0, correct=ok, extracted=extracted)


MALFORMED = Judgement(score=0.0, correct=False, extracted=None)


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
