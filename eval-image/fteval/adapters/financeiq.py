"""Adapters for FinanceIQ_gen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ftapi.catalog import AnswerFormat, Metric
from fteval import answers
from fteval.adapters.base import (
    MALFORMED,
    Adapter,
    EvalItem,
    Judgement,
    _binary,
)

# ----------------------------------------------------------------------------- FinanceIQ


def _choice_letters(item: EvalItem) -> str:
    choices = item.extra.get("choices")
    if isinstance(choices, Mapping) and choices:
        return "".join(sorted(str(key).strip().upper() for key in choices))
    if isinstance(choices, list) and choices:
        return "ABCDEFGHIJ"[: len(choices)]
    return "ABCD"


@dataclass(frozen=True)
class ChoiceLetterAdapter(Adapter):
    """The last standalone option letter; accuracy."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = item.answer.strip().upper()[:1]
        extracted = answers.extract_choice_letter(prediction, _choice_letters(item))
        if extracted is None:
            return MALFORMED
        return _binary(extracted == gold, extracted)


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "FinanceIQ_gen": ChoiceLetterAdapter(_F.choice_letter, _M.accuracy),
}
