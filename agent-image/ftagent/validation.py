"""Validation of training data before any GPU time is spent on it.

Every record (not a sample) is checked: the Alpaca schema with non-empty instruction and
output, duplicates removed, evaluation items and near copies removed
(:mod:`ftagent.leakcheck`), records longer than the token limit dropped (never truncated),
the size limit applied, and the length statistics recorded as :class:`ftapi.plan.DataStats`.
Called by :mod:`ftagent.pipeline` for every planner, and by the LLM planner inside its
script-repair loop.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from ftagent.errors import DataError
from ftagent.records import AlpacaRecord
from ftagent.tokens import TokenCounter, percentile
from ftapi.errors import format_validation_error
from ftapi.leakindex import LeakMatcher
from ftapi.plan import DataStats
from ftapi.prompts import task_prompt

MAX_INVALID_EXAMPLES = 5


@dataclass(frozen=True)
class CheckedData:
    """Records that passed validation, their token lengths and what was removed."""

    records: list[AlpacaRecord]
    tokens: list[int]
    invalid: int = 0
    invalid_examples: list[str] = field(default_factory=list)
    duplicates_removed: int = 0
    leaks_removed: int = 0
    too_long_removed: int = 0
    trimmed: int = 0
    """Records over the size limit, left out by seeded sampling."""

    def stats(self) -> DataStats:
        chars = [len(r.prompt_text()) + len(r.output) for r in self.records]
        return DataStats(
            records=len(self.records),
            duplicates_removed=self.duplicates_removed,
            leaks_removed=self.leaks_removed,
            too_long_removed=self.too_long_removed,
            mean_chars=round(sum(chars) / len(chars), 1) if chars else 0.0,
            p99_tokens=percentile(self.tokens, 99) if self.tokens else None,
            max_tokens=max(self.tokens) if self.tokens else None,
        )

    def summary(self) -> str:
        return (
            f"{len(self.records)} records ({self.invalid} invalid, {self.duplicates_removed} "
            f"duplicates, {self.leaks_removed} benchmark leaks, {self.too_long_removed} too "
            f"long, {self.trimmed} over the size limit removed)"
        )


def parse_records(items: Iterable[Any]) -> tuple[list[AlpacaRecord], int, list[str]]:
    """Untrusted items -> records; returns (records, invalid count, a few error messages)."""
    records: list[AlpacaRecord] = []
    invalid = 0
    examples: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, AlpacaRecord):
            records.append(item)
            continue
        try:
            if not isinstance(item, dict):
                raise TypeError(f"a record must be a JSON object, got {type(item).__name__}")
            records.append(AlpacaRecord.model_validate(item))
        except (ValidationError, TypeError) as exc:
            invalid += 1
            if len(examples) < MAX_INVALID_EXAMPLES:
                detail = (
                    format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                )
                examples.append(f"record {index}: {detail.replace(chr(10), '; ')}")
    return records, invalid, examples


def _key(record: AlpacaRecord) -> tuple[str, str, str]:
    return (
        " ".join(record.instruction.split()),
        " ".join(record.input.split()),
        " ".join(record.output.split()),
    )


def check_records(
    items: Iterable[Any],
    *,
    leak_index: LeakMatcher,
    tokens: TokenCounter,
    max_tokens: int,
    task_description: str = "",
) -> CheckedData:
    """Schema, duplicates, leaks and the token limit, over every record. Instructions that
    pass get the benchmark's task description in front (:func:`ftapi.prompts.task_prompt`),
    as the evaluator asks; the leak check sees them without it."""
    records, invalid, examples = parse_records(items)
    seen: set[tuple[str, str, str]] = set()
    unique: list[AlpacaRecord] = []
    for record in records:
        key = _key(record)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    clean = [
        r.model_copy(update={"instruction": task_prompt(task_description, r.instruction)})
        for r in unique
        if not leak_index.leaks(r.instruction, r.input, r.output)
    ]
    lengths = [tokens.record_tokens(r.prompt_text(), r.output) for r in clean]
    kept = [(r, n) for r, n in zip(clean, lengths, strict=True) if n <= max_tokens]
    return CheckedData(
        records=[r for r, _ in kept],
        tokens=[n for _, n in kept],
        invalid=invalid,
        invalid_examples=examples,
        duplicates_removed=len(records) - len(unique),
        leaks_removed=len(unique) - len(clean),
        too_long_removed=len(clean) - len(kept),
    )


def finalize(data: CheckedData, *, cutoff_len: int, limit: int, seed: int) -> CheckedData:
    """Drop records longer than ``cutoff_len`` and sample down to ``limit`` (seeded)."""
    kept = [(r, n) for r, n in zip(data.records, data.tokens, strict=True) if n <= cutoff_len]
    too_long = len(data.records) - len(kept)
    trimmed = 0
    if len(kept) > limit:
        chosen = sorted(random.Random(seed).sample(range(len(kept)), limit))
        trimmed = len(kept) - limit
        kept = [kept[i] for i in chosen]
    result = replace(
        data,
        records=[r for r, _ in kept],
        tokens=[n for _, n in kept],
        too_long_removed=data.too_long_removed + too_long,
        trimmed=data.trimmed + trimmed,
    )
    if not result.records:
        raise DataError(f"no training data left after validation: {result.summary()}")
    return result
