"""Benchmark adapters: answer extraction plus core metric, one adapter per catalog benchmark.

An adapter judges one model response against one evaluation item (per-item score, whether it
counts as right, what was extracted) and aggregates the judgements into the benchmark's core
metric (0-100) plus any secondary metrics. :data:`ADAPTERS` has an entry for every key of
:data:`ftapi.catalog.BENCHMARKS`; a benchmark added to the catalog without an adapter fails
the tests. Called by the OpenCompass evaluator (:mod:`fteval.evaluator`).

Gold answers (the ``answer`` field of the benchmark's ``eval.jsonl``, written by the prepare
step) and the optional extra fields each adapter reads:

- ``aime24``/``aime25``: the integer, e.g. ``"204"`` (any LaTeX math-verify can parse).
- ``panorama_par4pc``: the cited candidate letters, ``"A"``, ``"A,C"`` or ``'["A", "C"]'``.
- ``panorama_pi4pc``: the gold paragraph number(s), ``"12"`` or ``"[12, 40]"``.
- ``panorama_noc4pc``: ``"ALLOW"``, ``"102"`` or ``"103"``.
- ``chemcotbench_mol_und``: the count, ``yes``/``no`` or a SMILES.
- ``chemcotbench_mol_edit``: the reference SMILES; with extras ``source`` (input SMILES) and
  ``added_group``/``removed_group`` (functional-group names, :data:`fteval.chem.
  FUNCTIONAL_GROUPS`) the edit itself is checked instead.
- ``chemcotbench_mol_opt``: extras ``source``, ``property`` (logp, qed, solubility) and
  optional ``direction`` (increase, the default, or decrease).
- ``chemcotbench_reaction``: the product/reactant SMILES (or the text answer).
- ``tablebench_*``: the short answer (``"Yes"``, ``"42.5"``, ``"A, B"``), extra ``qsubtype``;
  ``tablebench_visualization``: the reference code, extra ``table``
  (``{"columns": [...], "data": [[...]]}``) or a precomputed ``chart``.
- ``FinanceIQ_gen``: the option letter; extra ``choices`` ({letter: text} or a list).
- ``bioprobench_gen``: the reference protocol text; ``bioprobench_ord``: the correct order,
  ``"[2, 0, 3, 1]"``; ``bioprobench_err``: ``"True"`` (step correct) or ``"False"``;
  ``bioprobench_pqa``: the correct option text, extra ``choices``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from ftapi.catalog import BENCHMARKS, AnswerFormat, Metric
from fteval import answers, chem, metrics
from fteval.judge import JudgeConfig, llm_judge_equivalent
from fteval.sandbox import ChartRun, run_chart_code, same_chart


@dataclass(frozen=True)
class EvalItem:
    """One item of a benchmark's evaluation set."""

    index: int
    """Position in the evaluation set (``eval.jsonl``)."""
    question: str
    answer: str
    extra: Mapping[str, Any] = field(default_factory=dict)


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


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class Adapter:
    """Extraction plus metric for one benchmark; subclasses implement :meth:`judge`."""

    answer_format: AnswerFormat
    metric: Metric

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        raise NotImplementedError

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        """Core metric (first key, 0-100) and secondary metrics."""
        return {self.metric.value: 100.0 * _mean([j.score for j in judgements])}


def _binary(ok: bool, extracted: Any) -> Judgement:
    return Judgement(score=1.0 if ok else 0.0, correct=ok, extracted=extracted)


MALFORMED = Judgement(score=0.0, correct=False, extracted=None)


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


# ----------------------------------------------------------------------------- PANORAMA


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


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


# ----------------------------------------------------------------------------- ChemCoTBench

_YES = {"yes", "true", "same"}
_NO = {"no", "false", "different"}


def _yes_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = metrics.normalize_text(str(value))
    return True if text in _YES else False if text in _NO else None


def _extra_smiles(item: EvalItem) -> str:
    for key in ("source", "src", "molecule", "smiles"):
        if isinstance(item.extra.get(key), str) and item.extra[key].strip():
            return item.extra[key].strip()
    raise ValueError(f"item {item.index}: needs the input molecule as extra field 'source'")


