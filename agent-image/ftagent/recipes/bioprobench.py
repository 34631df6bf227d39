"""Built-in recipe for BioProBench (``bowenxian/BioProBench``).

The training files are the four JSON arrays ``PQA.json``, ``ORD.json``, ``ERR.json`` and
``GEN.json`` at the repository root (the dataset card's ``train`` splits); the ``*_test.json``
files are the benchmark and never read (the catalog excludes them; RD-Agent's dataset README
says to train on the non-``_test.json`` files only). Their rows have the benchmark's layout,
so every instruction is rendered by the same function the evaluation set uses
(:mod:`ftapi.evalsets.bioprobench`), and every output ends in the answer the fork's
evaluator reads:

- PQA (``question``, ``choices``, ``answer``): ``[ANSWER_START]<option> & <confidence>%
  [ANSWER_END]`` (the evaluator needs the confidence);
- ORD (``question``, ``wrong_steps``, ``correct_steps``): the 0-based indices of the shown
  steps in the correct order, ``[ANSWER_START][2, 0, 1][ANSWER_END]``;
- ERR (``context``, ``corrupted_text``, ``corrected_text``, ``is_correct``, optional
  ``error_description``): ``True`` if the step shown is correct, else a short explanation
  and ``False``;
- GEN (``system_prompt``, ``instruction``, ``input``, ``output``): the steps, one per line.

A BioProBench benchmark trains on its own task's file; other benchmarks use all four. Rows
whose identifying text (:func:`ftapi.evalsets.bioprobench` ``*_keys``) is an evaluation item
of the benchmark are left out.
"""

from __future__ import annotations

from typing import Any

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark
from ftapi.evalsets import bioprobench as layout

TASKS = ("PQA", "ORD", "ERR", "GEN")
CONFIDENCE = 90
"""The confidence the PQA training answers state (the evaluator requires one; only the
secondary Brier score reads its value)."""

COLUMNS: dict[str, list[tuple[str, ...]]] = {
    "PQA": [("question",), ("choices",), ("answer",)],
    "ORD": [("question",), ("wrong_steps",), ("correct_steps",)],
    "ERR": [("context",), ("corrupted_text",), ("corrected_text",), ("is_correct",)],
    "GEN": [("system_prompt",), ("instruction",), ("input",), ("output",)],
}


def tagged(answer: str) -> str:
    return f"[ANSWER_START]{answer}[ANSWER_END]"


def task_of(file: RawFile) -> str | None:
    """The task of a training file: exactly ``<TASK>.json`` at the repository root."""
    return next((task for task in TASKS if file.relative == f"{task}.json"), None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _texts(value: Any) -> list[str] | None:
    if isinstance(value, list) and value and all(_text(v) for v in value):
        return value
    return None


class BioProBenchRecipe(Recipe):
    name = "bioprobench"
    dataset = "bioprobench"

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        known = [file for file in files.files if task_of(file)]
        if benchmark.key.startswith("bioprobench_") and benchmark.task in TASKS:
            return [file for file in known if task_of(file) == benchmark.task]
        return known

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return COLUMNS.get(task_of(file) or "", [])

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        task = task_of(file)
        if task == "PQA" and _text(row.get("question")):
            return layout.pqa_keys(row["question"])
        if task == "ORD" and _text(row.get("question")) and _texts(row.get("correct_steps")):
            return layout.ord_keys(row["question"], row["correct_steps"])
        if task == "ERR":
            step = layout.shown_step(
                row.get("is_correct"), row.get("corrected_text"), row.get("corrupted_text")
            )
            return layout.err_keys(row.get("corrected_text"), step)
        if task == "GEN" and _text(row.get("input")):
            return layout.gen_keys(row["input"])
        return []

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        task = task_of(file)
        record = None
        if task == "PQA":
            record = self._pqa(row)
        elif task == "ORD":
            record = self._ord(row)
        elif task == "ERR":
            record = self._err(row)
        elif task == "GEN":
            record = self._gen(row)
        return Converted(record=record) if record else None

    @staticmethod
    def _pqa(row: Row) -> AlpacaRecord | None:
        question, answer = _text(row.get("question")), _text(row.get("answer"))
        choices = _texts(row.get("choices"))
        # The evaluator compares the option text exactly, after splitting the tagged answer at
        # its one "&" and stripping it: an answer with "&" or outer spaces cannot score.
        if not question or not answer or not choices or answer not in choices:
            return None
        if "&" in answer or answer != answer.strip():
            return None
        return AlpacaRecord(
            instruction=layout.render_pqa(question, choices),
            output=tagged(f"{answer} & {CONFIDENCE}%"),
        )

    @staticmethod
    def _ord(row: Row) -> AlpacaRecord | None:
        question = _text(row.get("question"))
        wrong, correct = _texts(row.get("wrong_steps")), _texts(row.get("correct_steps"))
        if not question or not wrong or not correct or len(wrong) < 2:
            return None
        if len(set(wrong)) != len(wrong) or sorted(wrong) != sorted(correct):
            return None  # repeated or missing steps: no unique order to learn
        order = layout.order_ids(wrong, correct)
        return AlpacaRecord(
            instruction=layout.render_ord(question, wrong),
            output=tagged(str(order)),
        )

    @staticmethod
    def _err(row: Row) -> AlpacaRecord | None:
        context, is_correct = row.get("context"), row.get("is_correct")
        if not isinstance(context, dict) or not isinstance(is_correct, bool):
            return None
        corrected = _text(row.get("corrected_text"))
        step = _text(layout.shown_step(is_correct, corrected, row.get("corrupted_text")))
        if not step:
            return None
        if is_correct:
            output = tagged("True")
        else:
            why = (_text(row.get("error_description")) or "").strip()
            lines = [f"The step has an error: {why}" if why else "The step has an error."]
            if corrected and corrected != step:
                lines.append(f"The correct step: {corrected.strip()}")
            output = "\n".join(lines) + "\n" + tagged("False")
        return AlpacaRecord(instruction=layout.render_err(step, context), output=output)

    @staticmethod
    def _gen(row: Row) -> AlpacaRecord | None:
        system, instruction, query = (
            _text(row.get("system_prompt")),
            _text(row.get("instruction")),
            _text(row.get("input")),
        )
        steps = _texts(row.get("output"))
        if not system or not instruction or not query or not steps:
            return None
        return AlpacaRecord(
            instruction=layout.render_gen(system, instruction, query),
            output=tagged("\n".join(step.strip() for step in steps)),
        )
