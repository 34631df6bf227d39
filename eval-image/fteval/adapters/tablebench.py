"""Adapters for TableBench (fact checking, numerical reasoning, data analysis, visualization)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

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
from fteval.sandbox import ChartRun, run_chart_code, same_chart

# ----------------------------------------------------------------------------- TableBench

ROUGE_SUBTYPES = frozenset({"DescriptiveAnalysis", "AnomalyDetection"})
"""DataAnalysis subtypes with open-ended answers, scored by ROUGE-L (TableBench)."""


_LIST_SEPARATOR = re.compile(r",\s+")
"""TableBench lists answers as "A, B"; "1,200" (no space) is one number."""


def _numeric_or_exact(predicted: str, gold: str) -> bool:
    gold_parts = [part.strip() for part in _LIST_SEPARATOR.split(gold.strip())]
    gold_numbers = [metrics.parse_number(part) for part in gold_parts]
    if gold_parts and all(number is not None for number in gold_numbers):
        parts = _LIST_SEPARATOR.split(predicted.strip())
        pred_numbers = [metrics.parse_number(part.strip()) for part in parts]
        return len(pred_numbers) == len(gold_numbers) and all(
            p is not None and metrics.within_tolerance(p, g)  # type: ignore[arg-type]
            for p, g in zip(pred_numbers, gold_numbers, strict=True)
        )
    return metrics.normalize_text(predicted) == metrics.normalize_text(gold)


@dataclass(frozen=True)
class FinalAnswerAdapter(Adapter):
    """``Final Answer: ...``: exact match, numbers within ±10%, ROUGE-L for open answers."""

    numeric: bool = True
    open_ended: bool = False

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        extracted = answers.extract_final_answer(prediction)
        if extracted is None:
            return MALFORMED
        subtype = item.extra.get("qsubtype")
        open_answer = subtype in ROUGE_SUBTYPES or (
            subtype is None
            and metrics.parse_number(item.answer) is None
            and len(item.answer.split()) > 4
        )
        if self.open_ended and open_answer:
            score = metrics.rouge_l(extracted, item.answer)
            return Judgement(score=score, correct=score >= 0.5, extracted=extracted)
        if self.numeric:
            return _binary(_numeric_or_exact(extracted, item.answer), extracted)
        ok = metrics.normalize_text(extracted) == metrics.normalize_text(item.answer)
        return _binary(ok, extracted)


@lru_cache(maxsize=256)
def _reference_chart(code: str, table_json: str, timeout: float) -> ChartRun:
    """The reference program's chart (cached: several responses share one reference)."""
    return run_chart_code(code, json.loads(table_json), timeout)


@dataclass(frozen=True)
class ChartCodeAdapter(Adapter):
    """pass@1: the generated code runs and draws the reference chart's data."""

    timeout: float = 30.0

    def reference_chart(self, item: EvalItem) -> ChartRun:
        chart = item.extra.get("chart")
        if chart is not None:
            return ChartRun(ok=True, series=_decode(chart))
        code = answers.extract_python_code(item.answer) or item.answer
        table = item.extra.get("table")
        reference = _reference_chart(code, json.dumps(table), self.timeout)
        if not reference.ok or not reference.series:
            raise ValueError(
                f"item {item.index}: the reference code draws nothing ({reference.error})"
            )
        return reference

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        code = answers.extract_python_code(prediction)
        if code is None:
            return MALFORMED
        reference = self.reference_chart(item)
        candidate = run_chart_code(code, item.extra.get("table"), self.timeout)
        return _binary(same_chart(candidate, reference), code)


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "tablebench_data_analysis": FinalAnswerAdapter(_F.final_answer, _M.accuracy, open_ended=True),
    "tablebench_fact_checking": FinalAnswerAdapter(_F.final_answer, _M.accuracy, numeric=False),
    "tablebench_numerical_reasoning": FinalAnswerAdapter(_F.final_answer, _M.accuracy),
    "tablebench_visualization": ChartCodeAdapter(_F.python_code, _M.pass_at_1),
}
