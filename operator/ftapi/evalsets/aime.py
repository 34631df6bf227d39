"""Evaluation-set layouts of the AIME family: ``aime24`` and ``aime25``.

Both are 30 competition problems with an integer answer and no structured context, so the
item the model sees is the problem statement itself (the catalog description carries the
task and the ``\\boxed{}`` answer format, in our own wording).

- ``aime24``: ``HuggingFaceH4/aime_2024``, one parquet file (columns id int64, problem,
  solution, answer, url, year); item id = the ``id`` column.
- ``aime25``: ``opencompass/AIME2025``, ``aime2025-I.jsonl`` then ``aime2025-II.jsonl``
  (objects with ``question`` and ``answer``); item id = ``<file stem>-<0-based row>``.

Upstream never shuffles AIME: the fork's ``Aime2024Dataset`` and ``CustomDataset`` read the
rows in file order and RD-Agent slices validation ``[:min(100, N // 2)]`` and test
``[-min(100, N // 2):]`` of that order (15 and 15 of 30 items).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from ftapi.evalsets.base import EvalRow, EvalSet, LayoutError, SourceRow

OPENCOMPASS = "Jensen246/opencompass@abc7c91a485bc1e3188e71e330a7140be385da29"
RDAGENT = "microsoft/RD-Agent@471eb30d1ec03f35631c532c58a52ce75d684037"


def render_question(problem: str) -> str:
    """An AIME problem as the model sees it after the task description: the statement,
    verbatim but for surrounding whitespace (there is no context to render). The DeepScaleR
    recipe renders its training problems with this function too."""
    return problem.strip()


def _gold(row: SourceRow, name: str) -> str:
    """The gold answer as text: a non-empty string, or an integer (JSON Lines may hold one;
    upstream formats it into ``$...$`` either way)."""
    value = row.field(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise LayoutError(row.file, row.position, f"{name!r} is not a non-empty string or integer")


def _id(row: SourceRow, name: str) -> str:
    value: Any = row.field(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise LayoutError(row.file, row.position, f"{name!r} is not an integer or a non-empty string")


class AimeEvalSet(EvalSet):
    """One AIME year: every row of :attr:`files` is an item, in file order."""

    question_field: str
    """The column with the problem statement."""
    answer_field: str = "answer"
    id_field: str | None = None
    """The id column; None: the id is ``<file stem>-<0-based row in that file>``."""

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        items = []
        for row in rows:
            if row.file not in self.files:
                raise LayoutError(row.file, row.position, f"not a file of {self.benchmark}")
            problem = row.text(self.question_field)
            if self.id_field is None:
                item_id = f"{PurePosixPath(row.file).name.split('.')[0]}-{row.position}"
            else:
                item_id = _id(row, self.id_field)
            items.append(
                EvalRow(
                    id=item_id,
                    question=render_question(problem),
                    answer=_gold(row, self.answer_field),
                    keys=[problem],
                )
            )
        return items


_SPLIT = (
    "Source order (no shuffle): validation = the first min(limit, N // 2) items, "
    "test = the last as many."
)

EVALSETS: Mapping[str, EvalSet] = {
    "aime24": AimeEvalSet(
        benchmark="aime24",
        repo="HuggingFaceH4/aime_2024",
        files=("data/train-00000-of-00001.parquet",),
        question_field="problem",
        id_field="id",
        upstream_size=30,
        example={
            "id": 60,
            "problem": "Find the number of positive divisors of $2^4 \\cdot 3^2$.",
            "solution": "The count is $(4+1)(2+1) = 15$.",
            "answer": "15",
            "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_I_Problems/Problem_1",
            "year": "2024",
        },
        split_note=_SPLIT + " Rows in parquet order.",
        question_note=(
            "question = the `problem` column as is; gold = the `answer` column (an integer "
            "written as text); id = the `id` column. `solution`, `url` and `year` are unused."
        ),
        sources=(
            f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/data/adaptor.py",
            f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/benchmark.py",
            f"{OPENCOMPASS}:opencompass/configs/datasets/aime2024/aime2024_gen_17d799.py",
            f"{OPENCOMPASS}:opencompass/datasets/aime2024.py",
            f"{OPENCOMPASS}:opencompass/utils/datasets_info.py",
            f"{OPENCOMPASS}:opencompass/evaluator/math_evaluator.py",
            "huggingface.co/datasets/HuggingFaceH4/aime_2024:README.md",
        ),
    ),
    "aime25": AimeEvalSet(
        benchmark="aime25",
        repo="opencompass/AIME2025",
        files=("aime2025-I.jsonl", "aime2025-II.jsonl"),
        question_field="question",
        upstream_size=30,
        example={
            "question": "Find the remainder when $2^{10} + 3$ is divided by $1000$.",
            "answer": "27",
        },
        split_note=_SPLIT + " AIME 2025 I (15 rows) then II (15 rows), each in line order.",
        question_note=(
            "question = the `question` field as is; gold = the `answer` field; "
            "id = '<file stem>-<0-based line>', e.g. 'aime2025-II-3'."
        ),
        sources=(
            f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/data/adaptor.py",
            f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/benchmark.py",
            f"{OPENCOMPASS}:opencompass/configs/datasets/aime2025/"
            "aime2025_cascade_eval_gen_5e9f4f.py",
            f"{OPENCOMPASS}:opencompass/datasets/custom.py",
            f"{OPENCOMPASS}:opencompass/evaluator/math_evaluator.py",
            f"{OPENCOMPASS}:opencompass/evaluator/cascade_evaluator.py",
            "eecrazy/RD-Agent@8871cede05a98de46c32a12f0d9f11a583e2a531:"
            "reproduction/ft_agent/assets.json",
            "eecrazy/RD-Agent@8871cede05a98de46c32a12f0d9f11a583e2a531:"
            "reproduction/ft_agent/download_assets.py",
        ),
    ),
}
