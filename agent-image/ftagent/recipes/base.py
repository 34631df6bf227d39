"""The shared machinery of the built-in data recipes.

A recipe turns rows of one raw dataset into Alpaca records in the benchmark's answer format.
It declares the columns it needs (a missing column is a clear :class:`RecipeSchemaError`
naming it), which files serve a benchmark subset, and how one row becomes a record (or is
skipped). The driver :meth:`Recipe.build` walks the rows in a seeded random order and stops at
the sample size, so sampling happens before any expensive step; rows longer than the model's
context are dropped, never truncated. Rows a recipe marks as not preferred (e.g. without a
worked solution) only fill up what the preferred rows cannot.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ftagent.errors import RecipeSchemaError
from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.records import AlpacaRecord
from ftagent.tokens import TokenCounter
from ftapi.catalog import Benchmark
from ftapi.evalsets import fingerprint

log = logging.getLogger(__name__)

SCAN_FACTOR = 20
"""Rows read per wanted record, at most, while looking for preferred rows."""


@dataclass(frozen=True)
class RecipeRun:
    """The parameters of one recipe run."""

    benchmark: Benchmark
    limit: int
    seed: int
    tokens: TokenCounter
    max_tokens: int
    exclude: frozenset[str] = frozenset()
    """Fingerprints (``ftapi.evalsets.fingerprint``) of the benchmark's evaluation items:
    a row with a matching :meth:`Recipe.keys` is never trained on."""


@dataclass(frozen=True)
class Converted:
    """One row as a record; ``preferred`` rows are used first."""

    record: AlpacaRecord
    preferred: bool = True


@dataclass
class RecipeResult:
    """What a recipe produced, with counts for the plan's notes."""

    recipe: str
    records: list[AlpacaRecord]
    rows_read: int = 0
    skipped: int = 0
    excluded: int = 0
    """Rows left out because they are evaluation items (their fingerprints match)."""
    too_long: int = 0
    fallback: int = 0
    """Records taken from non-preferred rows."""
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.recipe}: {len(self.records)} records from {self.rows_read} rows read "
            f"({self.skipped} skipped, {self.excluded} evaluation items left out, "
            f"{self.too_long} too long, {self.fallback} without "
            f"the preferred content) in {', '.join(self.files)}."
        )


def get(row: Row, *names: str) -> Any:
    """The first present, non-null value among ``names`` (case-insensitive column names)."""
    lowered = {str(key).lower(): key for key in row}
    for name in names:
        key = name if name in row else lowered.get(name.lower())
        if key is not None and row[key] is not None:
            return row[key]
    return None


def parse_json_text(value: Any) -> Any:
    """A JSON object or array stored as text becomes the object; anything else is kept."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def text(value: Any) -> str:
    """A readable string for a cell: lists become lines, objects JSON."""
    value = parse_json_text(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list | tuple):
        return "\n".join(text(item) for item in value if text(item))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def as_list(value: Any) -> list[Any]:
    value = parse_json_text(value)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


class Recipe:
    """Base class of the built-in recipes (one per catalog dataset)."""

    name: ClassVar[str]
    dataset: ClassVar[str]
    prefer_scan: ClassVar[bool] = False
    """Keep reading past the sample size to find preferred rows (bounded by SCAN_FACTOR)."""

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        """The files that serve ``benchmark`` (all by default)."""
        return files.files

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        """Column requirements for ``file``: each tuple lists alternatives, one must exist."""
        return []

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        raise NotImplementedError

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        """The row's identifying texts, in the key space of the benchmark's evaluation items
        (``ftapi.evalsets.EvalRow.keys``): a row whose key fingerprint is in
        ``RecipeRun.exclude`` is an evaluation item and is left out."""
        return []

    def is_evaluation_item(self, row: Row, file: RawFile, run: RecipeRun) -> bool:
        if not run.exclude:
            return False
        return any(fingerprint(key) in run.exclude for key in self.keys(row, file, run.benchmark))

    def check_schema(self, files: list[RawFile], benchmark: Benchmark) -> None:
        for file in files:
            columns = file.columns()
            lowered = {column.lower() for column in columns}
            missing = [
                " or ".join(options)
                for options in self.required_columns(file, benchmark)
                if not any(option.lower() in lowered for option in options)
            ]
            if missing:
                raise RecipeSchemaError(self.dataset, file.relative, missing, columns)

    def build(self, files: RawDatasetFiles, run: RecipeRun) -> RecipeResult:
        """Records for ``run.benchmark``, at most ``run.limit``, from a seeded sample."""
        selected = self.select_files(files, run.benchmark)
        if not selected:
            raise RecipeSchemaError(
                self.dataset,
                str(files.root),
                [f"files for {run.benchmark.task or run.benchmark.key}"],
                [file.relative for file in files.files],
            )
        self.check_schema(selected, run.benchmark)
        result = RecipeResult(recipe=self.name, records=[], files=[f.relative for f in selected])
        reserve: list[AlpacaRecord] = []
        scan_cap = max(SCAN_FACTOR * run.limit, 1000)
        for file, row in files.select(selected).sampled_rows(run.seed):
            result.rows_read += 1
            if self.is_evaluation_item(row, file, run):
                result.excluded += 1
                continue
            converted = self.convert(row, file, run.benchmark)
            if converted is None:
                result.skipped += 1
            else:
                record = converted.record
                if run.tokens.record_tokens(record.prompt_text(), record.output) > run.max_tokens:
                    result.too_long += 1
                elif converted.preferred:
                    result.records.append(record)
                elif len(reserve) < run.limit:
                    reserve.append(record)
            if len(result.records) >= run.limit:
                break
            enough = len(result.records) + len(reserve) >= run.limit
            if enough and (not self.prefer_scan or result.rows_read >= scan_cap):
                break
        missing = run.limit - len(result.records)
        if missing > 0 and reserve:
            result.fallback = min(missing, len(reserve))
            result.records.extend(reserve[:missing])
        log.info("%s", result.summary())
        return result
