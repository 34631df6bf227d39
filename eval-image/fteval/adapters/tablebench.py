"""Adapters for TableBench: the evaluators of the OpenCompass fork RD-Agent runs, rule by rule.

Sources: ``Jensen246/opencompass@abc7c91a``, ``opencompass/datasets/tablebench/tablebench.py``
(the evaluators) and ``opencompass/configs/datasets/tablebench/tablebench_*_gen.py`` (which
evaluator scores which dataset); RD-Agent's ``TableBenchProcessor`` averages the datasets'
``accuracy`` (``Pass@1`` for visualization).

- ``tablebench_fact_checking``, ``tablebench_numerical_reasoning``:
  ``TableBenchEvaluator(metric='exact_match_with_final_answer')``: the text after the *first*
  ``Final Answer:`` up to the end of its line (the whole response when there is none), and the
  gold passed through the same extraction, lower-cased, every non-word character a space,
  whitespace collapsed, compared for equality. No numeric tolerance.
- ``tablebench_data_analysis``: five datasets (see :mod:`ftapi.evalsets.tablebench`), the
  item's ``extra["scorer"]`` naming its evaluator: ``EM_with_error_10`` (Correlation, Trend,
  Statistical: the first number of each side after removing ``,`` and ``%`` within 10%
  relative error, |x| < 1e-6 for a gold 0, else case-insensitive text equality), ``EM``
  (Impact, as above) and ``ROUGE-L`` (every DataAnalysis row: the ``rouge`` package's ROUGE-L
  F of the lower-cased extracted answer against the lower-cased gold). The core metric is the
  mean of the five datasets' accuracies (RD-Agent's "accuracy (average)"); an item weighs
  ``100 / (its dataset's split size)`` so the weighted mean of the per-item scores is that
  mean of means.
- ``tablebench_visualization``: ``TableBenchVisualizationEvaluator(timeout=10)``: the last
  fenced ``python`` block (or the whole response when it mentions import/plt/numpy/pandas/
  pd/df) runs in the sandbox with ``table.csv``; the y arguments of its ``plt.bar``,
  ``plt.plot`` and ``plt.scatter`` calls (:func:`fteval.sandbox.run_plot_capture`) must equal
  the gold ``y_references = [[...], ...]`` series by series (same count, same lengths, numbers
  within 0.01, other values as equal strings). Pass@1 is the core metric; ECR@1 (ran without
  an exception) and Parse@1 (code found) are reported too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from ftapi.evalsets.tablebench import EM, EM_WITHIN_10, RDAGENT_LIMIT, ROUGE_L
from fteval.adapters.base import Adapter, EvalItem, Judgement, weighted_mean
from fteval.sandbox import run_plot_capture

# ----------------------------------------------------------------------------- extraction

_FINAL_ANSWER = re.compile(r"Final Answer:\s*(.+?)(?:\n|$)", re.IGNORECASE | re.DOTALL)
_NON_WORD = re.compile(r"[^\w\s]")
_NUMBER = re.compile(r"-?\d+\.?\d*")
_PYTHON_BLOCK = re.compile(r"```python\s*(.*?)\s*```", re.DOTALL)
_CODE_WORDS = ("import", "plt", "numpy", "pandas", "pd", "df")


def final_answer(text: str) -> str | None:
    """What follows the first ``Final Answer:`` (any case) up to the end of its line; None
    when the text has none (the fork then compares the whole text)."""
    match = _FINAL_ANSWER.search(text)
    return match.group(1).strip() if match else None


def compared_text(text: str) -> str:
    """The fork's ``_extract_final_answer``: the final answer, or the whole text stripped."""
    answer = final_answer(text)
    return text.strip() if answer is None else answer


