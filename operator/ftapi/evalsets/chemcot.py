"""Evaluation-set layouts of the ChemCoTBench family (``OpenMol/ChemCoTBench``).

The repository holds one JSON array per subtask, ``chemcotbench/<task>/<subtask>.json``, with
rows ``id``, ``query``, ``gt`` (text; empty for mol_edit and mol_opt), ``task``, ``subtask`` and
``meta`` (JSON text). The OpenCompass fork RD-Agent runs makes one dataset per subtask: it loads
the whole repository (``load_dataset(path, split='train')``: all 21 files in sorted path order),
keeps the rows whose ``task`` and ``subtask`` are that subtask's, maps them and shuffles them with
``Dataset.shuffle(seed=42)``; RD-Agent then takes validation ``[:min(100, n // 2)]`` and test
``[-min(100, n // 2):]`` of every subtask dataset. :meth:`ChemCoTEvalSet.build` therefore emits
the items subtask by subtask, each subtask already in that shuffled order, with the subtask as
the split group (``shuffle_seed`` stays None: the seeded permutation is per subtask, not over
the whole benchmark), so :func:`~ftapi.evalsets.base.cut_splits` cuts exactly upstream's items.

The model is asked the row's ``query`` as it is (the fork's prompt template is ``{prompt}`` =
``query``): it already names the molecules and the JSON object the answer must be written in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ftapi.evalsets.base import EvalRow, EvalSet, LayoutError, SourceRow, shuffled

REPO = "OpenMol/ChemCoTBench"
SEED = 42
"""``ChemCoTBench*Dataset.load(seed=42)``: every subtask dataset is shuffled with it."""

SUBTASKS: Mapping[str, tuple[str, ...]] = {
    "mol_und": ("fg_count", "ring_count", "Murcko_scaffold", "ring_system_scaffold", "equivalence"),
    "mol_edit": ("add", "delete", "sub"),
    "mol_opt": ("drd", "gsk", "jnk", "logp", "qed", "solubility"),
    "reaction": ("fs", "retro", "rcr", "nepp", "mechsel"),
}
"""The subtask datasets of each task, in the order of the fork's configs
(``configs/datasets/chemcotbench/chemcotbench_<task>_gen.py``)."""

PROPERTY_OF_SUBTASK: Mapping[str, str] = {
    "drd": "drd2",
    "gsk": "gsk3b",
    "jnk": "jnk3",
    "logp": "logp",
    "qed": "qed",
    "solubility": "solubility",
}
"""The fork's ``PROP_NAME_MAP``: the oracle each mol_opt subtask is scored with."""

TRAINING_TASKS: Mapping[str, str] = {"rxn": "reaction"}
"""ChemCoTDataset's task names that differ from the benchmark's."""
TRAINING_SUBTASKS: Mapping[str, str] = {"fs_major_product": "fs", "fs_by_product": "fs"}
"""ChemCoTDataset's subtask names that differ from the benchmark's."""

SOURCES = (
    "Jensen246/opencompass@abc7c91a:opencompass/datasets/chemcotbench/chemcotbench_mol_und.py",
    "Jensen246/opencompass@abc7c91a:opencompass/datasets/chemcotbench/chemcotbench_mol_edit.py",
    "Jensen246/opencompass@abc7c91a:opencompass/datasets/chemcotbench/chemcotbench_mol_opt.py",
    "Jensen246/opencompass@abc7c91a:opencompass/datasets/chemcotbench/chemcotbench_reaction.py",
    "Jensen246/opencompass@abc7c91a:opencompass/configs/datasets/chemcotbench/",
    "microsoft/RD-Agent@471eb30d:rdagent/scenarios/finetune/benchmark/benchmark.py",
    "microsoft/RD-Agent@471eb30d:rdagent/app/finetune/llm/ui/benchmarks/chemcotbench.py",
)

# The fork's source-molecule patterns (``_extract_source_smiles_from_query`` of mol_edit, tried
# in this order; ``_extract_source_smiles`` of mol_opt, which stops at a full stop).
_EDIT_SOURCE = (
    re.compile(r"Input Molecule:\s*([^\s,]+)"),
    re.compile(r"Molecule SMILES:\s*([^\s,]+)"),
    re.compile(r"Source Molecule:\s*([^\s,]+)"),
)
_OPT_SOURCE = re.compile(r"Source Molecule:\s*([^\s.]+)")

