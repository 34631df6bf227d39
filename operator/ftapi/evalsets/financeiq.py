"""Evaluation-set layout of FinanceIQ (``FinanceIQ_gen``, Hugging Face ``Duxiaoman-DI/FinanceIQ``).

Upstream layout: one CSV per exam subject, ``data/test/<subject>.csv`` and
``data/dev/<subject>.csv``, header ``,Question,A,B,C,D,Answer`` (the first, unnamed column is
the row number). The OpenCompass fork RD-Agent runs makes every subject its own dataset
(config ``FinanceIQ_gen_e0e6b5``), with the dev rows 0-4 of the same subject as five
in-context examples and the test rows as the items.

Before it evaluates, RD-Agent cuts every test CSV (``datasets/financeiq/split.py``): the LAST
``min(ceil(n * 0.5), 100)`` of its ``n`` rows stay for the benchmark, the first rows are the
training data of the ``financeiq`` dataset. OpenCompass then slices validation (the first
``min(100, m // 2)``) and test (the last as many) out of the ``m`` kept rows of each subject,
in file order. :func:`benchmark_rows` / :func:`training_rows` are that cut; the recipe
(:mod:`ftagent.recipes.financeiq`) imports them, so training never sees a kept row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from ftapi.evalsets.base import EvalRow, EvalSet, LayoutError, SourceRow

BENCHMARK = "FinanceIQ_gen"
REPO = "Duxiaoman-DI/FinanceIQ"

SUBJECTS: tuple[str, ...] = (
    "注册会计师（CPA）",
    "银行从业资格",
    "证券从业资格",
    "基金从业资格",
    "保险从业资格CICE",
    "经济师",
    "税务师",
    "期货从业资格",
    "理财规划师",
    "精算师-金融数学",
)
"""The ten subjects in the order of the fork's config (``financeIQ_all_sets``): the order of
its datasets, hence of the evaluation items."""

SUBJECT_SLUGS: Mapping[str, str] = {
    "注册会计师（CPA）": "certified_public_accountant",
    "银行从业资格": "banking_qualification",
    "证券从业资格": "securities_qualification",
    "基金从业资格": "fund_qualification",
    "保险从业资格CICE": "insurance_qualification",
    "经济师": "economic_analyst",
    "税务师": "taxation_practitioner",
    "期货从业资格": "futures_qualification",
    "理财规划师": "certified_fin_planner",
    "精算师-金融数学": "actuary_fin_math",
}
"""ASCII names of the subjects (the config's ``financeIQ_subject_mapping_en``), for metric keys."""

TEST_FILES: tuple[str, ...] = tuple(f"data/test/{subject}.csv" for subject in SUBJECTS)
DEV_FILES: tuple[str, ...] = tuple(f"data/dev/{subject}.csv" for subject in SUBJECTS)

COLUMNS: tuple[str, ...] = ("", "Question", "A", "B", "C", "D", "Answer")
"""Every row has exactly these cells (the fork's loader asserts seven and reads them by
position: row number, question, the options A-D, the answer letter)."""
LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

BENCHMARK_RATIO = 0.5
BENCHMARK_LIMIT = 100
"""RD-Agent's ``get_split_indices(total, "test")``: ``min(ceil(total * 0.5), 100)`` rows."""
SPLIT_LIMIT = 100
"""RD-Agent's ``get_benchmark_ranges``: validation ``[:min(100, m // 2)]``, test
``[-min(100, m // 2):]`` of each subject's ``m`` kept rows."""

SHOT_ANSWER = "答案是: {answer}"
"""How an in-context example's answer follows it upstream (the config's BOT turn)."""


def benchmark_count(total: int) -> int:
    """How many rows at the end of a test CSV of ``total`` rows the benchmark keeps."""
    return min(math.ceil(total * BENCHMARK_RATIO), BENCHMARK_LIMIT)


def benchmark_rows(total: int) -> range:
    """Positions of the benchmark's rows in a test CSV of ``total`` rows (its last rows)."""
    return range(total - benchmark_count(total), total)


def training_rows(total: int) -> range:
    """Positions of the training rows in a test CSV of ``total`` rows (the rest, its first)."""
    return range(0, total - benchmark_count(total))


def subject_of(path: str) -> str:
    """The subject a CSV holds: its file name without ``.csv``."""
    name = PurePosixPath(path).name
    if not name.endswith(".csv"):
        raise LayoutError(path, None, "is not a subject CSV")
    return name[: -len(".csv")]


def cells(row: Mapping[Any, Any], file: str, position: int | None) -> dict[str, str]:
    """The seven cells of a CSV row (``csv.DictReader``: a missing cell is None, a surplus
    one sits under the key None), as strings; anything else is a LayoutError."""
    if None in row:
        raise LayoutError(file, position, f"more than {len(COLUMNS)} cells")
    out: dict[str, str] = {}
    for name in COLUMNS:
        if name not in row:
            raise LayoutError(
                file, position, f"no column {name!r} (columns: {sorted(map(str, row))})"
            )
        value = row[name]
        if not isinstance(value, str):
            raise LayoutError(file, position, f"column {name!r} is missing")
        out[name] = value
    return out


def render_question(subject: str, question: str, options: Mapping[str, str]) -> str:
    """The item as the model sees it (after the task description): the exam subject, the
    question, then the options A-D one per line. Training instructions use it too."""
    lines = [f"科目：{subject.strip()}", question.strip()]
    lines += [f"{letter}. {options[letter].strip()}" for letter in LETTERS]
    return "\n".join(lines)


def _row_question(values: Mapping[str, str], subject: str) -> str:
    return render_question(subject, values["Question"], {k: values[k] for k in LETTERS})


def _by_file(rows: Sequence[SourceRow], files: Sequence[str]) -> dict[str, list[SourceRow]]:
    """The rows of each of ``files`` (in that order), checked to be whole files in order."""
    grouped: dict[str, list[SourceRow]] = {name: [] for name in files}
    for row in rows:
        if row.file not in grouped:
            raise LayoutError(row.file, row.position, "is not a file of this layout")
        grouped[row.file].append(row)
    for name, members in grouped.items():
        positions = [row.position for row in members]
        if positions != list(range(len(members))):
            raise LayoutError(name, None, "rows are not given whole and in file order")
    return grouped


class FinanceIqEvalSet(EvalSet):
    """The kept tail of every subject's test CSV; the dev CSVs are the in-context examples."""

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        items: list[EvalRow] = []
        for name, members in _by_file(rows, self.files).items():
            subject = subject_of(name)
            kept = benchmark_rows(len(members))
            per_split = min(SPLIT_LIMIT, len(kept) // 2)
            for row in members:
                if row.position not in kept:
                    continue  # a training row (RD-Agent's split.py): never scored
                values = cells(row.row, row.file, row.position)
                items.append(
                    EvalRow(
                        id=f"{subject}/{values['']}",
                        question=_row_question(values, subject),
                        answer=values["Answer"],
                        extra={"subject": subject, "split_items": per_split},
                        group=subject,
                        keys=[values["Question"]],
                    )
                )
        return items

    def build_shots(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        shots: list[EvalRow] = []
        for name, members in _by_file(rows, self.shots_files).items():
            subject = subject_of(name)
            for row in members:
                values = cells(row.row, row.file, row.position)
                shots.append(
                    EvalRow(
                        id=f"dev/{subject}/{values['']}",
                        question=_row_question(values, subject),
                        answer=values["Answer"],
                        extra={"subject": subject},
                        group=subject,
                        keys=[values["Question"]],
                    )
                )
        return shots


_OCF = "Jensen246/opencompass@abc7c91a"
_RDA = "microsoft/RD-Agent@471eb30d"

FINANCEIQ = FinanceIqEvalSet(
    benchmark=BENCHMARK,
    repo=REPO,
    files=TEST_FILES,
    shots_files=DEV_FILES,
    shuffle_seed=None,
    split_note=(
        "Per subject (config order, file order, no shuffle): RD-Agent keeps the last "
        "min(ceil(n/2), 100) of the n rows of data/test/<subject>.csv (the first rows are "
        "training data); validation = the first min(100, m//2) and test = the last "
        "min(100, m//2) of the m kept rows."
    ),
    question_note=(
        "Question = the subject (file name), the Question cell and the options A-D (columns "
        "A, B, C, D); gold = the Answer cell as written; id = subject/row number (the unnamed "
        "first column). 5-shot: rows 0-4 of data/dev/<subject>.csv of the same subject."
    ),
    sources=(
        f"{_OCF}:opencompass/configs/datasets/FinanceIQ/FinanceIQ_gen_e0e6b5.py",
        f"{_OCF}:opencompass/datasets/FinanceIQ.py",
        f"{_OCF}:opencompass/utils/text_postprocessors.py",
        f"{_OCF}:opencompass/openicl/icl_evaluator/icl_hf_evaluator.py",
        f"{_RDA}:rdagent/scenarios/finetune/datasets/financeiq/split.py",
        f"{_RDA}:rdagent/scenarios/finetune/benchmark/data/financeiq_gen.py",
        f"{_RDA}:rdagent/scenarios/finetune/benchmark/benchmark.py",
        f"{_RDA}:rdagent/scenarios/finetune/datasets/__init__.py",
        f"{_RDA}:rdagent/app/finetune/llm/ui/benchmarks/financeiq.py",
    ),
    upstream_size=944,
    upstream_splits=(472, 472),
    example={
        "": "0",
        "Question": "某银行的资本充足率为12%，风险加权资产为500亿元，其资本总额为多少亿元？",
        "A": "40",
        "B": "60",
        "C": "80",
        "D": "100",
        "Answer": "B",
    },
)

EVALSETS: Mapping[str, EvalSet] = {BENCHMARK: FINANCEIQ}
