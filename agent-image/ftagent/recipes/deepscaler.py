"""Built-in recipe for DeepScaleR (``agentica-org/DeepScaleR-Preview-Dataset``).

Real layout: one file, ``deepscaler.json`` at the repository root, a JSON array of about
40K objects with ``problem`` (LaTeX), ``solution`` (a worked solution ending in
``\\boxed{}``; the empty string for most rows) and ``answer`` (the final answer). Each row
becomes instruction = the problem, rendered by the AIME evaluation set's own
:func:`ftapi.evalsets.aime.render_question`, and output = the worked solution (when there is
one) ending in ``\\boxed{answer}``, which is the AIME answer format.

For ``boxed_integer`` benchmarks (AIME) only integer answers 0-999 are kept, so the model
learns the answer space it is scored on; a worked solution whose own last box does not hold
that integer is not used (the official scorer would read its box next to ours as a set of
two answers), the row then only gives an answer-only record. Rows with a worked solution are
preferred; answer-only rows fill up the sample.

DeepScaleR's AIME problems are from 1984-2023 (dataset card), but every row is still checked:
a row whose problem is an evaluation item's (same text after ``ftapi.evalsets.normalize``)
is left out.
"""

from __future__ import annotations

import re

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import AnswerFormat, Benchmark
from ftapi.evalsets.aime import render_question

FILE = "deepscaler.json"
"""The dataset's only data file (repository root)."""

_INTEGER = re.compile(r"^\s*\$?\s*(-?\d+)\s*\$?\s*\.?\s*$")
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def integer_answer(answer: str) -> int | None:
    """``"035"`` -> 35, ``"$12$"`` -> 12; None for anything that is not an integer."""
    match = _INTEGER.match(answer)
    return int(match.group(1)) if match else None


def last_boxed(solution: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` of ``solution`` (nested braces
    allowed), or None."""
    last = None
    for match in _BOX.finditer(solution):
        depth = 1
        for pos in range(match.end(), len(solution)):
            if solution[pos] == "{":
                depth += 1
            elif solution[pos] == "}":
                depth -= 1
                if depth == 0:
                    last = solution[match.end() : pos].strip()
                    break
    return last


def boxed_output(solution: str, answer: str) -> str:
    """The solution, ending in ``\\boxed{answer}`` (a final line is added unless the solution
    already ends with that box, give or take closing ``$`` and ``.``)."""
    final = f"\\boxed{{{answer}}}"
    solution = solution.strip()
    if solution.rstrip("$. \n").endswith(final):
        return solution
    if not solution:
        return f"The final answer is {final}"
    return f"{solution}\n\nThe final answer is {final}"


class DeepScaleRRecipe(Recipe):
    name = "deepscaler"
    dataset = "deepscaler"
    prefer_scan = True

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        return [file for file in files.files if file.relative == FILE]

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("problem",), ("solution",), ("answer",)]

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        problem = row.get("problem")
        return [problem] if isinstance(problem, str) else []

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        problem = text(row.get("problem"))
        answer = text(row.get("answer"))
        if not problem or not answer:
            return None
        solution = text(row.get("solution"))
        if benchmark.answer_format is AnswerFormat.boxed_integer:
            value = integer_answer(answer)
            if value is None or not 0 <= value <= 999:
                return None
            answer = str(value)
            boxed = last_boxed(solution)
            if boxed is not None and integer_answer(boxed) != value:
                solution = ""
        output = boxed_output(solution, answer)
        record = AlpacaRecord(instruction=render_question(problem), output=output)
        return Converted(record=record, preferred=bool(solution))
