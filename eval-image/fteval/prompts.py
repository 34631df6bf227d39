"""The prompt each evaluation item is asked with: the benchmark description, then the item.

The description prefix is :func:`ftapi.prompts.task_prompt`, which the agent applies to its
training instructions too, so training and evaluation see the same text. Called by
:mod:`fteval.main`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

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


def build_prompt(description: str, item: EvalItem) -> str:
    """The user message: task description, a blank line, the question, then the item's
    table (TableBench, unless the question already holds it) and options."""
    question = item.question.strip()
    parts = [question]
    table = render_table(item.extra.get("table"))
    if table and table not in question:
        parts.append(f"Table: {table}")
    options = render_choices(item.extra.get("choices"))
    if options:
        parts.append(options)
    return task_prompt(description, "\n\n".join(part for part in parts if part))
