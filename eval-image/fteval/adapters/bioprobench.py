"""Adapters for BioProBench (GEN, ORD, ERR, PQA)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from fteval import answers, metrics
from fteval.adapters.base import (
    MALFORMED,
    Adapter,
    EvalItem,
    Judgement,
    _binary,
    _decode,
    _mean,
)

# ----------------------------------------------------------------------------- BioProBench


@dataclass(frozen=True)
class TaggedRougeAdapter(Adapter):
    """Protocol generation: ROUGE-L of the tagged answer against the reference."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        extracted = answers.extract_tagged(prediction)
        if extracted is None:
            return MALFORMED
        score = metrics.rouge_l(extracted, item.answer)
        return Judgement(score=score, correct=score >= 0.5, extracted=extracted)


def _order(value: Any) -> list[int] | None:
    decoded = _decode(value)
    if isinstance(decoded, list) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in decoded
    ):
        return decoded
    if isinstance(decoded, str):
        return [int(x) for x in re.findall(r"-?\d+", decoded)] or None
    return None


@dataclass(frozen=True)
class TaggedOrderAdapter(Adapter):
    """Step ordering: Kendall tau between the predicted and the true order.

    A malformed answer, or one that is not a permutation of the steps, scores 0 (what a
    random order scores on average)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = _order(item.answer)
        if gold is None or len(set(gold)) != len(gold):
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} is not an order")
        extracted = answers.extract_tagged(prediction)
        predicted = None if extracted is None else _order(extracted)
        if predicted is None or sorted(predicted) != sorted(gold):
            return MALFORMED
        tau = metrics.kendall_tau(predicted, gold)
        return Judgement(score=tau, correct=predicted == gold, extracted=predicted)


def _true_false(value: Any) -> str | None:
    text = metrics.normalize_text(str(value))
    if text in {"true", "correct", "yes"}:
        return "True"
    if text in {"false", "incorrect", "error", "wrong", "no"}:
        return "False"
    return None


@dataclass(frozen=True)
class TaggedErrorAdapter(Adapter):
    """Error detection: F1 of finding the erroneous steps (``False``) over the split.

    A malformed answer counts as the wrong label (a miss or a false alarm)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = _true_false(item.answer)
        if gold is None:
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} is not True/False")
        extracted = answers.extract_tagged(prediction)
        predicted = None if extracted is None else _true_false(extracted)
        label = predicted or ("True" if gold == "False" else "False")
        ok = predicted == gold
        return Judgement(
            score=float(ok), correct=ok, extracted=predicted, predicted_label=label, gold_label=gold
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        pairs = [(j.predicted_label, j.gold_label) for j in judgements]
        accuracy = 100.0 * _mean([j.score for j in judgements])
        return {self.metric.value: 100.0 * metrics.binary_f1(pairs, "False"), "accuracy": accuracy}


@dataclass(frozen=True)
class TaggedOptionAdapter(Adapter):
    """Protocol QA: the tagged option text (or its letter) equals the correct option."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        extracted = answers.extract_tagged(prediction)
        if extracted is None:
            return MALFORMED
        chosen = extracted
        choices = item.extra.get("choices")
        letter = extracted.strip().strip(".)(").upper()
        if isinstance(choices, list) and len(letter) == 1 and "A" <= letter <= "Z":
            position = ord(letter) - ord("A")
            if position < len(choices):
                chosen = str(choices[position])
        if isinstance(choices, Mapping) and letter in choices:
            chosen = str(choices[letter])
        ok = metrics.normalize_text(chosen) == metrics.normalize_text(item.answer)
        return _binary(ok, extracted)


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "bioprobench_gen": TaggedRougeAdapter(_F.answer_tags, _M.rouge_l),
    "bioprobench_ord": TaggedOrderAdapter(_F.answer_tags, _M.kendall_tau),
    "bioprobench_err": TaggedErrorAdapter(_F.answer_tags, _M.f1),
    "bioprobench_pqa": TaggedOptionAdapter(_F.answer_tags, _M.accuracy),
}
