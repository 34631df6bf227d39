"""Adapters for PANORAMA (PAR4PC, PI4PC, NOC4PC)."""

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
)


def _letters(value: Any, allowed: str = "ABCDEFGH") -> set[str] | None:
    value = _decode(value)
    if isinstance(value, str):
        found = re.findall(rf"(?<![A-Za-z])([{allowed}])(?![A-Za-z])", value.upper())
        return set(found) or None
    if isinstance(value, list | tuple):
        found = set()
        for element in value:
            inner = _letters(element, allowed) if isinstance(element, str) else None
            if inner is None:
                return None
            found |= inner
        return found or None
    return None


def _integers(value: Any) -> list[int] | None:
    value = _decode(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, float) and value.is_integer():
        return [int(value)]
    if isinstance(value, str):
        found = [int(x) for x in re.findall(r"\d+", value)]
        return found or None
    if isinstance(value, list | tuple):
        out: list[int] = []
        for element in value:
            inner = _integers(element)
            if inner is None:
                return None
            out.extend(inner)
        return out or None
    return None


def _noc_label(value: Any) -> str | None:
    text = str(_decode(value)).upper()
    found = {label for label in ("ALLOW", "102", "103") if label in text}
    return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class PriorArtAdapter(Adapter):
    """PAR4PC: the chosen letters against the cited patents; per-item F1, averaged."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = _letters(item.answer)
        if gold is None:
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} has no letters A-H")
        value = answers.extract_json_answer(prediction)
        predicted = None if value is None else _letters(value)
        if predicted is None:
            return MALFORMED
        score = metrics.set_f1(predicted, gold)
        return Judgement(score=score, correct=predicted == gold, extracted=sorted(predicted))


@dataclass(frozen=True)
class ParagraphAdapter(Adapter):
    """PI4PC: the (first) paragraph number named hits a gold paragraph."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = _integers(item.answer)
        if gold is None:
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} has no paragraph")
        value = answers.extract_json_answer(prediction)
        predicted = None if value is None else _integers(value)
        if not predicted:
            return MALFORMED
        return _binary(predicted[0] in gold, predicted[0])


@dataclass(frozen=True)
class NoveltyAdapter(Adapter):
    """NOC4PC: ALLOW / 102 / 103; accuracy, with macro F1 over the three classes."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = _noc_label(item.answer)
        if gold is None:
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} is not ALLOW/102/103")
        value = answers.extract_json_answer(prediction)
        predicted = None if value is None else _noc_label(value)
        ok = predicted == gold
        return Judgement(
            score=float(ok),
            correct=ok,
            extracted=predicted,
            predicted_label=predicted,
            gold_label=gold,
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        pairs = [(j.predicted_label, j.gold_label) for j in judgements]
        return super().aggregate(judgements) | {
            "macro_f1": 100.0 * metrics.macro_f1(pairs, ("ALLOW", "102", "103"))
        }


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "panorama_par4pc": PriorArtAdapter(_F.json, _M.macro_f1),
    "panorama_pi4pc": ParagraphAdapter(_F.json, _M.gold_hit_rate),
    "panorama_noc4pc": NoveltyAdapter(_F.json, _M.accuracy),
}