# Molecules an item is about, for the exclusion keys (our own, used on both sides).
_MOLECULE_FIELD = re.compile(
    r"(?:Input Molecule(?: [AB])?|Molecule [AB]|Source Molecule|Input Reactants|Input Product"
    r"|Input Reaction|Reagents|Molecule SMILES)\s*:\s*(\S+)"
)


def render_question(query: str) -> str:
    """The text the model is asked for one row: the query itself (it carries the molecules,
    the task and the JSON object to answer in). Training rows are rendered with it too."""
    return query.strip()


def edit_source(query: str) -> str | None:
    """The input molecule of a mol_edit query, as the fork's evaluator reads it."""
    for pattern in _EDIT_SOURCE:
        match = pattern.search(query)
        if match:
            return match.group(1).strip()
    return None


def opt_source(query: str) -> str | None:
    """The source molecule of a mol_opt query (``Source Molecule: <SMILES>.``)."""
    match = _OPT_SOURCE.search(query)
    return match.group(1).strip() if match else None


def benchmark_task(task: str) -> str:
    return TRAINING_TASKS.get(task, task)


def benchmark_subtask(subtask: str) -> str:
    return TRAINING_SUBTASKS.get(subtask, subtask)


def item_keys(task: str, subtask: str, query: str, row_id: str | None = None) -> list[str]:
    """Identifying texts of a ChemCoTBench item or a ChemCoTDataset row (same key space):
    the query text, the row id, and the task, subtask and the molecules the query names (so a
    training row about the same molecules in other words is recognised too)."""
    task, subtask = benchmark_task(task), benchmark_subtask(subtask)
    keys = [query]
    if row_id:
        keys.append(f"chemcot row {row_id}")
    molecules = [m.rstrip(",.;") for m in _MOLECULE_FIELD.findall(query)]
    molecules = [m for m in molecules if m]
    if molecules:
        keys.append(f"chemcot {task} {subtask} molecules " + " ".join(molecules))
    return keys


def _meta(row: SourceRow) -> dict[str, Any]:
    meta = row.json_field("meta")
    if not isinstance(meta, dict):
        raise LayoutError(row.file, row.position, "'meta' is not a JSON object")
    return meta


def _meta_text(row: SourceRow, meta: Mapping[str, Any], name: str) -> str:
    value = meta.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LayoutError(row.file, row.position, f"meta has no non-empty {name!r}")
    return value.strip()


class ChemCoTEvalSet(EvalSet):
    """One ChemCoTBench task (mol_und, mol_edit, mol_opt, reaction) with its subtask files."""

    task: str

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        subtasks = SUBTASKS[self.task]
        by_subtask: dict[str, list[SourceRow]] = {s: [] for s in subtasks}
        for row in rows:
            # The fork's filter: x['task'] == task and x['subtask'] == subtask.
            if row.text("task") != self.task:
                continue
            subtask = row.text("subtask")
            if subtask in by_subtask:
                by_subtask[subtask].append(row)
        items: list[EvalRow] = []
        for subtask in subtasks:
            built = [self._item(row, subtask) for row in by_subtask[subtask]]
            items += [built[i] for i in shuffled(len(built), SEED)]
        return items

    def _item(self, row: SourceRow, subtask: str) -> EvalRow:
        row_id = row.text("id")
        query = row.text("query")
        answer, extra = self._gold(row, subtask, query)
        return EvalRow(
            id=f"{subtask}/{row_id}",
            question=render_question(query),
            answer=answer,
            extra={"subtask": subtask, **extra},
            group=subtask,
            keys=item_keys(self.task, subtask, query, row_id),
        )

    def _gold(self, row: SourceRow, subtask: str, query: str) -> tuple[str, dict[str, Any]]:
        if self.task == "mol_und":
            return str(row.field("gt")), {}
        if self.task == "mol_edit":
            meta = _meta(row)
            source = edit_source(query)
            if not source:
                raise LayoutError(row.file, row.position, "query names no 'Input Molecule:'")
            extra: dict[str, Any] = {"source": source}
            if subtask in ("add", "sub"):
                extra["added_group"] = _meta_text(row, meta, "added_group")
            if subtask in ("delete", "sub"):
                extra["removed_group"] = _meta_text(row, meta, "removed_group")
            return _meta_text(row, meta, "reference"), extra
        if self.task == "mol_opt":
            source = opt_source(query)
            if not source:
                meta = _meta(row)
                source = str(meta.get("source", meta.get("src", ""))).strip()
            if not source:
                raise LayoutError(row.file, row.position, "query names no 'Source Molecule:'")
            return "", {"source": source, "property": PROPERTY_OF_SUBTASK[subtask]}
        # reaction: gt as it is; forward synthesis keeps the major product of its JSON.
        gt = row.field("gt")
        answer: Any = gt
        if subtask == "fs" and isinstance(gt, str) and gt.startswith("{"):
            try:
                answer = json.loads(gt).get("Major Product", "")
            except json.JSONDecodeError:
                answer = gt
        return (str(answer) if answer else ""), {}