def normalize_answer(text: str) -> str:
    """``TableBenchEvaluator._normalize_answer``: lower case, non-word characters to spaces,
    single spaces."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split()).strip()


def first_number(text: str) -> float | None:
    """``_parse_number``: the first ``-?\\d+\\.?\\d*`` after removing ``,`` and ``%``."""
    match = _NUMBER.search(text.strip().replace(",", "").replace("%", ""))
    if match is None:
        return None
    try:
        return float(match.group())
    except ValueError:
        return None


def exact_match(prediction: str, gold: str) -> bool:
    """``exact_match_with_final_answer`` for one item."""
    return normalize_answer(compared_text(prediction)) == normalize_answer(compared_text(gold))


def match_within_10_percent(prediction: str, gold: str, error_rate: float = 0.10) -> bool:
    """``TableBenchNumericalWithPercenteErrorEvaluator`` (EM_with_error_10) for one item."""
    predicted, expected = compared_text(prediction), compared_text(gold)
    pred_num, gold_num = first_number(predicted), first_number(expected)
    if pred_num is not None and gold_num is not None:
        if gold_num == 0:
            return abs(pred_num) < 1e-6
        return abs(pred_num - gold_num) / abs(gold_num) <= error_rate
    return predicted.strip().lower() == expected.strip().lower()


def rouge_l(prediction: str, gold: str) -> float:
    """``TableBenchRougeEvaluator`` for one item, as a fraction (0-1): ROUGE-L F of the
    ``rouge`` package (summary level, sentences split at '.', words at spaces) between the
    lower-cased extracted answer (``"empty"`` when there is none) and the lower-cased gold;
    0 when the package raises (a hypothesis of only dots, for example)."""
    from rouge import Rouge  # an OpenCompass dependency, as in the fork

    answer = compared_text(prediction)
    reference = gold.strip()
    hypothesis = answer.lower().strip() if answer else "empty"
    reference = reference.lower().strip() if reference else "empty"
    try:
        return float(Rouge().get_scores(hypothesis, reference)[0]["rouge-l"]["f"])
    except Exception:  # the fork scores any failure 0
        return 0.0


def extract_code(text: str) -> str | None:
    """``TableBenchVisualizationEvaluator._extract_code``: the last ```python block, else
    the whole text when it mentions one of import/plt/numpy/pandas/pd/df, else None."""
    blocks = _PYTHON_BLOCK.findall(text)
    if blocks:
        return blocks[-1].strip()
    if any(word in text for word in _CODE_WORDS):
        return text.strip()
    return None


def parse_y_references(answer: Any) -> list[Any] | None:
    """``_parse_y_references``: the list after the first '=' of ``y_references = [...]``."""
    if isinstance(answer, list):
        return answer
    if not isinstance(answer, str):
        return None
    text = answer
    if "y_references" in text.lower():
        equals = text.find("=")
        if equals != -1:
            text = text[equals + 1 :].strip()
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return parsed if isinstance(parsed, list) else None


def same_series(captured: Sequence[Any], reference: Sequence[Any], tolerance: float = 1e-2) -> bool:
    """``_compare_data_arrays``: as many series as the reference, pairwise equal length,
    numbers within ``tolerance`` (a NaN never differs), other values equal as strings; a
    pair that is not two lists is skipped."""
    if not captured or not reference or len(captured) != len(reference):
        return False
    for got, want in zip(captured, reference, strict=True):
        if not isinstance(got, list | tuple) or not isinstance(want, list | tuple):
            continue
        if len(got) != len(want):
            return False
        for got_value, want_value in zip(got, want, strict=True):
            try:
                if abs(float(got_value) - float(want_value)) > tolerance:
                    return False
            except (ValueError, TypeError):
                if str(got_value) != str(want_value):
                    return False
    return True


# ----------------------------------------------------------------------------- adapters


@dataclass(frozen=True)
class FinalAnswerAdapter(Adapter):
    """Fact checking and numerical reasoning: exact match of the first ``Final Answer:``."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        ok = exact_match(prediction, item.answer)
        return Judgement(score=1.0 if ok else 0.0, correct=ok, extracted=final_answer(prediction))


@dataclass(frozen=True)
class DatasetJudgement(Judgement):
    """A data-analysis judgement that knows its OpenCompass dataset."""

    dataset: str = ""


@dataclass(frozen=True)
class DataAnalysisAdapter(Adapter):
    """Data analysis: the item's dataset's evaluator; the mean of the datasets' accuracies."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        scorer = item.extra.get("scorer")
        dataset = str(item.extra.get("dataset", ""))
        if scorer == ROUGE_L:
            score = rouge_l(prediction, item.answer)
            ok = score * 100 > 50
        elif scorer == EM_WITHIN_10:
            ok = match_within_10_percent(prediction, item.answer)
            score = 1.0 if ok else 0.0
        elif scorer == EM:
            ok = exact_match(prediction, item.answer)
            score = 1.0 if ok else 0.0
        else:
            raise ValueError(
                f"item {item.index}: no TableBench data-analysis scorer in extra ({scorer!r}); "
                "prepare the evaluation set again"
            )
        split_items = int(item.extra.get("split_items", RDAGENT_LIMIT))
        return DatasetJudgement(
            score=score,
            correct=ok,
            extracted=final_answer(prediction),
            weight=RDAGENT_LIMIT / split_items if split_items > 0 else 0.0,
            dataset=dataset,
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        by_dataset: dict[str, list[float]] = {}
        for judgement in judgements:
            name = judgement.dataset if isinstance(judgement, DatasetJudgement) else ""
            by_dataset.setdefault(name, []).append(judgement.score)
        if not by_dataset:
            return {self.metric.value: 0.0}
        if set(by_dataset) == {""}:
            return {self.metric.value: 100.0 * weighted_mean(judgements)}
        per_dataset = {
            name: 100.0 * sum(scores) / len(scores) for name, scores in by_dataset.items()
        }
        core = sum(per_dataset.values()) / len(per_dataset)
        return {
            self.metric.value: core,
            **{f"tablebench_analysis_{name}": value for name, value in per_dataset.items()},
        }


@dataclass(frozen=True)
class ChartJudgement(Judgement):
    """A visualization judgement with the fork's Parse@1 and ECR@1 flags."""

    parsed: bool = False
    executed: bool = False
    error: str = ""


@dataclass(frozen=True)
class ChartCodeAdapter(Adapter):
    """Visualization: Pass@1 of the plotted y-values against ``y_references``."""

    timeout: float = 10.0
    """The fork's ``TableBenchVisualizationEvaluator(timeout=10)``."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        code = extract_code(prediction)
        if code is None:
            return ChartJudgement(score=0.0, correct=False, extracted=None)
        reference = parse_y_references(item.answer)
        if reference is None:
            return ChartJudgement(
                score=0.0,
                correct=False,
                extracted=code,
                parsed=True,
                error="Invalid y_references format",
            )
        run = run_plot_capture(code, item.extra.get("table"), self.timeout)
        ok = run.executed and same_series(run.data, reference)
        return ChartJudgement(
            score=1.0 if ok else 0.0,
            correct=ok,
            extracted=code,
            parsed=True,
            executed=run.executed,
            error=run.error,
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        total = len(judgements)

        def rate(flag: str) -> float:
            hits = sum(1 for j in judgements if getattr(j, flag, False))
            return 100.0 * hits / total if total else 0.0

        return {
            self.metric.value: 100.0 * weighted_mean(judgements),
            "ECR@1": rate("executed"),
            "Parse@1": rate("parsed"),
        }


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "tablebench_data_analysis": DataAnalysisAdapter(_F.final_answer, _M.accuracy),
    "tablebench_fact_checking": FinalAnswerAdapter(_F.final_answer, _M.accuracy),
    "tablebench_numerical_reasoning": FinalAnswerAdapter(_F.final_answer, _M.accuracy),
    "tablebench_visualization": ChartCodeAdapter(_F.python_code, _M.pass_at_1),
}
