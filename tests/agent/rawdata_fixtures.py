"""Small raw datasets in the real schemas of the six catalog datasets, written by the tests.

Each writer lays files out as ``huggingface_hub.snapshot_download`` would (including the files
the catalog excludes, so the tests see them dropped) and returns a question that also appears
in the benchmark evaluation set written by :func:`write_benchmark` (a planted leak).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fixtures.hub_layouts import panorama as hub

from ftapi.evalsets import EvalRow
from ftapi.workspace import CampaignLayout
from ftoperator.prepare import install_evaluation_set


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )


def _parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


# ---------------------------------------------------------------- deepscaler

DEEPSCALER_LEAK = "Find the number of ordered pairs of positive integers whose product is 2025."


def deepscaler_rows(n: int = 24) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        solution = (
            f"We compute {i} squared plus {i}, which gives {i * i + i}. "
            f"Therefore the answer is $\\boxed{{{i * i + i}}}$."
            if i % 3 != 2
            else ""
        )
        rows.append(
            {
                "problem": f"Let $x = {i}$. Compute $x^2 + x$ for problem number {i}.",
                "solution": solution,
                "answer": str(i * i + i),
            }
        )
    rows.append({"problem": "Simplify $\\frac{2}{4}$.", "solution": "", "answer": "\\frac{1}{2}"})
    rows.append({"problem": DEEPSCALER_LEAK, "solution": "Count divisors.", "answer": "15"})
    return rows


def write_deepscaler(root: Path) -> str:
    _json(root / "deepscaler.json", deepscaler_rows())
    (root / "README.md").write_text("# DeepScaleR\n", encoding="utf-8")
    return DEEPSCALER_LEAK


# ---------------------------------------------------------------- panorama
# The real layouts of fixtures.hub_layouts.panorama (train/validation/test per task folder).

PANORAMA_LEAK = "A battery charging circuit that monitors the voltage of each cell individually."


def panorama_rows(task: str, n: int = 8) -> list[dict[str, Any]]:
    """Rows of ``<task>/*.parquet`` (claim 1 of applications 100..); the first row's first
    claim is the planted leak."""
    make = {"PAR4PC": hub.par4pc_row, "PI4PC": hub.pi4pc_row, "NOC4PC": hub.noc4pc_row}[task]
    rows = [make(100 + i, 1) for i in range(n)]
    context = rows[0]["context"]
    if isinstance(context, str):
        leaked = json.loads(context)
        leaked["claims"][0] = PANORAMA_LEAK
        rows[0]["context"] = json.dumps(leaked)
    else:
        context["claims"][0] = PANORAMA_LEAK
    return rows


def write_panorama(root: Path) -> str:
    schemas = {"PAR4PC": hub.PAR4PC_SCHEMA, "PI4PC": hub.PI4PC_SCHEMA, "NOC4PC": hub.NOC4PC_SCHEMA}
    for task, schema in schemas.items():
        (root / task).mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.Table.from_pylist(panorama_rows(task), schema=schema), root / task / "train.parquet"
        )
    # Benchmark content that the catalog excludes from training.
    validation = pa.Table.from_pylist(panorama_rows("PAR4PC", 2), schema=hub.PAR4PC_SCHEMA)
    pq.write_table(validation, root / "PAR4PC" / "validation.parquet")
    test = pa.Table.from_pylist(panorama_rows("NOC4PC", 2), schema=hub.NOC4PC_SCHEMA)
    pq.write_table(test, root / "NOC4PC" / "test.parquet")
    return PANORAMA_LEAK


# ---------------------------------------------------------------- chemcot

CHEMCOT_LEAK = "Add a hydroxyl group to the molecule CCCCCCCC and give the edited SMILES."


def chemcot_rows(task: str, subtask: str, n: int = 8) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        smiles = "C" * (i + 2)
        meta: Any = {"gt": f"{smiles}O"} if task != "mol_und" else {"gt": i % 4}
        if i % 2:
            meta = json.dumps(meta)  # the dataset stores meta as JSON text in some files
        query = (
            CHEMCOT_LEAK
            if (task == "mol_edit" and i == 6)
            else f"Task {subtask}: work on the molecule {smiles} (case {i})."
        )
        rows.append(
            {
                "id": f"{task}_{subtask}_{i}",
                "query": query,
                "task": task,
                "subtask": subtask,
                "struct_cot": f"Step 1: parse {smiles}.\nStep 2: apply {subtask}." if i % 3 else "",
                "raw_cot": f"Thinking about {smiles} in detail." if i % 3 == 0 else "",
                "meta": meta,
            }
        )
    return rows


def write_chemcot(root: Path) -> str:
    for task, subtask in (
        ("mol_und", "fg_count"),
        ("mol_edit", "add"),
        ("mol_opt", "logp"),
        ("rxn", "fs_major_product"),
    ):
        _json(root / "chemcotbench-cot" / task / f"{subtask}.json", chemcot_rows(task, subtask))
    return CHEMCOT_LEAK


# ---------------------------------------------------------------- tableinstruct

TABLE_LEAK = "What is the total number of medals won by the team that finished in third place?"


def tableinstruct_rows(n: int = 10) -> list[dict[str, Any]]:
    """Rows in TableInstruct's real layout (``table`` as JSON text, no answer column)."""
    rows = []
    table = {"columns": ["team", "gold"], "data": [["A", 3], ["B", 2]]}
    qtypes = ["NumericalReasoning", "FactChecking", "DataAnalysis", "Visualization"]
    for i in range(n):
        qtype = qtypes[i % 4]
        question = TABLE_LEAK if i == 4 else f"How many gold medals in total, variant {i}?"
        instruction_type = "PoT" if qtype == "Visualization" else ("TCoT" if i % 3 else "DP")
        if qtype == "Visualization":
            response = "import pandas as pd\nimport matplotlib.pyplot as plt\nplt.show()"
        elif i % 5 != 2:
            response = f"Add the gold column: 3 + 2 = 5.\nFinal Answer: {5 + i}"
        else:
            response = "Add the gold column: 3 + 2."
        rows.append(
            {
                "id": f"t{i}",
                "qtype": qtype,
                "qsubtype": "Aggregation",
                "instruction": f"Read the table and answer.\n[TABLE]\n{json.dumps(table)}\n"
                f"Question: {question}",
                "instruction_type": instruction_type,
                "table": json.dumps(table),
                "question": question,
                "response": response,
            }
        )
    return rows


def write_tableinstruct(root: Path) -> str:
    _jsonl(root / "TableInstruct_instructions.jsonl", tableinstruct_rows())
    return TABLE_LEAK


# ---------------------------------------------------------------- financeiq

FINANCE_LEAK = "下列关于商业银行资本充足率监管要求的说法中，正确的是哪一项？"


def financeiq_rows(subject: str, n: int = 6, leak: bool = False) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        question = FINANCE_LEAK if leak and i == 0 else f"{subject}第{i}题：以下哪项说法正确？"
        rows.append(
            {
                "": str(i),  # the real files' unnamed row-number column
                "Question": question,
                "A": f"选项甲{i}",
                "B": f"选项乙{i}",
                "C": f"选项丙{i}",
                "D": f"选项丁{i}",
                "Answer": "ABCD"[i % 4],
            }
        )
    return rows


def _csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_financeiq(root: Path) -> str:
    _csv(root / "data" / "test" / "银行从业资格.csv", financeiq_rows("银行从业资格", leak=True))
    _csv(root / "data" / "test" / "保险从业资格CICE.csv", financeiq_rows("保险从业资格CICE"))
    # The benchmark's few-shot examples: dropped by the catalog (drop_splits).
    _csv(root / "data" / "dev" / "银行从业资格.csv", financeiq_rows("开发集", n=2))
    return FINANCE_LEAK


# ---------------------------------------------------------------- bioprobench

BIO_LEAK = "How long should the cell pellet be centrifuged at 300 g before resuspension?"


def bioprobench_rows(task: str, n: int = 8) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        if task == "PQA":
            question = BIO_LEAK if i == 0 else f"Which buffer is used in step {i}?"
            rows.append(
                {
                    "question": question,
                    "choices": [f"{i} minutes", "PBS", "TAE", "water"],
                    "answer": f"{i} minutes",
                    "type": "parameter",
                    "id": f"pqa{i}",
                }
            )
        elif task == "ORD":
            steps = [f"Step {k} of protocol {i}." for k in range(4)]
            wrong = [steps[2], steps[0], steps[3], steps[1]]
            rows.append(
                {
                    "question": f"Order the steps of protocol {i} (title: Cell culture {i}).",
                    "wrong_steps": wrong,
                    "correct_steps": steps,
                    "type": "top",
                    "id": f"ord{i}",
                }
            )
        elif task == "ERR":
            correct = i % 2 == 0
            rows.append(
                {
                    "context": {
                        "purpose": f"Purify DNA sample {i}.",
                        "prior_step": "Add lysis buffer.",
                        "next_step": "Spin the column.",
                    },
                    "corrupted_text": None if correct else f"Incubate at {90 + i} °C for 5 min.",
                    "corrected_text": f"Incubate at {37 + i} °C for 5 min.",
                    "is_correct": correct,
                    "type": "correct" if correct else "parameter",
                    "error_description": "" if correct else "the temperature is too high",
                    "id": f"err{i}",
                }
            )
        else:
            rows.append(
                {
                    "system_prompt": "You are a lab protocol assistant.",
                    "instruction": "Write concise numbered steps.",
                    "input": f"Protocol for staining sample {i}.",
                    "output": [f"{k + 1}. Do thing {k} for sample {i}." for k in range(3)],
                    "id": f"gen{i}",
                    "type": "easy",
                }
            )
    return rows


def write_bioprobench(root: Path) -> str:
    for task in ("PQA", "ORD", "ERR", "GEN"):
        _json(root / f"{task}.json", bioprobench_rows(task))
    _json(root / "PQA_test.json", bioprobench_rows("PQA", 2))  # the benchmark: excluded
    return BIO_LEAK


WRITERS: dict[str, Callable[[Path], str]] = {
    "deepscaler": write_deepscaler,
    "panorama": write_panorama,
    "chemcot": write_chemcot,
    "tableinstruct": write_tableinstruct,
    "financeiq": write_financeiq,
    "bioprobench": write_bioprobench,
}
BENCHMARK_OF = {
    "deepscaler": "aime25",
    "panorama": "panorama_par4pc",
    "chemcot": "chemcotbench_mol_edit",
    "tableinstruct": "tablebench_numerical_reasoning",
    "financeiq": "FinanceIQ_gen",
    "bioprobench": "bioprobench_pqa",
}


def write_benchmark(
    layout: CampaignLayout, benchmark: str, questions: list[str], limits: tuple[int, int]
) -> None:
    """A benchmark evaluation set with its splits, as prepare writes them."""
    filler = [f"Unrelated evaluation question number {i} about something else." for i in range(6)]
    items = [
        EvalRow(id=f"q{i}", question=q, answer="0", keys=[q])
        for i, q in enumerate([*questions, *filler])
    ]
    install_evaluation_set(layout, benchmark, items, *limits)
