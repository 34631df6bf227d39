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


def _first(value: Any) -> Any:
    """OpenCompass flattens each detail field into a list (one entry per replica)."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def read_results(path: Path, metric: str) -> dict[str, Any]:
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
    value = data.get(metric)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise EvalStepError(f"{path.name} has no {metric!r} score", FailureKind.INTERNAL)
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
) -> EvaluationResult:
    """The split's EvaluationResult from a validated results JSON."""
    scores: list[ItemScore] = []
    wrong: list[WrongAnswer] = []
    for detail in data["details"]:
        index = int(_first(detail["index"]))
        scores.append(ItemScore(index=index, score=float(_first(detail["score"]))))
        keep = split == "validation" and len(wrong) < MAX_WRONG_ANSWERS
        if keep and not _first(detail["correct"]):
            item = items[index]
            wrong.append(
                WrongAnswer(
                    index=index,
                    prompt=item.question[:TEXT_LIMIT],
                    expected=item.answer[:TEXT_LIMIT],
                    predicted=str(_first(detail["pred"]))[-TEXT_LIMIT:],
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
        score=round(float(data[metric]), 4),
        n_items=len(scores),
        items=scores,
        wrong_answers=wrong,
        model=model,
        adapter=adapter,
    )
