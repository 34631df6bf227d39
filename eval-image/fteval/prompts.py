"""The prompt each evaluation item is asked with: the benchmark description, the in-context
examples of a few-shot benchmark (FinanceIQ: 5, of the item's subject), then the item. The
item's question already holds its structured context (tables, options, steps), rendered by
its family's layout (``ftapi.evalsets``) at prepare.

The description prefix is :func:`ftapi.prompts.task_prompt`, which the agent applies to its
training instructions too, so training and evaluation see the same text. Called by
:mod:`fteval.main`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ftapi.prompts import task_prompt
from fteval.adapters import EvalItem


def choose_shots(item: EvalItem, pool: Sequence[EvalItem], count: int) -> list[EvalItem]:
    """``count`` in-context examples for ``item``: those of its group first (FinanceIQ's
    examples are per subject), then others, in file order."""
    same = [shot for shot in pool if item.group is not None and shot.group == item.group]
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
    examples = [
        f"{shot.question.strip()}\n{shot_answer.format(answer=shot.answer)}" for shot in shots
    ]
    return task_prompt(description, "\n\n".join([*examples, item.question.strip()]))
