"""Adapters for PANORAMA (PAR4PC, PI4PC, NOC4PC): the fork's evaluators, metric by metric.

Sources: ``Jensen246/opencompass@abc7c91a`` ``opencompass/datasets/panorama/
panorama_{par4pc,pi4pc,noc4pc}.py`` (``PAR4PCEvaluator``, ``PI4PCEvaluator``,
``NOC4PCEvaluator`` and their ``_extract_*`` functions) with the configs
``opencompass/configs/datasets/panorama/panorama_*_gen.py``.

The configs' ``output_column`` is ``gold_answers`` (PAR4PC, PI4PC) or ``gold_code`` (NOC4PC),
and ``opencompass/tasks/openicl_eval.py`` passes ``test_set[output_column]`` as the
references: each reference is the gold list (or code), never a dict. The evaluators' dict
branch (silver answers, option keys) is therefore never taken: silver answers count as false
positives in PAR4PC and never score in PI4PC. We score what the fork computes.

- PAR4PC ``macro_f1`` is ``2PR/(P+R)`` over TP/FP/FN summed over the split (a micro F1):
  per item ``score = 2TP/(2TP+FP+FN)`` and ``weight = 2TP+FP+FN``, so the weighted mean is the
  metric; ``exact_match``, ``custom_score``, ``precision`` and ``recall`` are secondary.
- PI4PC ``gold_hit_rate``: the extracted paragraph key is one of the gold keys (mean).
- NOC4PC ``accuracy`` over the items whose code could be extracted (and whose gold code is
  not empty): per item weight 1 for those, 0 for the rest; ``macro_f1`` as scikit-learn's
  ``f1_score(labels=['102', '103', 'ALLOW'], average='macro', zero_division=0)`` on the same
  items (secondary: not a per-item quantity).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from fteval.adapters.base import Adapter, EvalItem, Judgement, _decode

CODES = ("102", "103", "ALLOW")
"""``NOC4PCEvaluator``'s F1 labels, in its order."""


@dataclass(frozen=True)
class PanoramaJudgement(Judgement):
    """A judgement with the per-item quantities of the fork's secondary metrics."""

    counts: tuple[int, int, int] = (0, 0, 0)
    """PAR4PC: TP, FP, FN."""
    partial: float = 0.0
    """PAR4PC custom score (0-100); PI4PC points (2 for a gold hit)."""
    valid: bool = True
    """NOC4PC: the pair enters accuracy and F1 (code extracted, gold not empty)."""


# ----------------------------------------------------------------------------- extraction


def _code_block(response: str) -> str:
    """The content of the first ```json (else ```) block, as the fork's extractors take it;
    the fallbacks below then search that content, not the whole response."""
    if "```json" in response:
        match = re.search(r"```json\s*(.*?)\s*```", response, re.DOTALL)
        if match:
            return match.group(1)
    elif "```" in response:
        match = re.search(r"```\s*(.*?)\s*```", response, re.DOTALL)
        if match:
            return match.group(1)
    return response


def _in_range(letter: str) -> bool:
    return "A" <= letter <= "H"


def parse_letters(value: Any) -> list[str]:
    """``_parse_answer_string``: comma/space separated tokens between "A" and "H" in string
    order (a token such as "AB" passes that test and is kept whole), sorted, unique."""
    if isinstance(value, list | tuple):
        found: list[str] = []
        for element in value:
            found.extend(parse_letters(element))
        return sorted(set(found))
    if not value:
        return []
    tokens = re.split(r"[,\s]+", str(value).upper())
    return sorted({token.strip() for token in tokens if token.strip() and _in_range(token.strip())})


_LETTER_PATTERNS = (
    r'"answer"\s*:\s*\[\s*"([A-H])"\s*(?:,\s*"([A-H])"\s*)*\]',
    r'"answer"\s*:\s*"([A-H](?:,\s*[A-H])*)"',
    r'"answer"\s*:\s*"([A-H])"',
)


