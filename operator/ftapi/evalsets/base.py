"""What every benchmark's evaluation set declares: where it lives upstream and how it is read.

Each benchmark family (AIME, PANORAMA, ChemCoTBench, TableBench, FinanceIQ, BioProBench) has a
module beside this one that describes its evaluation sets exactly as upstream lays them out:
the Hugging Face repository, the exact files (no globs), how one row becomes an item (the
question the model sees, with its structured context rendered; the gold answer the scorer
reads; the item's id), how upstream orders the items before it cuts validation and test, and
the sources those facts come from. Nothing here guesses a column: a row without a field the
layout names is a :class:`LayoutError` naming the file, the row and the field.

The prepare step (:mod:`ftoperator.prepare`) reads the files, calls :meth:`EvalSet.build`,
cuts the splits with :func:`cut_splits` and writes the evaluation set, the split ids with
their hash and the exclusion fingerprints into the dataset cache. The evaluator scores
exactly the recorded ids; the agent's recipes skip training rows whose fingerprints match.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FileFormat = Literal["parquet", "json", "jsonl", "csv"]


class LayoutError(ValueError):
    """A file or row that does not have the layout its benchmark declares."""

    def __init__(self, file: str, position: int | None, problem: str) -> None:
        where = file if position is None else f"{file} row {position}"
        super().__init__(f"{where}: {problem}")
        self.file, self.position, self.problem = file, position, problem


@dataclass(frozen=True)
class SourceRow:
    """One row of an upstream file, as read (parquet/JSON values; CSV cells as strings)."""

    file: str
    """Repository-relative path."""
    position: int
    """0-based row number in that file (CSV: after the header)."""
    row: Mapping[str, Any]

    def field(self, name: str) -> Any:
        """The value of column ``name``; a missing column is a LayoutError."""
        if name not in self.row:
            raise LayoutError(
                self.file, self.position, f"no column {name!r} (columns: {sorted(self.row)})"
            )
        return self.row[name]

    def text(self, name: str) -> str:
        """Column ``name`` as a non-empty string."""
        value = self.field(name)
        if not isinstance(value, str) or not value.strip():
            raise LayoutError(self.file, self.position, f"{name!r} is not a non-empty string")
        return value

    def json_field(self, name: str) -> Any:
        """Column ``name`` holding JSON text (PANORAMA's PI4PC/NOC4PC, ChemCoTBench's meta)."""
        value = self.field(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise LayoutError(
                self.file, self.position, f"{name!r} is not JSON text ({exc.msg})"
            ) from exc


class EvalRow(BaseModel):
    """One evaluation item, as the evaluator reads it from the cache's ``eval.jsonl``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    """Stable item id: upstream's id column, or built from the identifying fields."""
    question: str = Field(min_length=1)
    """The item as the model sees it after the task description: the question with its
    structured context (table, options, protocol steps, molecules) rendered as text."""
    answer: str
    """The gold answer as the scorer reads it (may be empty where the scorer needs none,
    e.g. ChemCoTBench's mol_opt, scored by an oracle against the source molecule)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """What the scorer needs besides the gold: options, silver answers, subtask, source."""
    group: str | None = None
    """Split group: validation and test are cut in every group (FinanceIQ: the subject)."""
    keys: list[str] = Field(default_factory=list)
    """Texts that identify the item in a training dataset (normalised by
    :func:`fingerprint`): a training row with one of them is not trained on."""


class EvalSet(BaseModel):
    """The upstream layout of one benchmark's evaluation set. Families subclass it and
    implement :meth:`build` (and :meth:`build_shots` for a few-shot benchmark)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    benchmark: str
    """Catalog key."""
    repo: str
    """Hugging Face dataset id."""
    files: tuple[str, ...]
    """The repository files that form the evaluation set, exactly (read in this order)."""
    shots_files: tuple[str, ...] = ()
    """The files of the in-context examples of a few-shot benchmark."""
    shuffle_seed: int | None = None
    """Upstream shuffles the built items with ``datasets.Dataset.shuffle(seed=...)`` before
    it slices validation and test; None keeps the source order."""
    split_note: str
    """How upstream orders and cuts the items, in a sentence, for ``ftctl benchmarks``."""
    question_note: str
    """How the question (with its context) and the gold are built, from which fields."""
    sources: tuple[str, ...]
    """Where these facts come from: ``owner/repo@commit:path`` of upstream code and cards."""
    upstream_size: int | None = None
    """Items in the real evaluation set (after upstream's filtering), where known."""
    upstream_splits: tuple[int, int] | None = None
    """Validation and test sizes at limits 100/100 where items are cut per group (FinanceIQ's
    subjects), where known; otherwise they follow from ``upstream_size``."""
    example: dict[str, Any] | None = None
    """One made-up row of ``files[0]`` in its upstream layout (structured columns as the
    reader yields them): ``ftctl benchmarks KEY`` builds and shows its prompt."""

    def file_format(self, path: str) -> FileFormat:
        suffix = path.rsplit(".", 1)[-1].lower()
        if suffix not in ("parquet", "json", "jsonl", "csv"):
            raise LayoutError(path, None, f"unknown file format {suffix!r}")
        return suffix  # type: ignore[return-value]

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        """The items of the evaluation set from every row of :attr:`files`, in file order
        (rows of other tasks in a shared file are left out here, never guessed)."""
        raise NotImplementedError

    def build_shots(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        """The in-context examples from the rows of :attr:`shots_files`."""
        return []


class Splits(BaseModel):
    """The exact items a campaign is scored on, recorded in the cache at prepare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    benchmark: str
    items: int
    """Items in the evaluation set."""
    validation_limit: int
    test_limit: int
    validation: list[str]
    """Item ids of the validation split, in evaluation order."""
    test: list[str]
    sha256: str
    """Hash of the benchmark, the limits and both id lists (:func:`splits_hash`)."""


def splits_hash(benchmark: str, validation: Sequence[str], test: Sequence[str]) -> str:
    payload = json.dumps(
        {"benchmark": benchmark, "validation": list(validation), "test": list(test)},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def shuffled(count: int, seed: int | None) -> list[int]:
    """The order of ``count`` items after ``datasets.Dataset.shuffle(seed=seed)``: position
    i holds the original index ``permutation[i]`` of ``numpy.random.default_rng(seed)``,
    which is what that method uses. None keeps the source order."""
    if seed is None:
        return list(range(count))
    import numpy as np

    return [int(i) for i in np.random.default_rng(seed).permutation(count)]


def head_tail(count: int, limit: int) -> tuple[range, range]:
    """RD-Agent's ranges over ``count`` items: validation ``[:min(limit, count // 2)]``,
    test ``[-min(limit, count // 2):]`` (disjoint; an odd middle item is unused)."""
    size = min(limit, count // 2)
    return range(0, size), range(count - size, count)


def cut_splits(
    evalset: EvalSet, items: Sequence[EvalRow], validation_limit: int, test_limit: int
) -> Splits:
    """Validation and test as upstream cuts them: shuffle (where upstream does), then in
    every group (in order of first appearance; one group when items have none) the first
    ``min(limit, n // 2)`` items for validation and the last as many for test."""
    ids = [item.id for item in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) < len(ids) else []
    if duplicates:
        raise LayoutError(evalset.benchmark, None, f"repeated item ids {duplicates[:5]}")
    order = [items[i] for i in shuffled(len(items), evalset.shuffle_seed)]
    groups: dict[str | None, list[EvalRow]] = {}
    for item in order:
        groups.setdefault(item.group, []).append(item)
    validation: list[str] = []
    test: list[str] = []
    for members in groups.values():
        head, _ = head_tail(len(members), validation_limit)
        _, tail = head_tail(len(members), test_limit)
        validation += [members[i].id for i in head]
        test += [members[i].id for i in tail]
    return Splits(
        benchmark=evalset.benchmark,
        items=len(items),
        validation_limit=validation_limit,
        test_limit=test_limit,
        validation=validation,
        test=test,
        sha256=splits_hash(evalset.benchmark, validation, test),
    )


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CJK = re.compile(r"([\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f])")
_SPACES = re.compile(r"\s+")


_CONFUSABLES = str.maketrans(
    # Cyrillic and Greek letters drawn like Latin ones (after case folding).
    "аеорсухіјѕԁԛԝѵһӏɡοαντρικμ",
    "aeopcyxijsdqwvhlgoavtpikm",
)


def _visible(text: str) -> str:
    """Without format characters (soft hyphens, zero-width spaces and joiners, bidi marks:
    Unicode category Cf), which render as nothing yet split or disguise words."""
    return "".join(char for char in text if unicodedata.category(char) != "Cf")


def normalize(text: str) -> str:
    """Comparable form of a text: NFKC, format characters removed, case-folded, Cyrillic and
    Greek look-alikes as their Latin letters, punctuation removed, CJK characters as separate
    tokens, single spaces."""
    text = _visible(unicodedata.normalize("NFKC", text)).casefold().translate(_CONFUSABLES)
    text = _NON_WORD.sub(" ", text)
    text = _CJK.sub(r" \1 ", text)
    return _SPACES.sub(" ", text).strip()


def fingerprint(text: str) -> str:
    """The hash of a normalised identifying text (what the cache's exclusion list holds:
    hashes, never the evaluation items themselves)."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()[:32]


def fingerprints(items: Iterable[EvalRow]) -> list[str]:
    """Sorted fingerprints of every key of ``items``."""
    return sorted({fingerprint(key) for item in items for key in item.keys if normalize(key)})


def dumps(value: Any) -> str:
    """Compact JSON for structured context in prompts (keys in source order)."""
    return json.dumps(value, ensure_ascii=False)
