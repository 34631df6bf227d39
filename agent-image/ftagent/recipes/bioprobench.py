"""Built-in recipe for BioProBench (``bowenxian/BioProBench``).

Schema (dataset card): one JSON file per task, ``PQA.json``, ``ORD.json``, ``ERR.json`` and
``GEN.json`` (the ``*_test.json`` files are the benchmark and are excluded by the catalog):

- PQA: ``question``, ``choices`` (list), ``answer`` -> the chosen option;
- ORD: ``question``, ``wrong_steps`` (shuffled), ``correct_steps`` -> the indices of the
  shuffled steps in the correct order, e.g. ``[2, 0, 3, 1]``;
- ERR: ``context`` (purpose, prior_step, next_step), ``corrupted_text`` (null when the step is
  correct), ``corrected_text``, ``is_correct``, ``error_description`` -> ``True``/``False``
  after a short explanation;
- GEN: ``system_prompt``, ``instruction``, ``input``, ``output`` (list of steps) -> the
  numbered steps.

Every output puts the answer between ``[ANSWER_START]`` and ``[ANSWER_END]``. A BioProBench
benchmark uses the files of its own task; other benchmarks use all four.
"""

from __future__ import annotations

import re

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe, as_list, get, parse_json_text, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark

TASKS = ("PQA", "ORD", "ERR", "GEN")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s")


def tagged(answer: str) -> str:
    return f"[ANSWER_START]{answer}[ANSWER_END]"


def task_of(file: RawFile) -> str | None:
    stem = file.stem.upper()
    return next((task for task in TASKS if stem.startswith(task)), None)


class BioProBenchRecipe(Recipe):
    name = "bioprobench"
    dataset = "bioprobench"

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        known = [file for file in files.files if task_of(file)]
        if benchmark.eval_subset in TASKS:
            return [file for file in known if task_of(file) == benchmark.eval_subset]
        return known

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return {
            "PQA": [("question",), ("choices",), ("answer",)],
            "ORD": [("question",), ("wrong_steps",), ("correct_steps",)],
            "ERR": [("corrected_text",), ("is_correct",)],
            "GEN": [("instruction", "input"), ("output",)],
        }.get(task_of(file) or "", [])

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
        question, answer = text(get(row, "question")), text(get(row, "answer"))
        choices = [text(choice) for choice in as_list(get(row, "choices")) if text(choice)]
        if not question or not answer or not choices:
            return None
        listing = "\n".join(f"- {choice}" for choice in choices)
        instruction = (
            f"{question}\n\nChoices:\n{listing}\n\nAnswer with the correct choice exactly as "
            "written, between [ANSWER_START] and [ANSWER_END]."
        )
        return AlpacaRecord(instruction=instruction, output=tagged(answer))

    @staticmethod
    def _ord(row: Row) -> AlpacaRecord | None:
        question = text(get(row, "question"))
        wrong = [text(step) for step in as_list(get(row, "wrong_steps"))]
        correct = [text(step) for step in as_list(get(row, "correct_steps"))]
        if not question or len(wrong) < 2 or sorted(wrong) != sorted(correct):
            return None
        if len(set(wrong)) != len(wrong):
            return None  # repeated steps make the order ambiguous
        order = [wrong.index(step) for step in correct]
        listing = "\n".join(f"{index}. {step}" for index, step in enumerate(wrong))
        instruction = (
            f"{question}\n\nShuffled steps:\n{listing}\n\nGive the indices of the steps in the "
            "correct order as a list between [ANSWER_START] and [ANSWER_END]."
        )
        return AlpacaRecord(instruction=instruction, output=tagged(str(order)))

    @staticmethod
    def _err(row: Row) -> AlpacaRecord | None:
        context = parse_json_text(get(row, "context"))
        context = context if isinstance(context, dict) else {}
        step = text(get(row, "corrupted_text")) or text(get(row, "corrected_text"))
        flag = get(row, "is_correct")
        if not step or not isinstance(flag, bool | str):
            return None
        is_correct = flag if isinstance(flag, bool) else flag.strip().lower() == "true"
        labels = (("purpose", "Purpose"), ("prior_step", "Previous step"))
        parts = [f"{label}: {text(context[key])}" for key, label in labels if context.get(key)]
        parts.append(f"Step to check: {step}")
        if context.get("next_step"):
            parts.append(f"Next step: {text(context['next_step'])}")
        instruction = (
            "Check this step of a biological protocol for errors (wrong reagent, amount, time "
            "or temperature).\n\n"
            + "\n".join(part for part in parts if part)
            + "\n\nAnswer True if the step is correct and False if it has an error, between "
            "[ANSWER_START] and [ANSWER_END]."
        )
        if is_correct:
            output = f"The step is consistent with its purpose and context.\n{tagged('True')}"
        else:
            why = text(get(row, "error_description")) or "the step contains an error"
            fix = text(get(row, "corrected_text"))
            correction = f" The correct step is: {fix}" if fix else ""
            output = f"The step has an error: {why}.{correction}\n{tagged('False')}"
        return AlpacaRecord(instruction=instruction, output=output)

    @staticmethod
    def _gen(row: Row) -> AlpacaRecord | None:
        instruction = text(get(row, "instruction"))
        query = text(get(row, "input"))
        steps = [text(step) for step in as_list(get(row, "output")) if text(step)]
        if not (instruction or query) or not steps:
            return None
        if len(steps) == 1 and "\n" in steps[0]:
            steps = [line for line in steps[0].splitlines() if line.strip()]
        numbered = [
            step if _NUMBERED.match(step) else f"{index}. {step}"
            for index, step in enumerate(steps, 1)
        ]
        system = text(get(row, "system_prompt")) or None
        return AlpacaRecord(
            instruction=instruction or query,
            input=query if instruction else "",
            output=tagged("\n".join(numbered)),
            system=system,
        )
