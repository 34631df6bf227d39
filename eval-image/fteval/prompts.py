"""The prompt each evaluation item is asked with: the benchmark description, the in-context
examples of a few-shot benchmark (FinanceIQ: 5, of the item's subject), then the item.

The description prefix is :func:`ftapi.prompts.task_prompt`, which the agent applies to its
training instructions too, so training and evaluation see the same text. Called by
:mod:`fteval.main`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ftapi.prompts import task_prompt
from fteval.adapters import EvalItem


def render_choices(choices: object) -> str:
    """``A. ...`` lines for a list or a {letter: text} mapping of options."""
    if isinstance(choices, Mapping):
        return "\n".join(f"{key}. {value}" for key, value in choices.items())
    if isinstance(choices, list):
        return "\n".join(f"{chr(ord('A') + i)}. {value}" for i, value in enumerate(choices))
    return ""


def render_table(table: object) -> str:
    """A TableBench table (JSON text or object) as one JSON line."""
    if isinstance(table, str):
        return table.strip()
    if isinstance(table, Mapping):
        return json.dumps(table, ensure_ascii=False)
    return ""


def item_text(item: EvalItem) -> str:
    """The question, then the item's table (TableBench, unless the question already holds
    it) and options."""
    question = item.question.strip()
    parts = [question]
    table = render_table(item.extra.get("table"))
    if table and table not in question:
        parts.append(f"Table: {table}")
    options = render_choices(item.extra.get("choices"))
    if options:
        parts.append(options)
    return "\n\n".join(part for part in parts if part)


def choose_shots(item: EvalItem, pool: Sequence[EvalItem], count: int) -> list[EvalItem]:
    """``count`` in-context examples for ``item``: those of its subject first (FinanceIQ's
    examples are per subject), then others, in file order."""
    subject = item.extra.get("subject")
    same = [shot for shot in pool if subject is not None and shot.extra.get("subject") == subject]
    others = [shot for shot in pool if shot not in same]
    return (same + others)[:count]


def build_prompt(
    description: str,
    item: EvalItem,
    shots: Sequence[EvalItem] = (),
    shot_answer: str = "Answer: {answer}",
) -> str:
    """The user message: task description, a blank line, the in-context examples (each
    followed by its answer) if any, then the item."""
    examples = [f"{item_text(shot)}\n{shot_answer.format(answer=shot.answer)}" for shot in shots]
    return task_prompt(description, "\n\n".join([*examples, item_text(item)]))
