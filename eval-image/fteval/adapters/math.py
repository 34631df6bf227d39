"""Adapters for AIME: the last ``\\boxed{}``, math-verify equivalence, optional LLM judge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ftapi.catalog import AnswerFormat, Metric
from fteval import answers, metrics
from fteval.adapters.base import (
    Adapter,
    EvalItem,
    Judgement,
    _binary,
)
from fteval.judge import JudgeConfig, llm_judge_equivalent

# ----------------------------------------------------------------------------- math


@dataclass(frozen=True)
class BoxedIntegerAdapter(Adapter):
    """AIME: the last ``\\boxed{}``; math-verify equivalence; optional LLM judge fallback."""

    judge_allowed: bool = False
    judge_config: JudgeConfig | None = None
    judge_fn: Callable[[str, str, str, JudgeConfig], bool | None] = llm_judge_equivalent

    def with_judge(self, config: JudgeConfig | None) -> BoxedIntegerAdapter:
        return replace(self, judge_config=config) if self.judge_allowed else self

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        extracted = answers.extract_boxed(prediction)
        ok = extracted is not None and metrics.math_equal(extracted, item.answer)
        if not ok and self.judge_config is not None:
            verdict = self.judge_fn(item.question, prediction, item.answer, self.judge_config)
            if verdict is not None:
                return Judgement(
                    score=float(verdict), correct=verdict, extracted=extracted, judged_by_llm=True
                )
        return _binary(ok, extracted)


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "aime24": BoxedIntegerAdapter(_F.boxed_integer, _M.accuracy),
    "aime25": BoxedIntegerAdapter(_F.boxed_integer, _M.accuracy, judge_allowed=True),
}
