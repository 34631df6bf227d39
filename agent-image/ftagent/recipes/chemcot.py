"""Built-in recipe for ChemCoT (``OpenMol/ChemCoTDataset``).

Layout (RD-Agent ``datasets/chemcot/README.md`` and ``normalize_rcr``): JSON arrays
``chemcotbench-cot/<task>/<subtask>.json`` with ``task`` in mol_und, mol_edit, mol_opt, rxn
(the benchmark's ``reaction``) and rows ``id``, ``query``, ``task``, ``subtask``, ``struct_cot``
(structured reasoning, JSON text), ``raw_cot`` and ``meta`` (an object or JSON text);
``rxn/rcr.json`` keeps its answer in a top-level ``gt`` and its reasoning in ``cot_result``
(wrapped in a ```json fence), which RD-Agent's ``normalize_rcr`` moves to ``meta.gt`` and
``struct_cot``: both forms are read. The answer is, in this order, the top-level ``gt``,
``meta.gt``, ``meta.reference``, ``meta.target``, or the subtask's answer key inside the
``struct_cot`` JSON; rows without one are skipped.

A ChemCoTBench benchmark trains on the files of its own task folder. The instruction is the
query rendered exactly as the evaluation set renders its items
(:func:`ftapi.evalsets.chemcot.render_question`); the output is the reasoning (``struct_cot``,
else ``cot_result``, else ``raw_cot``; rows with reasoning are preferred) followed by a
```json block holding the answer under the key the benchmark's parser reads for that subtask
(``count``, ``Output Scaffold``, ``output``, ``Final Target Molecule``, ``Major Product``,
``Reactants``, ``condition``, ``choice``), so the fork's scorer finds it. Rows that are
evaluation items (same query, row id, or task, subtask and molecules) are left out.
"""

from __future__ import annotations

import json
from typing import Any

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe, get, parse_json_text, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark
from ftapi.evalsets.chemcot import benchmark_subtask, item_keys, render_question

TASK_OF_SUBSET = {
    "mol_und": "mol_und",
    "mol_edit": "mol_edit",
    "mol_opt": "mol_opt",
    "reaction": "rxn",
}
"""Benchmark subset -> ChemCoTDataset task folder."""

ANSWER_KEY = {
    "fg_count": "count",
    "ring_count": "count",
    "Murcko_scaffold": "Output Scaffold",
    "ring_system_scaffold": "output",
    "equivalence": "output",
    "add": "output",
    "delete": "output",
    "sub": "output",
    "drd": "Final Target Molecule",
    "gsk": "Final Target Molecule",
    "jnk": "Final Target Molecule",
    "logp": "Final Target Molecule",
    "qed": "Final Target Molecule",
    "solubility": "Final Target Molecule",
    "fs": "Major Product",
    "fs_by_product": "Byproduct(s)",
    "retro": "Reactants",
    "rcr": "condition",
    "nepp": "output",
    "mechsel": "choice",
}
"""The JSON key the fork's parser reads first for each subtask (training subtask names as
they are, ``fs_major_product`` via :func:`benchmark_subtask`)."""


def _key(subtask: str) -> str:
    return ANSWER_KEY.get(subtask) or ANSWER_KEY.get(benchmark_subtask(subtask), "output")


def _unfenced(value: str) -> str:
    """Reasoning without ``` fences (the scorer reads the first fenced block it finds)."""
    return value.replace("```json", "").replace("```", "").strip()


def reference_answer(row: Row, subtask: str) -> Any | None:
    """The row's answer (see the module docstring for the order)."""
    value = get(row, "gt")
    if value not in (None, ""):
        return value
    meta = parse_json_text(get(row, "meta"))
    if isinstance(meta, dict):
        for name in ("gt", "reference", "target"):
            if meta.get(name) not in (None, ""):
                return meta[name]
    for column in ("struct_cot", "cot_result"):
        cot = parse_json_text(_unfenced(text(get(row, column))))
        if isinstance(cot, dict) and cot.get(_key(subtask)) not in (None, ""):
            return cot[_key(subtask)]
    return None


class ChemCoTRecipe(Recipe):
    name = "chemcot"
    dataset = "chemcot"
    prefer_scan = True

    def _task(self, benchmark: Benchmark) -> str | None:
        if not benchmark.key.startswith("chemcotbench_"):
            return None
        return TASK_OF_SUBSET.get(benchmark.task or "")

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        task = self._task(benchmark)
        if task is None:
            return files.files
        folder = f"chemcotbench-cot/{task}/"
        return [f for f in files.files if f.relative.startswith(folder)]

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("query",), ("task",), ("subtask",), ("meta",)]

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        query = text(get(row, "query"))
        if not query:
            return []
        row_id = text(get(row, "id")) or None
        return item_keys(text(get(row, "task")), text(get(row, "subtask")), query, row_id)

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        task = self._task(benchmark)
        if task is not None and text(get(row, "task")) != task:
            return None
        query = text(get(row, "query"))
        subtask = text(get(row, "subtask"))
        answer = reference_answer(row, subtask)
        if not query or answer is None:
            return None
        if isinstance(answer, str):
            answer = answer.strip()
        key = _key(subtask) if task is not None else "output"
        final = "```json\n" + json.dumps({key: answer}, ensure_ascii=False) + "\n```"
        reasoning = _unfenced(
            text(get(row, "struct_cot", "cot_result")) or text(get(row, "raw_cot"))
        )
        output = f"{reasoning}\n\n{final}" if reasoning else final
        record = AlpacaRecord(instruction=render_question(query), output=output)
        return Converted(record, preferred=bool(reasoning))
