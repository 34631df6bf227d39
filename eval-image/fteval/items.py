"""The benchmark's evaluation set: read ``eval.jsonl`` and cut the validation or test split.

The prepare step writes ``CampaignLayout.benchmark_file(benchmark)``: one JSON object per
line (read with :func:`ftapi.jsonlines.parse_json_lines`, as the agent's leak check does)
with ``question`` (str), ``answer`` (str; other JSON values are kept as their JSON text) and
optional benchmark-specific extra fields (see :mod:`fteval.adapters`). Splits come from
:meth:`ftapi.catalog.Benchmark.split_ranges`, so validation and test never overlap.
Called by :mod:`fteval.main`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftapi.catalog import Benchmark
from ftapi.jsonlines import JsonLineError, parse_json_lines
from ftapi.results import FailureKind
from ftapi.steps import Split
from fteval.adapters import EvalItem
from fteval.errors import EvalStepError


def load_items(path: Path) -> list[EvalItem]:
    """Every item of the evaluation set, in file order."""
    if not path.is_file():
        raise EvalStepError(
            f"benchmark evaluation set {path} is missing (has the prepare step run?)",
            FailureKind.ENVIRONMENT,
        )
    try:
        rows = parse_json_lines(path.read_text(encoding="utf-8"))
    except JsonLineError as exc:
        raise EvalStepError(
            f"{path}:{exc.number}: not JSON ({exc.msg})", FailureKind.ENVIRONMENT
        ) from exc
    items: list[EvalItem] = []
    for number, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise EvalStepError(
                f'{path}:{number}: needs a "question" string', FailureKind.ENVIRONMENT
            )
        if "answer" not in row or row["answer"] is None:
            raise EvalStepError(f'{path}:{number}: needs an "answer"', FailureKind.ENVIRONMENT)
        answer = row.pop("answer")
        question = row.pop("question")
        if not isinstance(answer, str):
            answer = json.dumps(answer, ensure_ascii=False)
        items.append(EvalItem(index=len(items), question=question, answer=answer, extra=row))
    return items


def split_items(
    items: list[EvalItem], benchmark: Benchmark, split: Split, limit: int
) -> list[EvalItem]:
    """The items of ``split`` (at most ``limit``); an empty split is an error."""
    validation, test = benchmark.split_ranges(len(items), limit)
    chosen = validation if split == "validation" else test
    if len(chosen) == 0:
        raise EvalStepError(
            f"the {split} split of {benchmark.key} is empty ({len(items)} items in the set)",
            FailureKind.ENVIRONMENT,
        )
    return [items[i] for i in chosen]