def extract_letters(response: str) -> list[str]:
    """``panorama_par4pc._extract_answer_from_response``. Faithful to its quirks: a regex
    fallback collects every A-H letter of the whole match, including the "a" and "e" of
    ``"answer"``; the last resort takes every standalone letter a-h of the response."""
    if not response:
        return []
    response = response.strip()
    response = _code_block(response)
    try:
        data = json.loads(response)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        answer = data.get("answer", [])
        if isinstance(answer, str):
            if len(answer.strip()) == 1 and _in_range(answer.strip().upper()):
                return [answer.strip().upper()]
            return parse_letters(answer)
        if isinstance(answer, list):
            letters = []
            for element in answer:
                if isinstance(element, str) and len(element.strip()) == 1:
                    letter = element.strip().upper()
                    if _in_range(letter):
                        letters.append(letter)
            return sorted(set(letters))
    for pattern in _LETTER_PATTERNS:
        match = re.search(pattern, response, re.IGNORECASE)
        if match:
            letters = re.findall(r"[A-H]", match.group(0), re.IGNORECASE)
            if letters:
                return sorted({letter.upper() for letter in letters})
    letters = re.findall(r"\b([A-H])\b", response, re.IGNORECASE)
    return sorted({letter.upper() for letter in letters})


def parse_keys(value: Any) -> list[int]:
    """``_parse_answer_keys``: the gold paragraph keys."""
    if not value:
        return []
    if isinstance(value, int | float):
        return [int(value)]
    if isinstance(value, str):
        return [int(number) for number in re.findall(r"\d+", value)]
    if isinstance(value, list):
        keys = []
        for element in value:
            if isinstance(element, int | float):
                keys.append(int(element))
            elif isinstance(element, str):
                with contextlib.suppress(ValueError):
                    keys.append(int(element))
        return keys
    return []


_KEY_PATTERNS = (r'"answer"\s*:\s*(\d+)', r'"answer"\s*:\s*"(\d+)"', r"answer\s*[:=]\s*(\d+)")


def extract_key(response: str) -> int | None:
    """``panorama_pi4pc._extract_answer_from_response``: ``int(data["answer"])`` of the JSON
    object, else ``"answer": N`` patterns, else the first number of the response. (A value
    ``int()`` overflows on, which would stop the fork's evaluation, falls through here.)"""
    if not response:
        return None
    response = _code_block(response.strip())
    try:
        data = json.loads(response)
        if isinstance(data, dict):
            answer = data.get("answer")
            if answer is not None:
                return int(answer)
    except (json.JSONDecodeError, ValueError, TypeError, OverflowError):
        pass
    for pattern in _KEY_PATTERNS:
        match = re.search(pattern, response, re.IGNORECASE)
        if match:
            try:
                return int(match.group(1))
            except ValueError:
                pass
    numbers = re.findall(r"\b(\d+)\b", response)
    if numbers:
        try:
            return int(numbers[0])
        except ValueError:  # over Python's digit limit: the fork would stop here
            return None
    return None


_CODE_PATTERNS = (
    r'"code"\s*:\s*"(ALLOW|102|103)"',
    r'"code"\s*:\s*\'(ALLOW|102|103)\'',
    r"\bcode\s*[:=]\s*(ALLOW|102|103)\b",
)


def extract_code(response: str) -> str | None:
    """``panorama_noc4pc._extract_code_from_response``: ``code`` of the JSON object, else
    ``"code": "..."`` patterns, else the first of ALLOW, 102, 103 found anywhere."""
    if not response:
        return None
    response = _code_block(response.strip())
    try:
        data = json.loads(response)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        code = data.get("code")
        if code:
            code = str(code).strip().upper()
            if code in CODES:
                return code
    for pattern in _CODE_PATTERNS:
        match = re.search(pattern, response, re.IGNORECASE)
        if match and match.group(1).upper() in CODES:
            return match.group(1).upper()
    upper = response.upper()
    for code in ("ALLOW", "102", "103"):
        if code in upper:
            return code
    return None


# ----------------------------------------------------------------------------- adapters


def _percent(numerator: float, denominator: float) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


