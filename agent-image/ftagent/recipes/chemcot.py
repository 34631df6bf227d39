"""Built-in recipe for ChemCoT (``OpenMol/ChemCoTDataset``).

Schema (dataset card, files ``chemcotbench-cot/<task>/<subtask>.json``): ``id``, ``query``,
``task`` (``mol_und``, ``mol_edit``, ``mol_opt``, ``rxn``), ``subtask``, ``struct_cot``
(structured reasoning, most rows), ``raw_cot`` (free reasoning, some rows) and ``meta`` (an
object, sometimes stored as JSON text). The reference answer is not a documented column; this
recipe looks for it under ``meta.gt`` first (the RD-Agent preparation moves it there), then
``meta`` keys answer/reference/target/output/product, then top-level ``gt``/``answer``. Rows
without one are skipped. Output = the reasoning (``struct_cot``, else ``raw_cot``) followed by
the benchmark's ``{"output": ...}`` object (``cot_result``, the reaction files' name for the
structured reasoning, counts as ``struct_cot``); rows with reasoning are preferred. A ChemCoTBench
benchmark uses the rows of its own task (``reaction`` is the dataset's ``rxn``).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe, get, parse_json_text, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark

TASK_OF_SUBSET = {
    "mol_und": "mol_und",
    "mol_edit": "mol_edit",
    "mol_opt": "mol_opt",
    "reaction": "rxn",
}
ANSWER_KEYS = ("gt", "answer", "reference", "target", "output", "product")


def reference_answer(row: Row) -> object | None:
    meta = parse_json_text(get(row, "meta"))
    if isinstance(meta, dict):
        for key in ANSWER_KEYS:
            if meta.get(key) not in (None, ""):
                return meta[key]
    value = get(row, "gt", "answer")
    return None if value in (None, "") else value


class ChemCoTRecipe(Recipe):
    name = "chemcot"
    dataset = "chemcot"
    prefer_scan = True

    def _task(self, benchmark: Benchmark) -> str | None:
        return TASK_OF_SUBSET.get(benchmark.eval_subset or "")

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        task = self._task(benchmark)
        if task is None:
            return files.files
        by_folder = [f for f in files.files if task in PurePosixPath(f.relative).parts]
        return by_folder or files.files  # a single file: the task column decides

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("query",), ("meta", "gt", "answer")]

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        task = self._task(benchmark)
        row_task = text(get(row, "task"))
        if task and row_task and row_task != task:
            return None
        query = text(get(row, "query"))
        answer = reference_answer(row)
        if not query or answer is None:
            return None
        if isinstance(answer, str):
            answer = answer.strip()
        final = json.dumps({"output": answer}, ensure_ascii=False)
        reasoning = text(get(row, "struct_cot", "cot_result")) or text(get(row, "raw_cot"))
        output = f"{reasoning}\n\n{final}" if reasoning else final
        return Converted(AlpacaRecord(instruction=query, output=output), preferred=bool(reasoning))
