"""Built-in recipe for FinanceIQ (``Duxiaoman-DI/FinanceIQ``).

Schema (dataset card): CSV files, one per subject (the file name), with columns ``Question``,
``A``, ``B``, ``C``, ``D`` and ``Answer`` (the correct letter). The catalog drops the ``dev``
split (the benchmark's few-shot examples) before this recipe sees any file. Each row becomes a
Chinese single-choice question whose output names the correct option and ends with
``答案：<letter>``, the last capital letter the benchmark scores.
"""

from __future__ import annotations

from ftagent.rawdata import RawFile, Row
from ftagent.recipes.base import Converted, Recipe, get, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark

LETTERS = ("A", "B", "C", "D")


class FinanceIqRecipe(Recipe):
    name = "financeiq"
    dataset = "financeiq"

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("Question",), *((letter,) for letter in LETTERS), ("Answer",)]

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        question = text(get(row, "Question"))
        answer = text(get(row, "Answer")).upper().strip("：:. ")
        options = {letter: text(get(row, letter)) for letter in LETTERS}
        if not question or answer not in LETTERS or not all(options.values()):
            return None
        subject = file.stem
        lines = "\n".join(f"{letter}. {options[letter]}" for letter in LETTERS)
        instruction = f"以下是关于{subject}的单项选择题，请选出正确答案。\n\n{question}\n{lines}"
        output = f"正确选项是{answer}：{options[answer]}。\n答案：{answer}"
        return Converted(record=AlpacaRecord(instruction=instruction, output=output))
