"""Built-in recipe for FinanceIQ (``Duxiaoman-DI/FinanceIQ``).

Real layout (the same repository as the benchmark): ``data/test/<subject>.csv`` and
``data/dev/<subject>.csv`` for ten subjects, header ``,Question,A,B,C,D,Answer``. RD-Agent
trains only on the FIRST rows of each test CSV, the ones its ``split.py`` does not keep for
the benchmark, and deletes the dev CSVs (the benchmark's in-context examples; the catalog
drops the ``dev`` split). This recipe reads exactly the ten test CSVs, cuts each one with the
benchmark's own rule (:func:`ftapi.evalsets.financeiq.training_rows`), and on top of that
leaves out any row whose question is an evaluation item's (:meth:`keys`, the key space of
:class:`ftapi.evalsets.financeiq.FinanceIqEvalSet`). The instruction is the item exactly as
the evaluator asks it (:func:`ftapi.evalsets.financeiq.render_question`); the output is the
answer written as the benchmark's in-context examples write it (``答案是: B``), so its last
capital letter is the gold.
"""

from __future__ import annotations

import dataclasses

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark
from ftapi.evalsets import LayoutError
from ftapi.evalsets.financeiq import (
    COLUMNS,
    LETTERS,
    SHOT_ANSWER,
    TEST_FILES,
    cells,
    render_question,
    subject_of,
    training_rows,
)


def training_part(file: RawFile) -> RawFile:
    """``file`` restricted to its training rows (the benchmark keeps the others)."""
    rows = file.take(list(training_rows(len(file))))
    return dataclasses.replace(file, _rows=rows, _table=None)


class FinanceIqRecipe(Recipe):
    name = "financeiq"
    dataset = "financeiq"

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        """The training part of each subject's test CSV, in the benchmark's subject order
        (files with no training rows are left out)."""
        by_path = {file.relative: file for file in files.files if file.format == "csv"}
        selected = [training_part(by_path[path]) for path in TEST_FILES if path in by_path]
        return [file for file in selected if len(file)]

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [(column,) for column in COLUMNS]

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        question = row.get("Question")
        return [question] if isinstance(question, str) else []

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        try:
            values = cells(row, file.relative, None)
        except LayoutError:
            return None
        answer = values["Answer"].strip()
        if answer not in LETTERS or not values["Question"].strip():
            return None
        subject = subject_of(file.relative)
        instruction = render_question(
            subject, values["Question"], {letter: values[letter] for letter in LETTERS}
        )
        answer_format = benchmark.shots_answer if benchmark.shots else SHOT_ANSWER
        return Converted(
            record=AlpacaRecord(instruction=instruction, output=answer_format.format(answer=answer))
        )
