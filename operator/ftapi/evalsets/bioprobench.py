"""Evaluation-set layouts of BioProBench (``bowenxian/BioProBench``): PQA, ORD, ERR and GEN.

The Hub repository holds two JSON arrays per task, ``<TASK>.json`` (training) and
``<TASK>_test.json`` (the benchmark); its dataset card maps config ``<TASK>`` split ``test`` to
``<TASK>_test.json``, and the OpenCompass fork RD-Agent runs loads exactly that
(``load_dataset(path, name=TASK, split="test")``), derives the ORD gold order and the ERR step
with ``Dataset.map`` (row order kept), then ``shuffle(seed=42)``; RD-Agent slices validation
and test from the shuffled items. No row is filtered.

The ``render_*`` functions turn one row's fields into the text the model sees after the task
description (the same information as upstream's prompt templates, in our own wording); the
agent's BioProBench recipe renders training rows, which have the same layout, with them too.
The ``*_keys`` functions give the identifying texts of an item (its question core), shared by
the evaluation items and the recipe, so that evaluation items in the training files are left
out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ftapi.evalsets.base import EvalRow, EvalSet, LayoutError, SourceRow

REPO = "bowenxian/BioProBench"
SHUFFLE_SEED = 42
"""``BioProBench*Dataset.load(seed=42)``: ``ds.shuffle(seed=seed)`` after the map."""

OCF = "Jensen246/opencompass@abc7c91a"
RDA = "microsoft/RD-Agent@471eb30d"

CONTEXT_FIELDS = (("purpose", "Purpose of the step"), ("prior_step", "Previous step"))
NEXT_FIELD = ("next_step", "Next step")


# ----------------------------------------------------------------------------- rendering


def render_pqa(question: str, choices: Sequence[str]) -> str:
    """A PQA item: the fill-in-the-blank question, then every option on its own line (the
    answer is the option's text, so the options carry no letters)."""
    options = "\n".join(f"- {choice}" for choice in choices)
    return f"{question.strip()}\n\nOptions:\n{options}"


def render_ord(question: str, wrong_steps: Sequence[str]) -> str:
    """An ORD item: the question (it names the protocol section), then the shuffled steps
    with their 0-based indices, the indices the answer lists."""
    steps = "\n".join(f"[{index}] {step}" for index, step in enumerate(wrong_steps))
    return f"{question.strip()}\n\nSteps, as given (index in brackets):\n{steps}"


def _context_value(value: Any) -> str:
    return value.strip() if isinstance(value, str) and value.strip() else "(not given)"


def render_err(step: str, context: Mapping[str, Any]) -> str:
    """An ERR item: the step to judge, then its context (purpose, the steps before and
    after it)."""
    lines = [f"{label}: {_context_value(context.get(key))}" for key, label in CONTEXT_FIELDS]
    key, label = NEXT_FIELD
    lines.append(f"{label}: {_context_value(context.get(key))}")
    return f"Step to judge: {step.strip()}\n\nContext of the step:\n" + "\n".join(lines)


def render_gen(system_prompt: str, instruction: str, query: str) -> str:
    """A GEN item: the expert role, the formatting instruction, then the request."""
    return f"{system_prompt.strip()}\n{instruction.strip()}\n\n{query.strip()}"


# ----------------------------------------------------------------------------- gold


def order_ids(wrong_steps: Sequence[Any], correct_steps: Sequence[Any]) -> list[int | None]:
    """ORD gold as the fork derives it: for each correct step, its index among the shown
    (shuffled) steps, 0-based; a repeated step maps to its last index, a step that is not
    shown to None (upstream's ``{s: i for i, s in enumerate(wrong_steps)}`` and
    ``idx.get(s)``)."""
    index = {step: i for i, step in enumerate(wrong_steps)}
    return [index.get(step) for step in correct_steps]


def shown_step(is_correct: Any, corrected_text: Any, corrupted_text: Any) -> Any:
    """The ERR step the model judges: ``corrected_text`` if ``is_correct`` else
    ``corrupted_text`` (the fork's ``_add_step``)."""
    return corrected_text if is_correct else corrupted_text


# ----------------------------------------------------------------------------- keys


def pqa_keys(question: str) -> list[str]:
    return [question]


def ord_keys(question: str, correct_steps: Sequence[str]) -> list[str]:
    """The section title question with its steps in order (titles alone repeat)."""
    return [question + "\n" + "\n".join(correct_steps)]


def err_keys(corrected_text: Any, step: Any) -> list[str]:
    """The protocol step itself (``corrected_text``) and the step as shown: a training row
    about the same step, corrupted or not, is the same item."""
    return list(dict.fromkeys(t for t in (corrected_text, step) if isinstance(t, str) and t))


def gen_keys(query: str) -> list[str]:
    return [query]


# ----------------------------------------------------------------------------- layouts


def _string_list(row: SourceRow, name: str) -> list[str]:
    value = row.field(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise LayoutError(row.file, row.position, f"{name!r} is not a non-empty list of strings")
    return value


def _optional_text(row: SourceRow, name: str) -> str | None:
    value = row.field(name)
    if value is None or isinstance(value, str):
        return value
    raise LayoutError(row.file, row.position, f"{name!r} is neither a string nor null")


class BioProBenchEvalSet(EvalSet):
    """One BioProBench task: ``<TASK>_test.json`` of ``bowenxian/BioProBench``."""

    task: ClassVar[str]

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        return [self.item(row) for row in rows if row.file in self.files]

    def item(self, row: SourceRow) -> EvalRow:
        raise NotImplementedError


class PQAEvalSet(BioProBenchEvalSet):
    task: ClassVar[str] = "PQA"

    def item(self, row: SourceRow) -> EvalRow:
        question = row.text("question")
        choices = _string_list(row, "choices")
        answer = row.text("answer")
        return EvalRow(
            id=row.text("id"),
            question=render_pqa(question, choices),
            answer=answer,
            extra={"options": choices, "type": row.field("type")},
            keys=pqa_keys(question),
        )


class ORDEvalSet(BioProBenchEvalSet):
    task: ClassVar[str] = "ORD"

    def item(self, row: SourceRow) -> EvalRow:
        question = row.text("question")
        wrong = _string_list(row, "wrong_steps")
        correct = _string_list(row, "correct_steps")
        return EvalRow(
            id=row.text("id"),
            question=render_ord(question, wrong),
            # A step missing from wrong_steps stays null: upstream's evaluator then counts the
            # item as failed, whatever the answer (it happens in no published row).
            answer=json.dumps(order_ids(wrong, correct)),
            extra={"type": row.field("type")},
            keys=ord_keys(question, correct),
        )


class ERREvalSet(BioProBenchEvalSet):
    task: ClassVar[str] = "ERR"

    def item(self, row: SourceRow) -> EvalRow:
        context = row.field("context")
        if not isinstance(context, dict):
            raise LayoutError(row.file, row.position, "'context' is not an object")
        missing = [key for key in ("purpose", "prior_step", "next_step") if key not in context]
        if missing:
            raise LayoutError(row.file, row.position, f"'context' has no {missing}")
        is_correct = row.field("is_correct")
        if not isinstance(is_correct, bool):
            raise LayoutError(row.file, row.position, "'is_correct' is not a boolean")
        corrected = _optional_text(row, "corrected_text")
        corrupted = _optional_text(row, "corrupted_text")
        step = shown_step(is_correct, corrected, corrupted)
        if not step or not step.strip():
            shown = "corrected_text" if is_correct else "corrupted_text"
            raise LayoutError(row.file, row.position, f"{shown!r} (the step shown) is empty")
        return EvalRow(
            id=row.text("id"),
            question=render_err(step, context),
            answer="True" if is_correct else "False",
            extra={"type": row.field("type")},
            keys=err_keys(corrected, step),
        )


class GENEvalSet(BioProBenchEvalSet):
    task: ClassVar[str] = "GEN"

    def item(self, row: SourceRow) -> EvalRow:
        query = row.text("input")
        steps = _string_list(row, "output")
        return EvalRow(
            id=row.text("id"),
            question=render_gen(row.text("system_prompt"), row.text("instruction"), query),
            # The evaluator's reference text: the steps joined by single spaces.
            answer=" ".join(steps),
            extra={"steps": steps, "type": row.field("type")},
            keys=gen_keys(query),
        )


_SPLIT = (
    "load_dataset(name={task}, split='test') reads {task}_test.json in file order; the fork "
    "shuffles with seed 42 (datasets' shuffle) and RD-Agent takes validation from the head "
    "and test from the tail of the shuffled items."
)
_SOURCES = (
    f"{OCF}:opencompass/datasets/bioprobench/bioprobench_{{low}}.py",
    f"{OCF}:opencompass/configs/datasets/bioprobench/bioprobench_{{low}}.py",
    f"{RDA}:rdagent/scenarios/finetune/datasets/bioprobench/README.md",
    "huggingface.co/datasets/bowenxian/BioProBench:README.md (configs: {task} test -> "
    "{task}_test.json)",
    "YuyangSunshine/bioprotocolbench@b6f36cb:Data/{task}_test.json, Metrics/{task}.py",
)
_QUESTIONS = {
    "PQA": "question, then the choices as option lines / gold: answer (the option's text).",
    "ORD": "question, then wrong_steps with their 0-based indices / gold: the index in "
    "wrong_steps of each correct_steps entry, in order (JSON list).",
    "ERR": "the step shown (corrected_text if is_correct else corrupted_text) with "
    "context.purpose/prior_step/next_step / gold: is_correct as True/False.",
    "GEN": "system_prompt, instruction, then input / gold: the output steps joined by spaces "
    "(extra steps: the list).",
}


_EXAMPLES: dict[str, dict[str, Any]] = {
    "PQA": {
        "question": "Centrifuge the lysate at ____ x g for 10 min at 4 °C.",
        "answer": "12000",
        "choices": ["500", "12000", "3000", "800", "100"],
        "type": "parameter",
        "id": "TEST-PQA-000000",
    },
    "ORD": {
        "question": "Plasmid miniprep",
        "wrong_steps": ["Elute the DNA.", "Pellet the cells.", "Lyse the cells."],
        "correct_steps": ["Pellet the cells.", "Lyse the cells.", "Elute the DNA."],
        "type": "top",
        "id": "TEST-ORD-000000",
    },
    "ERR": {
        "context": {
            "purpose": "Grow HeLa cells.",
            "prior_step": "Thaw the vial.",
            "next_step": "Change the medium after 24 h.",
        },
        "corrupted_text": "Incubate at 37 °C with 50% CO2.",
        "corrected_text": "Incubate at 37 °C with 5% CO2.",
        "is_correct": False,
        "type": "parameter",
        "error_description": "CO2 concentration",
        "id": "TEST-ERR-000000",
    },
    "GEN": {
        "system_prompt": "You are an expert in biological protocols.",
        "instruction": "Write the steps of the protocol below, one per line.",
        "input": "Goal: extract genomic DNA from a bacterial culture.",
        "output": ["Pellet 1 mL of culture.", "Lyse the cells.", "Bind DNA to the column."],
        "id": "TEST-GEN-000000",
        "type": "generation",
    },
}
"""Made-up rows in each ``<TASK>_test.json`` layout, for ``ftctl benchmarks KEY``."""
_SIZES = {"PQA": 1200, "ORD": 1161, "ERR": 1200, "GEN": 772}
"""Rows of the original repository's test files (YuyangSunshine/bioprotocolbench Data/)."""


def _evalset(cls: type[BioProBenchEvalSet]) -> EvalSet:
    task = cls.task
    low = task.lower()
    return cls(
        benchmark=f"bioprobench_{low}",
        repo=REPO,
        files=(f"{task}_test.json",),
        shuffle_seed=SHUFFLE_SEED,
        split_note=_SPLIT.format(task=task),
        question_note=_QUESTIONS[task],
        sources=tuple(source.format(task=task, low=low) for source in _SOURCES),
        upstream_size=_SIZES[task],
        example=_EXAMPLES[task],
    )


EVALSETS: Mapping[str, EvalSet] = {
    evalset.benchmark: evalset
    for evalset in map(_evalset, (GENEvalSet, ORDEvalSet, ERREvalSet, PQAEvalSet))
}
