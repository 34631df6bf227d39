"""Built-in recipe for PANORAMA (``LG-AI-Research/PANORAMA``).

Training rows are the tasks' ``<TASK>/train.parquet`` files (PAR4PC, PI4PC, NOC4PC), in the
same column layouts as the benchmarks' ``test.parquet`` (see :mod:`ftapi.evalsets.panorama`);
RD-Agent deletes the ``*validation*``/``*test*`` files after download and the catalog
excludes them too. ``panorama.parquet`` (raw records) and the specification archives are not
read. A PANORAMA benchmark trains on its own task's file only; other benchmarks get all three.

Each row is rendered with the evaluation set's renderer (the instruction is exactly what the
evaluator asks after the task description) and answered with the JSON object the fork's
scorer reads: PAR4PC ``{"answer": "A"}`` or ``{"answer": ["A", "C"]}`` (``gold_answers``),
PI4PC ``{"answer": 17}`` (the first of ``gold_answers``), NOC4PC ``{"code": "103"}``
(``answer.code``). Rows whose task, application and claim number are an evaluation item's
(:func:`ftapi.evalsets.panorama.item_key`) are left out.
"""

from __future__ import annotations

import json

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark
from ftapi.evalsets.base import LayoutError, SourceRow
from ftapi.evalsets.panorama import (
    TASKS,
    gold_answer,
    render,
    reply,
    row_key,
    train_file,
)

COLUMNS = {
    "PAR4PC": ("application_number", "claim_number", "context", "options", "gold_answers"),
    "PI4PC": (
        "application_number",
        "claim_number",
        "context",
        "prior_art_specification",
        "options",
        "gold_answers",
    ),
    "NOC4PC": (
        "application_number",
        "claim_number",
        "context",
        "prior_art_specifications",
        "answer",
    ),
}
"""The columns each task's rows are read from (the benchmark layouts)."""


def task_of(file: RawFile) -> str | None:
    """The task whose training file ``file`` is (exactly ``<TASK>/train.parquet``)."""
    return next((task for task in TASKS if file.relative == train_file(task)), None)


def _source(row: Row, file: RawFile) -> SourceRow:
    return SourceRow(file=file.relative, position=-1, row=row)


class PanoramaRecipe(Recipe):
    name = "panorama"
    dataset = "panorama"

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        known = [file for file in files.files if task_of(file)]
        if benchmark.eval_hf_id == "LG-AI-Research/PANORAMA" and benchmark.task in TASKS:
            return [file for file in known if task_of(file) == benchmark.task]
        return known

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        task = task_of(file)
        return [(column,) for column in COLUMNS[task]] if task else []

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        task = task_of(file)
        if task is None:
            return []
        try:
            return [row_key(task, _source(row, file))]
        except LayoutError:
            return []

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        task = task_of(file)
        if task is None:
            return None
        source = _source(row, file)
        try:
            instruction = render(task, source)
            answer = gold_answer(task, source)
        except LayoutError:
            return None
        if not answer or (task != "NOC4PC" and not json.loads(answer)):
            return None  # no gold: nothing to learn
        return Converted(AlpacaRecord(instruction=instruction, output=reply(task, answer)))
