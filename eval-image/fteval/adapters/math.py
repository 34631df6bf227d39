"""Adapters for AIME: the fork's ``MATHVerifyEvaluator``, with the optional LLM judge fallback.

RD-Agent scores ``aime24`` with ``MATHVerifyEvaluator`` and ``aime25`` with a
``CascadeEvaluator`` (that rule first, an LLM judge for the items it marks wrong), both from
``Jensen246/opencompass`` (``opencompass/evaluator/math_evaluator.py``). Per item that
evaluator does, with the ``math-verify`` package:

- gold: ``parse("$<answer>$", extraction_mode="first_match",
  extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()])``;
- reply: ``parse(<whole reply>, extraction_mode="first_match", extraction_config=[
  LatexExtractionConfig(normalization_config=NormalizationConfig(nits=False,
  malformed_operators=False, basic_latex=True, equations=True, boxed="all", units=True),
  boxed_match_priority=0, try_extract_without_anchor=False)])``: ``\\boxed{}`` first (the
  rightmost match, normalised to the last box; boxes joined by commas become a set), then
  anchored LaTeX such as ``answer: $...$``; nothing without an anchor;
- ``verify(reply_parsed, gold_parsed)`` (that argument order), 1 or 0; an unparsable gold
  counts 0. Accuracy = 100 * correct / items.

:func:`math_verify_correct` makes exactly these calls, so the per-item score is upstream's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from fteval.adapters.base import Adapter, EvalItem, Judgement, _binary
from fteval.judge import JudgeConfig, judgeable, llm_judge_equivalent

MATH_VERIFY_TIMEOUT = 5
"""math-verify's default per-call timeout (seconds), which upstream keeps. It is signal
based, so it only works in the main thread; elsewhere the calls run without one."""


def _quiet_equations(record: logging.LogRecord) -> bool:
    return "equations=True" not in str(record.msg)


@lru_cache(maxsize=1)
def _configs() -> tuple[list[Any], list[Any]]:
    """The gold and reply extraction configurations of ``MATHVerifyEvaluator``."""
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    # Newer latex2sympy2_extended log a deprecation warning for `equations=True` on every
    # answer they normalise; the option still splits `a = b = c`, and upstream passes it.
    logging.getLogger("latex2sympy2_extended.math_normalization").addFilter(_quiet_equations)
    normalization = NormalizationConfig(
        nits=False,
        malformed_operators=False,
        basic_latex=True,
        equations=True,
        boxed="all",
        units=True,
    )
    gold = [LatexExtractionConfig(), ExprExtractionConfig()]
    reply = [
        LatexExtractionConfig(
            normalization_config=normalization,
            boxed_match_priority=0,
            try_extract_without_anchor=False,
        )
    ]
    return gold, reply


def _timeout() -> int | None:
    return MATH_VERIFY_TIMEOUT if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=1024)
def _parse_gold(answer: str) -> list[Any]:
    from math_verify import parse

    gold_config, _ = _configs()
    return parse(
        f"${answer}$",
        extraction_mode="first_match",
        extraction_config=gold_config,
        parsing_timeout=_timeout(),
    )


def parse_reply(prediction: str) -> list[Any]:
    """What upstream extracts from a reply: ``[sympy value, text]``, ``[text]`` when the
    text did not parse, ``[]`` when nothing was found."""
    from math_verify import parse

    _, reply_config = _configs()
    return parse(
        prediction,
        extraction_mode="first_match",
        extraction_config=reply_config,
        parsing_timeout=_timeout(),
    )


def math_verify_correct(prediction: str, answer: str) -> tuple[bool, str | None]:
    """Upstream's verdict on one reply, and the extracted text (None when nothing was)."""
    from math_verify import verify

    reply = parse_reply(prediction)
    extracted = reply[-1] if reply and isinstance(reply[-1], str) else None
    if extracted is None and reply:
        extracted = str(reply[0])
    gold = _parse_gold(str(answer))
    if not gold:
        return False, extracted
    return bool(verify(reply, gold, timeout_seconds=_timeout())), extracted


@dataclass(frozen=True)
class BoxedIntegerAdapter(Adapter):
    """AIME: ``MATHVerifyEvaluator`` per item; where allowed (aime25's CascadeEvaluator) an
    LLM judge decides the items the rule marks wrong."""

    judge_allowed: bool = False
    judge_config: JudgeConfig | None = None
    judge_fn: Callable[[str | None, str, JudgeConfig], bool | None] = llm_judge_equivalent

    def with_judge(self, config: JudgeConfig | None) -> BoxedIntegerAdapter:
        return replace(self, judge_config=config) if self.judge_allowed else self

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        ok, extracted = math_verify_correct(prediction, item.answer)
        if not ok and self.judge_config is not None and judgeable(extracted):
            # Only the extracted final answer, never the reply (fteval.judge says why).
            verdict = self.judge_fn(extracted, item.answer, self.judge_config)
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