@dataclass(frozen=True)
class PriorArtAdapter(Adapter):
    """PAR4PC (``PAR4PCEvaluator``): TP = predicted gold, FP = predicted non-gold, FN =
    gold not predicted; ``macro_f1`` = 2 sum TP / (2 sum TP + sum FP + sum FN)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = set(parse_letters(_decode(item.answer)))
        predicted = set(extract_letters(prediction))
        tp, fp, fn = len(predicted & gold), len(predicted - gold), len(gold - predicted)
        if gold:
            custom = max(0.0, (2 * tp - fp - fn) / (2 * len(gold)) * 100)
        else:
            custom = 0.0 if predicted else 100.0
        weight = 2 * tp + fp + fn
        return PanoramaJudgement(
            score=2 * tp / weight if weight else 0.0,
            correct=predicted == gold,
            extracted=sorted(predicted) or None,
            weight=float(weight),
            counts=(tp, fp, fn),
            partial=custom,
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        tp = fp = fn = 0
        custom = 0.0
        for judgement in judgements:
            if isinstance(judgement, PanoramaJudgement):
                tp, fp, fn = (a + b for a, b in zip((tp, fp, fn), judgement.counts, strict=True))
                custom += judgement.partial
        total = len(judgements)
        return super().aggregate(judgements) | {
            "exact_match": _percent(sum(j.correct for j in judgements), total),
            "custom_score": custom / total if total else 0.0,
            "precision": _percent(tp, tp + fp),
            "recall": _percent(tp, tp + fn),
        }


@dataclass(frozen=True)
class ParagraphAdapter(Adapter):
    """PI4PC (``PI4PCEvaluator``): the extracted key is a gold key."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = set(parse_keys(_decode(item.answer)))
        predicted = extract_key(prediction)
        hit = predicted is not None and predicted in gold
        return PanoramaJudgement(
            score=1.0 if hit else 0.0,
            correct=hit,
            extracted=predicted,
            partial=2.0 if hit else 0.0,
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        total = len(judgements)
        hits = sum(j.correct for j in judgements)
        points = sum(j.partial for j in judgements if isinstance(j, PanoramaJudgement))
        return super().aggregate(judgements) | {
            # (gold*2 + silver*1) / total / 2; no silver reaches the fork's evaluator
            "custom_score": _percent(points / 2, total),
            # gold or silver hit
            "accuracy": _percent(hits, total),
        }


def macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    """scikit-learn ``f1_score(refs, preds, labels=CODES, average='macro',
    zero_division=0)`` over (predicted, gold) pairs, 0-1: a label absent from both counts 0."""
    scores = []
    for label in CODES:
        tp = sum(p == label and g == label for p, g in pairs)
        fp = sum(p == label and g != label for p, g in pairs)
        fn = sum(p != label and g == label for p, g in pairs)
        scores.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
    return sum(scores) / len(scores)


@dataclass(frozen=True)
class NoveltyAdapter(Adapter):
    """NOC4PC (``NOC4PCEvaluator``): accuracy and macro F1 over the valid pairs only."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        gold = item.answer.strip().upper()
        if gold and gold not in CODES:
            raise ValueError(f"item {item.index}: gold answer {item.answer!r} is not ALLOW/102/103")
        predicted = extract_code(prediction)
        valid = predicted is not None and bool(item.answer)
        ok = predicted is not None and predicted == item.answer.upper()
        return PanoramaJudgement(
            score=1.0 if ok else 0.0,
            correct=ok,
            extracted=predicted,
            predicted_label=predicted,
            gold_label=item.answer.upper() or None,
            weight=1.0 if valid else 0.0,
            valid=valid,
        )

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        pairs = [
            (j.predicted_label or "", j.gold_label or "")
            for j in judgements
            if isinstance(j, PanoramaJudgement) and j.valid
        ]
        return super().aggregate(judgements) | {
            "macro_f1": 100.0 * macro_f1(pairs) if pairs else 0.0,
        }


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "panorama_par4pc": PriorArtAdapter(_F.json, _M.macro_f1),
    "panorama_pi4pc": ParagraphAdapter(_F.json, _M.gold_hit_rate),
    "panorama_noc4pc": NoveltyAdapter(_F.json, _M.accuracy),
}
