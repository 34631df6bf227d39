"""Raw training datasets as ``huggingface_hub.snapshot_download`` leaves them in the dataset
cache: parquet, JSON (an array, or an object of arrays), JSON Lines and CSV files in any folder
layout.

This module finds the data files, applies the catalog's exclusions
(:attr:`ftapi.catalog.RawDataset.exclude_patterns` on file names, ``drop_splits`` on the split a
file or JSON key belongs to) and yields rows in a seeded random order, reading only the rows it
hands out (parquet through pyarrow, imported only for parquet files). Used by the built-in
recipes and by the LLM planner (samples for prompts, the input of generated scripts).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ftagent.errors import EnvironmentFailure
from ftapi.catalog import RawDataset

log = logging.getLogger(__name__)

FORMATS = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}
SPLIT_NAMES = ("train", "validation", "valid", "val", "dev", "test", "eval")
_BLOCK = 256

Row = dict[str, Any]


def split_of(relative: str) -> str | None:
    """The split a data file belongs to, from its folders or name (``data/dev/x.csv`` -> dev,
    ``train-00000-of-00001.parquet`` -> train, ``PQA_test.json`` -> test)."""
    path = PurePosixPath(relative.lower())
    for part in path.parts[:-1]:
        if part in SPLIT_NAMES:
            return part
    stem = path.name.split(".")[0]
    for name in SPLIT_NAMES:
        if re.fullmatch(rf"(.*[-_])?{name}([-_].*)?", stem):
            return name
    return None


@dataclass
class RawFile:
    """One data file of a raw dataset."""

    path: Path
    relative: str
    """Path inside the dataset folder, with forward slashes."""
    format: str
    split: str | None
    drop_splits: tuple[str, ...] = ()
    """Splits to leave out of a JSON file that holds one array per split."""
    _rows: list[Row] | None = field(default=None, repr=False)
    _table: Any = field(default=None, repr=False)

    @property
    def stem(self) -> str:
        return PurePosixPath(self.relative).name.split(".")[0]

    def _load(self) -> None:
        if self._rows is not None or self._table is not None:
            return
        if self.format == "parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError as exc:  # pragma: no cover - the agent image installs pyarrow
                raise EnvironmentFailure(f"reading {self.relative} needs pyarrow") from exc
            self._table = pq.read_table(self.path, memory_map=True)
            return
        if self.format == "jsonl":
            rows = []
            with self.path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            log.warning(
                                "%s line %d is not JSON (%s); skipped",
                                self.relative,
                                number,
                                exc.msg,
                            )
            self._rows = rows
        elif self.format == "csv":
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                self._rows = [dict(row) for row in csv.DictReader(handle)]
        else:
            self._rows = _json_rows(self.path, self.drop_splits)

    def __len__(self) -> int:
        self._load()
        return self._table.num_rows if self._table is not None else len(self._rows or [])

    def columns(self) -> list[str]:
        self._load()
        if self._table is not None:
            return list(self._table.column_names)
        first = next((row for row in self._rows or [] if isinstance(row, dict)), {})
        return list(first)

    def take(self, indices: list[int]) -> list[Row]:
        """The rows at ``indices`` (in that order); non-object rows become ``{}``."""
        self._load()
        if self._table is not None:
            rows = self._table.take(indices).to_pylist()
        else:
            rows = [(self._rows or [])[i] for i in indices]
        return [row if isinstance(row, dict) else {} for row in rows]


def _json_rows(path: Path, drop_splits: tuple[str, ...] = ()) -> list[Row]:
    """Rows of a JSON file: an array of objects, or an object holding arrays (one per split;
    the arrays of ``drop_splits`` are left out)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        # Some hubs name JSON Lines files *.json.
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    return []
        return rows
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        splits = [
            key
            for key, value in data.items()
            if key.lower() in SPLIT_NAMES and isinstance(value, list)
        ]
        if splits:
            return [row for key in splits if key.lower() not in drop_splits for row in data[key]]
        for key in ("data", "rows", "examples", "instances"):
            if isinstance(data.get(key), list):
                return data[key]
        lists = [value for value in data.values() if isinstance(value, list)]
        if lists:
            return [row for value in lists for row in value]
        return [data]
    return []


@dataclass
class RawDatasetFiles:
    """The usable data files of one raw dataset, after the catalog's exclusions."""

    dataset: RawDataset
    root: Path
    files: list[RawFile]
    excluded: list[str]

    def select(self, keep: list[RawFile]) -> RawDatasetFiles:
        return RawDatasetFiles(self.dataset, self.root, keep, self.excluded)

    def sampled_rows(self, seed: int) -> Iterator[tuple[RawFile, Row]]:
        """Every row of every file once, in a seeded random order (reproducible)."""
        order = [(index, row) for index, file in enumerate(self.files) for row in range(len(file))]
        random.Random(seed).shuffle(order)
        for start in range(0, len(order), _BLOCK):
            block = order[start : start + _BLOCK]
            wanted: dict[int, list[int]] = {}
            for file_index, row_index in block:
                wanted.setdefault(file_index, []).append(row_index)
            fetched = {
                file_index: dict(zip(rows, self.files[file_index].take(rows), strict=True))
                for file_index, rows in wanted.items()
            }
            for file_index, row_index in block:
                yield self.files[file_index], fetched[file_index][row_index]


def _excluded(relative: str, patterns: tuple[str, ...]) -> bool:
    name = PurePosixPath(relative).name
    return any(
        fnmatch.fnmatch(name.lower(), pattern.lower())
        or fnmatch.fnmatch(relative.lower(), pattern.lower())
        for pattern in patterns
    )


def discover(dataset: RawDataset, root: Path) -> RawDatasetFiles:
    """Find the data files of ``dataset`` under ``root`` (hidden folders such as the hub's
    ``.cache`` are skipped) and drop the excluded ones."""
    if not root.is_dir():
        raise EnvironmentFailure(
            f"raw dataset {dataset.key!r} is not in the dataset cache ({root} is missing); "
            "the prepare step did not download it"
        )
    files: list[RawFile] = []
    excluded: list[str] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in PurePosixPath(relative).parts):
            continue
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None or not path.is_file():
            continue
        split = split_of(relative)
        if _excluded(relative, dataset.exclude_patterns) or split in dataset.drop_splits:
            excluded.append(relative)
            continue
        files.append(
            RawFile(
                path=path,
                relative=relative,
                format=fmt,
                split=split,
                drop_splits=dataset.drop_splits,
            )
        )
    if not files:
        raise EnvironmentFailure(
            f"raw dataset {dataset.key!r} has no usable data files under {root} "
            f"(excluded: {', '.join(excluded) or 'none'})"
        )
    if excluded:
        log.info("dataset %s: excluded %s", dataset.key, ", ".join(excluded))
    return RawDatasetFiles(dataset=dataset, root=root, files=files, excluded=excluded)