@dataclass(frozen=True)
class MoleculeUnderstandingAdapter(Adapter):
    """Counts, yes/no and SMILES answers in ``{"output": ...}``; accuracy."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        value = answers.extract_json_output(prediction)
        if value is None:
            return MALFORMED
        gold_number = metrics.parse_number(item.answer)
        if gold_number is not None and _yes_no(item.answer) is None:
            number = value if isinstance(value, int | float) else metrics.parse_number(str(value))
            ok = number is not None and not isinstance(number, bool) and number == gold_number
            return _binary(ok, value)
        gold_bool = _yes_no(item.answer)
        if gold_bool is not None:
            return _binary(_yes_no(value) == gold_bool, value)
        ok = chem.same_molecule(value, item.answer) or (
            metrics.normalize_text(str(value)) == metrics.normalize_text(item.answer)
        )
        return _binary(ok, value)


@dataclass(frozen=True)
class MoleculeEditAdapter(Adapter):
    """A valid SMILES carrying the requested edit (group counts), else the reference."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        added, removed = item.extra.get("added_group"), item.extra.get("removed_group")
        value = answers.extract_json_output(prediction)
        if not added and not removed:
            if value is None:
                return MALFORMED
            return _binary(chem.same_molecule(value, item.answer), value)
        source = _extra_smiles(item)
        # Unknown group names raise before the prediction is looked at: never a silent 0.
        expected = {g: chem.count_group(source, g) for g in (added, removed) if g}
        if not isinstance(value, str) or not chem.is_valid_smiles(value):
            return _binary(False, value)
        ok = True
        if added:
            ok &= chem.count_group(value, added) == expected[added] + 1
        if removed:
            ok &= chem.count_group(value, removed) == expected[removed] - 1
        return _binary(ok, value)


@dataclass(frozen=True)
class MoleculeOptimisationAdapter(Adapter):
    """A valid SMILES that improves the target property over the input molecule."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        prop = item.extra.get("property")
        if not isinstance(prop, str):
            raise ValueError(f"item {item.index}: needs the target as extra field 'property'")
        source = _extra_smiles(item)
        direction = str(item.extra.get("direction", "increase"))
        value = answers.extract_json_output(prediction)
        candidate = value if isinstance(value, str) else ""
        ok = chem.improves(source, candidate, prop, direction)
        return _binary(ok, value)


@dataclass(frozen=True)
class ReactionAdapter(Adapter):
    """Exact match of the canonical SMILES (normalised text for non-SMILES answers)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        value = answers.extract_json_output(prediction)
        if value is None:
            return MALFORMED
        if chem.is_valid_smiles(item.answer) and isinstance(value, str):
            return _binary(chem.same_molecule(value, item.answer), value)
        ok = metrics.normalize_text(str(value)) == metrics.normalize_text(item.answer)
        return _binary(ok, value)


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


# ----------------------------------------------------------------------------- registry

_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "aime24": BoxedIntegerAdapter(_F.boxed_integer, _M.accuracy),
    "aime25": BoxedIntegerAdapter(_F.boxed_integer, _M.accuracy, judge_allowed=True),
    "panorama_par4pc": PriorArtAdapter(_F.json, _M.macro_f1),
    "panorama_pi4pc": ParagraphAdapter(_F.json, _M.gold_hit_rate),
    "panorama_noc4pc": NoveltyAdapter(_F.json, _M.accuracy),
    "chemcotbench_mol_und": MoleculeUnderstandingAdapter(_F.json_output, _M.accuracy),
    "chemcotbench_mol_edit": MoleculeEditAdapter(_F.json_output, _M.correct_rate),
    "chemcotbench_mol_opt": MoleculeOptimisationAdapter(_F.json_output, _M.success_rate),
    "chemcotbench_reaction": ReactionAdapter(_F.json_output, _M.exact_match),
    "tablebench_data_analysis": FinalAnswerAdapter(_F.final_answer, _M.accuracy, open_ended=True),
    "tablebench_fact_checking": FinalAnswerAdapter(_F.final_answer, _M.accuracy, numeric=False),
    "tablebench_numerical_reasoning": FinalAnswerAdapter(_F.final_answer, _M.accuracy),
    "tablebench_visualization": ChartCodeAdapter(_F.python_code, _M.pass_at_1),
    "FinanceIQ_gen": ChoiceLetterAdapter(_F.choice_letter, _M.accuracy),
    "bioprobench_gen": TaggedRougeAdapter(_F.answer_tags, _M.rouge_l),
    "bioprobench_ord": TaggedOrderAdapter(_F.answer_tags, _M.kendall_tau),
    "bioprobench_err": TaggedErrorAdapter(_F.answer_tags, _M.f1),
    "bioprobench_pqa": TaggedOptionAdapter(_F.answer_tags, _M.accuracy),
}


class MissingAdapterError(KeyError):
    """A catalog benchmark without an adapter (a bug: every benchmark needs one)."""


def get_adapter(benchmark: str, judge: JudgeConfig | None = None) -> Adapter:
    """The adapter of ``benchmark``, with the LLM judge attached where it is allowed."""
    try:
        adapter = ADAPTERS[benchmark]
    except KeyError:
        known = "known" if benchmark in BENCHMARKS else "unknown"
        raise MissingAdapterError(f"no adapter for {known} benchmark {benchmark!r}") from None
    if isinstance(adapter, BoxedIntegerAdapter):
        return adapter.with_judge(judge)
    return adapter
