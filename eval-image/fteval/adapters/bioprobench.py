"""Adapters for BioProBench (GEN, ORD, ERR, PQA): the fork's evaluators, metric by metric.

Each adapter repeats the extraction (``bioprobench_*_postprocess``) and the formula of the
evaluator class the fork's config uses (``Jensen246/opencompass@abc7c91a``,
``opencompass/datasets/bioprobench/bioprobench_{gen,ord,err,pqa}.py``). Upstream leaves an
answer it cannot parse out of every metric (it only counts it as ``failed``), so such an
answer gets weight 0 here: the weighted mean of the per-item scores is exactly upstream's
number, and ``failed`` is reported beside it.

- PQA: ``[ANSWER_START]<option text> & <confidence>%[ANSWER_END]`` (first tagged block);
  accuracy = exact string equality with the gold option; Brier score of the confidences.
- ORD: the last tagged block read as a Python list of indices; Kendall tau pooled over the
  step pairs of all well-formed answers (each item weighs its number of pairs); reported x100.
- ERR: the first tagged block (else the last line); ``True``/``true`` anywhere wins over
  ``False``; F1 of the ``False`` class (a step with an error) = 2TP / (2TP + FP + FN), so an
  item weighs 2 (TP), 1 (FP, FN) or 0 (TN).
- GEN: the first tagged block; ROUGE-L F-measure of ``rouge-score`` (Porter stemming) against
  the reference steps joined by spaces, averaged over tagged answers.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from fteval.adapters.base import Adapter, EvalItem, Judgement, weighted_mean

_TAGGED = re.compile(r"\[ANSWER_START\](.*?)\[ANSWER_END\]", re.DOTALL)
_DIGITS = re.compile(r"\d+")


def _after(text: str, *markers: str) -> str:
    """What follows the last of each marker, in turn (the fork strips ``</think>`` first)."""
    for marker in markers:
        if marker in text:
            text = text.split(marker)[-1]
    return text


def _first_tagged(text: str) -> str | None:
    match = _TAGGED.search(text)
    return None if match is None else match.group(1).strip()


def _failed() -> Judgement:
    """An answer upstream cannot parse: counted as failed, in no metric."""
    return Judgement(score=0.0, correct=False, extracted=None, weight=0.0)


def _valid(judgements: Sequence[Judgement]) -> list[Judgement]:
    return [j for j in judgements if j.extracted is not None]


def _percent(count: int, total: int) -> float:
    return 100.0 * count / total if total else 0.0


# ----------------------------------------------------------------------------- PQA


def parse_pqa(text: str) -> tuple[str, int] | None:
    """(answer, confidence) as ``bioprobench_pqa_postprocess`` reads them, or None: the
    first tagged block split at its one ``&`` (else at its last space), the first digits of
    the second part as the confidence, at most 100."""
    content = _first_tagged(_after(text, "</think>"))
    if content is None:
        return None
    if "&" in content:
        parts = content.split("&")
        if len(parts) != 2:
            return None
    else:
        words = content.split(" ")
        parts = [" ".join(words[:-1]), words[-1]]
    digits = _DIGITS.search(parts[-1])
    if digits is None:
        return None
    confidence = int(digits.group())
    if confidence > 100:
        return None
    return parts[0].strip(), confidence


@dataclass(frozen=True)
class PQAAdapter(Adapter):
    """Accuracy of the chosen option text (exact string match) over the parsed answers."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        parsed = parse_pqa(prediction)
        if parsed is None:
            return _failed()
        answer, confidence = parsed
        ok = answer == item.answer
        return Judgement(
            score=float(ok),
            correct=ok,
            extracted={"answer": answer, "confidence": confidence},
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        valid = _valid(judgements)
        # sklearn's brier_score_loss(accs, confidence / 100): the mean squared difference.
        brier = [(j.extracted["confidence"] / 100 - j.score) ** 2 for j in valid]
        return {
            self.metric.value: 100.0 * weighted_mean(judgements),
            "brier_score": sum(brier) / len(brier) if brier else 0.0,
            "failed": float(len(judgements) - len(valid)),
        }


# ----------------------------------------------------------------------------- ORD


def parse_order(text: str) -> list[int] | None:
    """The indices of ``bioprobench_ord_postprocess``: the last tagged block as a Python
    literal list or tuple, every element through ``int``; None when that fails."""
    blocks = _TAGGED.findall(_after(text, "</think>"))
    if not blocks:
        return None
    try:
        value = ast.literal_eval(blocks[-1].strip())
    except Exception:  # upstream catches everything literal_eval raises
        return None
    if not isinstance(value, list | tuple):
        return None
    try:
        return [int(x) for x in value]
    except Exception:  # as upstream: int() of anything that is no index
        return None


def _gold_order(item: EvalItem) -> list[int] | None:
    """The gold indices; None when an entry is null (upstream: the item always fails)."""
    try:
        gold = json.loads(item.answer)
    except ValueError:
        gold = None
    if not isinstance(gold, list):
        raise ValueError(f"item {item.index}: gold answer {item.answer!r} is not an order")
    if any(x is None for x in gold):
        return None
    return [int(x) for x in gold]


def concordance(predicted: Sequence[int], gold: Sequence[int]) -> tuple[int, int]:
    """(concordant pairs, pairs) of the fork's ``kendall_tau`` for one item: over the pairs
    of distinct indices (a repeated index counts at its last position)."""
    gold_rank = {step: i for i, step in enumerate(gold)}
    pred_rank = {step: i for i, step in enumerate(predicted)}
    concordant = pairs = 0
    for a, b in combinations(gold_rank.keys() & pred_rank.keys(), 2):
        if (gold_rank[a] - gold_rank[b]) * (pred_rank[a] - pred_rank[b]) > 0:
            concordant += 1
        pairs += 1
    return concordant, pairs


@dataclass(frozen=True)
class OrderAdapter(Adapter):
    """Kendall tau = (2C - P) / P over all pairs P of all well-formed answers, C concordant:
    an item scores its own (2C - P) / P with weight P, so the weighted mean is that tau. An
    answer that is not a permutation of the gold's indices is failed (weight 0)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = _gold_order(item)
        predicted = parse_order(prediction)
        if gold is None or predicted is None:
            return _failed()
        if len(predicted) != len(gold) or set(predicted) != set(gold):
            return _failed()
        concordant, pairs = concordance(predicted, gold)
        exact = predicted == gold
        score = (2 * concordant - pairs) / pairs if pairs else float(exact)
        return Judgement(score=score, correct=exact, extracted=predicted, weight=float(pairs))

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        valid = _valid(judgements)
        return {
            self.metric.value: 100.0 * weighted_mean(judgements),
            "exact_match": _percent(sum(j.correct for j in valid), len(valid)),
            "failed": float(len(judgements) - len(valid)),
        }


# ----------------------------------------------------------------------------- ERR


def parse_true_false(text: str) -> bool | None:
    """``bioprobench_err_postprocess``: after ``</think>`` and ``[/INST]``, the first tagged
    block or else the last line; ``True``/``true`` in it is True, else ``False``/``false``
    is False, else None."""
    text = _after(text, "</think>", "[/INST]")
    answer = _first_tagged(text)
    if answer is None:
        answer = text.strip().split("\n")[-1].strip()
    if "True" in answer or "true" in answer:
        return True
    if "False" in answer or "false" in answer:
        return False
    return None


def _label(value: bool) -> str:
    return "True" if value else "False"


@dataclass(frozen=True)
class ErrorAdapter(Adapter):
    """F1 of the ``False`` class (the step has an error) over the parsed answers."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        if item.answer not in ("True", "False"):
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} is not True/False")
        gold = item.answer == "True"
        predicted = parse_true_false(prediction)
        if predicted is None:
            return _failed()
        ok = predicted == gold
        # Positive class False: TP weighs 2 and scores 1; FP and FN weigh 1 and score 0; a
        # true negative is outside F1 (weight 0).
        if not predicted and not gold:
            score, weight = 1.0, 2.0
        elif ok:
            score, weight = 1.0, 0.0
        else:
            score, weight = 0.0, 1.0
        return Judgement(
            score=score,
            correct=ok,
            extracted=predicted,
            weight=weight,
            predicted_label=_label(predicted),
            gold_label=_label(gold),
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        valid = _valid(judgements)
        pairs = [(j.predicted_label, j.gold_label) for j in valid]
        tp = pairs.count(("False", "False"))
        fp = pairs.count(("False", "True"))
        fn = pairs.count(("True", "False"))
        return {
            self.metric.value: 100.0 * weighted_mean(judgements),
            "accuracy": _percent(sum(j.correct for j in valid), len(valid)),
            "precision": _percent(tp, tp + fp),
            "recall": _percent(tp, tp + fn),
            "failed": float(len(judgements) - len(valid)),
        }


# ----------------------------------------------------------------------------- GEN


@lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(reference: str, generated: str) -> Mapping[str, float]:
    """rouge1/rouge2/rougeL F-measures as the fork's ``_compute_text_metrics`` has them."""
    scores = _scorer().score(reference, generated)
    return {name: score.fmeasure for name, score in scores.items()}


def parse_steps(text: str) -> str | None:
    """``bioprobench_gen_postprocess``: after ``</think>`` and ``</Structure>``, the first
    tagged block (stripped; may be empty), else None."""
    return _first_tagged(_after(text, "</think>", "</Structure>"))


@dataclass(frozen=True)
class RougeJudgement(Judgement):
    """A GEN judgement with the secondary ROUGE-1/ROUGE-2 F-measures."""

    rouge_1: float = 0.0
    rouge_2: float = 0.0


@dataclass(frozen=True)
class ProtocolRougeAdapter(Adapter):
    """ROUGE-L F-measure against the reference steps joined by spaces (the item's answer);
    an answer counts as correct from 0.5 on (the fork's detail flag)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        generated = parse_steps(prediction)
        if generated is None:
            return _failed()
        scores = rouge(item.answer, generated)
        score = scores["rougeL"]
        return RougeJudgement(
            score=score,
            correct=score >= 0.5,
            extracted=generated,
            rouge_1=scores["rouge1"],
            rouge_2=scores["rouge2"],
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        valid = _valid(judgements)

        def mean(name: str) -> float:
            values = [getattr(j, name, 0.0) for j in valid]
            return 100.0 * sum(values) / len(values) if values else 0.0

        return {
            self.metric.value: 100.0 * weighted_mean(judgements),
            "rouge_1": mean("rouge_1"),
            "rouge_2": mean("rouge_2"),
            "failed": float(len(judgements) - len(valid)),
        }


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "bioprobench_gen": ProtocolRougeAdapter(_F.answer_tags, _M.rouge_l),
    "bioprobench_ord": OrderAdapter(_F.answer_tags, _M.kendall_tau),
    "bioprobench_err": ErrorAdapter(_F.answer_tags, _M.f1),
    "bioprobench_pqa": PQAAdapter(_F.answer_tags, _M.accuracy),
}
