"""The benchmark's evaluation set: read ``eval.jsonl`` and pick exactly the recorded split.

The prepare step writes ``CampaignLayout.benchmark_file(benchmark)`` (one
:class:`ftapi.evalsets.EvalRow` per line: id, question with its context rendered, gold answer,
the scorer's extra fields, split group) and, for the campaign's limits,
``CampaignLayout.splits_file(...)``: the item ids of validation and test, cut as upstream cuts
them, with their hash. Every evaluation scores exactly those ids; a splits file whose ids do
not hash to its recorded hash, or to the hash the operator recorded at prepare
(``StepRequest.split_sha256``), is refused. Called by :mod:`fteval.main`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ftapi.errors import format_validation_error
from ftapi.evalsets import EvalRow, Splits
from ftapi.evalsets.base import splits_hash
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
    for number, raw in rows:
        try:
            row = EvalRow.model_validate(raw)
        except ValidationError as exc:
            raise EvalStepError(
                f"{path}:{number}: not an evaluation item ({format_validation_error(exc)}); "
                "run the prepare step of this operator version again",
                FailureKind.ENVIRONMENT,
            ) from exc
        items.append(
            EvalItem(
                index=len(items),
                question=row.question,
                answer=row.answer,
                extra=row.extra,
                id=row.id,
                group=row.group,
            )
        )
    return items


def read_splits(path: Path, expected_sha256: str | None) -> Splits:
    """The recorded splits, checked against their own hash and the campaign's."""
    try:
        splits = Splits.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalStepError(
            f"the split file {path} is missing (has the prepare step run for these "
            "validation/test limits?)",
            FailureKind.ENVIRONMENT,
        ) from None
    except ValidationError as exc:
        raise EvalStepError(
            f"{path} is not a split file: {format_validation_error(exc)}", FailureKind.ENVIRONMENT
        ) from exc
    actual = splits_hash(splits.benchmark, splits.validation, splits.test)
    if actual != splits.sha256:
        raise EvalStepError(
            f"{path}: the item ids hash to {actual[:12]}, not the recorded {splits.sha256[:12]} "
            "(the file was changed after prepare)",
            FailureKind.ENVIRONMENT,
        )
    if expected_sha256 is not None and splits.sha256 != expected_sha256:
        raise EvalStepError(
            f"{path}: these splits (sha256 {splits.sha256[:12]}) are not the ones this campaign "
            f"was prepared with ({expected_sha256[:12]}); the evaluation set changed in the "
            "cache, so scores would not be comparable",
            FailureKind.ENVIRONMENT,
        )
    return splits


def split_items(items: list[EvalItem], splits: Splits, split: Split) -> list[EvalItem]:
    """The items of ``split``, in the recorded order; an empty split is an error."""
    wanted = splits.validation if split == "validation" else splits.test
    by_id = {item.id: item for item in items}
    missing = [item_id for item_id in wanted if item_id not in by_id]
    if missing:
        raise EvalStepError(
            f"the {split} split names items that the evaluation set does not hold: {missing[:5]}",
            FailureKind.ENVIRONMENT,
        )
    if not wanted:
        raise EvalStepError(
            f"the {split} split of {splits.benchmark} is empty ({splits.items} items in the set)",
            FailureKind.ENVIRONMENT,
        )
    return [by_id[item_id] for item_id in wanted]