_FORMAT = "\nReply with a JSON object: "
EXAMPLES: Mapping[str, dict[str, Any]] = {
    "mol_und": {
        "id": "00000000-0000-4000-8000-000000000001",
        "query": "Extract the Murcko scaffold of the molecule."
        + _FORMAT
        + '{"Output Scaffold": "SMILES"}\nInput Molecule: Cc1ccc(-c2ccccc2)cc1.',
        "gt": "c1ccc(-c2ccccc2)cc1",
        "task": "mol_und",
        "subtask": "Murcko_scaffold",
        "meta": "{}",
    },
    "mol_edit": {
        "id": "00000000-0000-4000-8000-000000000002",
        "query": "Modify the molecule CCc1ccccc1 by adding a hydroxyl."
        + _FORMAT
        + '{"output": "SMILES"}\nInput Molecule: CCc1ccccc1, Functional Group to add: hydroxyl.',
        "gt": "",
        "task": "mol_edit",
        "subtask": "add",
        "meta": '{"molecule": "CCc1ccccc1", "reference": "OCCc1ccccc1", "added_group": "hydroxyl"}',
    },
    "mol_opt": {
        "id": "00000000-0000-4000-8000-000000000003",
        "query": "Optimise the Source Molecule to raise its DRD2 activity."
        + _FORMAT
        + '{"Final Target Molecule": "SMILES"}\n\nSource Molecule: COc1ccccc1.',
        "gt": "",
        "task": "mol_opt",
        "subtask": "drd",
        "meta": '{"type": "small"}',
    },
    "reaction": {
        "id": "00000000-0000-4000-8000-000000000004",
        "query": "Predict the major product and the by-products."
        + _FORMAT
        + '{"Major Product": "SMILES", "Byproduct(s)": "SMILES"}\n'
        + "Input Reactants: CC(=O)Cl.OCC, Reagents: CCN(CC)CC.",
        "gt": '{"Major Product": "CCOC(C)=O", "Byproduct(s)": "Cl"}',
        "task": "reaction",
        "subtask": "fs",
        "meta": "{}",
    },
}
"""One made-up row of each task's first file (``ftctl benchmarks KEY`` shows its prompt)."""


def _evalset(benchmark: str, task: str, question_note: str) -> ChemCoTEvalSet:
    return ChemCoTEvalSet(
        benchmark=benchmark,
        repo=REPO,
        task=task,
        files=tuple(sorted(f"chemcotbench/{task}/{s}.json" for s in SUBTASKS[task])),
        example=EXAMPLES[task],
        upstream_size=600 if task == "mol_opt" else None,
        split_note=(
            f"Rows with task {task!r}, one dataset per subtask ({', '.join(SUBTASKS[task])}): "
            "each subtask's rows in file order, shuffled with seed 42; validation = the first "
            "min(limit, n//2), test = the last min(limit, n//2) of every subtask."
        ),
        question_note=question_note,
        sources=SOURCES,
    )


EVALSETS: Mapping[str, EvalSet] = {
    "chemcotbench_mol_und": _evalset(
        "chemcotbench_mol_und",
        "mol_und",
        "Question = query; gold = gt (a count, Yes/No, or a scaffold SMILES); id = "
        "'<subtask>/<id>'.",
    ),
    "chemcotbench_mol_edit": _evalset(
        "chemcotbench_mol_edit",
        "mol_edit",
        "Question = query; gold = meta.reference (gt is empty); extra: source (from "
        "'Input Molecule:' of the query), added_group/removed_group from meta.",
    ),
    "chemcotbench_mol_opt": _evalset(
        "chemcotbench_mol_opt",
        "mol_opt",
        "Question = query; no gold (gt is empty): extra source (from 'Source Molecule:' of the "
        "query) and property (drd2, gsk3b, jnk3, logp, qed, solubility from the subtask).",
    ),
    "chemcotbench_reaction": _evalset(
        "chemcotbench_reaction",
        "reaction",
        "Question = query; gold = gt (fs: the 'Major Product' of its JSON text; retro/nepp "
        "SMILES, rcr condition, mechsel letter).",
    ),
}
