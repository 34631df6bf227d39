"""Adapter for FinanceIQ_gen, as the OpenCompass fork RD-Agent runs scores it.

Each subject is its own OpenCompass dataset scored by ``AccEvaluator`` after
``last_capital_postprocess`` (config ``FinanceIQ_gen_e0e6b5`` since the fork's commit
abc7c91a): the prediction becomes its last character for which ``str.isupper()`` holds (""
when there is none), and accuracy is the share of items whose extracted string equals the
gold ``Answer`` cell exactly (``str(pred) == str(gold)``, no other normalisation). RD-Agent
reports the benchmark as the unweighted mean of the subjects' accuracies
(``rdagent/app/finetune/llm/ui/benchmarks/financeiq.py``: "accuracy (average)").

The core metric is therefore that mean over the subjects present in the split, computed from
per-subject counts. Per item, score = 1/0 and weight = ``SUBJECT_WEIGHT / n_s`` with ``n_s``
the subject's items per split at upstream's limit (``extra.split_items``, written by
:mod:`ftapi.evalsets.financeiq`): the weighted mean of the item scores is then exactly the
subject mean whenever the split holds ``n_s`` items of each subject (limits of 50 or more, as
upstream's 100). Secondary metrics: the micro accuracy over all items and each subject's
accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ftapi.catalog import AnswerFormat, Metric
from ftapi.evalsets.financeiq import SUBJECT_SLUGS
from fteval.adapters.base import Adapter, EvalItem, Judgement

SUBJECT_WEIGHT = 50.0
"""Scale of the per-item weights (weight = SUBJECT_WEIGHT / items of the subject in the
split): a subject with 50 items per split (every subject with 200 test rows or more) weighs
1 per item."""


def last_capital(text: str) -> str:
    """OpenCompass's ``last_capital_postprocess``: the last character of ``text`` that
    ``str.isupper()`` accepts (any cased upper-case letter, not only A-D), or ""."""
    for char in reversed(text):
        if char.isupper():
            return char
    return ""


@dataclass(frozen=True)
class SubjectJudgement(Judgement):
    """A judgement that remembers the item's subject, for the mean over subjects."""

    subject: str | None = None


def _subject(item: EvalItem) -> str | None:
    subject = item.extra.get("subject")
    if isinstance(subject, str) and subject:
        return subject
    return item.group


def _weight(item: EvalItem) -> float:
    size = item.extra.get("split_items")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return SUBJECT_WEIGHT / size
    return 1.0


@dataclass(frozen=True)
class LastCapitalAdapter(Adapter):
    """Last upper-case character, exact match with the gold letter; mean over subjects."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        extracted = last_capital(prediction)
        ok = extracted == item.answer
        return SubjectJudgement(
            score=1.0 if ok else 0.0,
            correct=ok,
            extracted=extracted or None,
            predicted_label=extracted,
            gold_label=item.answer,
            weight=_weight(item),
            subject=_subject(item),
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        right: dict[str | None, float] = {}
        total: dict[str | None, int] = {}
        for judgement in judgements:
            subject = getattr(judgement, "subject", None)
            right[subject] = right.get(subject, 0.0) + judgement.score
            total[subject] = total.get(subject, 0) + 1
        accuracy = {subject: 100.0 * right[subject] / total[subject] for subject in total}
        metrics = {
            self.metric.value: sum(accuracy.values()) / len(accuracy) if accuracy else 0.0,
            "micro_accuracy": (
                100.0 * sum(right.values()) / sum(total.values()) if judgements else 0.0
            ),
        }
        for subject, value in accuracy.items():
            slug = SUBJECT_SLUGS.get(subject or "")
            if slug:
                metrics[f"accuracy_{slug}"] = value
        return metrics


ADAPTERS: Mapping[str, Adapter] = {
    "FinanceIQ_gen": LastCapitalAdapter(AnswerFormat.choice_letter, Metric.accuracy),
}
