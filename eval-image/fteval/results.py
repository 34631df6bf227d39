"""Turn OpenCompass' ``results/<model>/<dataset>.json`` into an EvaluationResult.

The results JSON is the source of the scores: the evaluator (:mod:`fteval.evaluator`) put the
core metric under its name and one ``details`` entry per item. Wrong answers (at most
:data:`MAX_WRONG_ANSWERS`) are kept for the validation split only: the agent must never see
test content. Called by :mod:`fteval.main`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ftapi.results import EvaluationResult, FailureKind, ItemScore, WrongAnswer
from ftapi.steps import Split
from fteval.adapters import EvalItem
from fteval.errors import EvalStepError

MAX_WRONG_ANSWERS = 5
TEXT_LIMIT = 1500


def _replicas(value: Any, samples: int) -> list[Any]:
    """OpenCompass groups the details of an item's replicas (one per sample) and flattens
    each field into a list with one entry per replica."""
    values = value if isinstance(value, list) and len(value) == samples else [value]
    if len(values) != samples:
        raise EvalStepError(
            f"an item has {len(values)} answers for {samples} asked", FailureKind.INTERNAL
        )
    return values


def metric_key(metric: str, samples: int) -> str:
    """Where OpenCompass puts the core metric: averaged over the replicas when ``n`` > 1."""
    return metric if samples == 1 else f"{metric} ({samples} runs average)"


def read_results(path: Path, metric: str, samples: int = 1) -> dict[str, Any]:
    """The results JSON; it must hold the core metric and per-item details."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalStepError(
            f"OpenCompass wrote no results file {path}", FailureKind.INTERNAL
        ) from None
    except json.JSONDecodeError as exc:
        raise EvalStepError(f"{path} is not JSON: {exc.msg}", FailureKind.INTERNAL) from exc
    if "error" in data:
        raise EvalStepError(
            f"evaluation error in {path.name}: {data['error']}", FailureKind.INTERNAL
        )
    key = metric_key(metric, samples)
    value = data.get(key)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise EvalStepError(f"{path.name} has no {key!r} score", FailureKind.INTERNAL)
    if not isinstance(data.get("details"), list):
        raise EvalStepError(f"{path.name} has no per-item details", FailureKind.INTERNAL)
    return data


def evaluation_result(
    data: Mapping[str, Any],
    *,
    split: Split,
    benchmark: str,
    metric: str,
    items: Mapping[int, EvalItem],
    model: str,
    adapter: str | None,
    samples: int = 1,
) -> EvaluationResult:
    """The split's EvaluationResult from a validated results JSON (read with the same
    ``samples``): each item's score is the mean over its samples; an item is shown to the
    agent as wrong when most of its samples are, with one wrong answer."""
    scores: list[ItemScore] = []
    wrong: list[WrongAnswer] = []
    judged = 0
    for detail in data["details"]:
        indexes = {int(i) for i in _replicas(detail["index"], samples)}
        if len(indexes) != 1:
            raise EvalStepError(
                f"replicas of different items grouped: {sorted(indexes)}", FailureKind.INTERNAL
            )
        index = indexes.pop()
        item_scores = [float(x) for x in _replicas(detail["score"], samples)]
        weights = [float(x) for x in _replicas(detail.get("weight", 1.0), samples)]
        total = sum(weights)
        # Over an item's samples: the weighted mean score and the mean weight, so the split's
        # weighted mean stays the ratio metric pooled over every answer.
        score = (
            sum(s * w for s, w in zip(item_scores, weights, strict=True)) / total if total else 0.0
        )
        scores.append(ItemScore(index=index, score=score, weight=total / samples))
        correct = [bool(x) for x in _replicas(detail["correct"], samples)]
        judged += any(bool(x) for x in _replicas(detail.get("judged_by_llm", False), samples))
        keep = split == "validation" and len(wrong) < MAX_WRONG_ANSWERS
        if keep and sum(correct) * 2 < samples:
            item = items[index]
            predicted = _replicas(detail["pred"], samples)[correct.index(False)]
            wrong.append(
                WrongAnswer(
                    index=index,
                    prompt=item.question[:TEXT_LIMIT],
                    expected=item.answer[:TEXT_LIMIT],
                    predicted=str(predicted)[-TEXT_LIMIT:],
                )
            )
    if len(scores) != len(items):
        raise EvalStepError(
            f"{len(scores)} scored items for {len(items)} asked", FailureKind.INTERNAL
        )
    return EvaluationResult(
        split=split,
        benchmark=benchmark,
        metric=metric,
        score=round(float(data[metric_key(metric, samples)]), 4),
        n_items=len(scores),
        samples_per_item=samples,
        items=scores,
        judged=judged,
        wrong_answers=wrong,
        model=model,
        adapter=adapter,
    )
