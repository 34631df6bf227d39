"""Built-in recipe for DeepScaleR (``agentica-org/DeepScaleR-Preview-Dataset``).

Schema (dataset card): ``problem`` (LaTeX), ``solution`` (worked solution, empty for most
rows), ``answer`` (final answer). Each row becomes instruction = problem, output = the worked
solution (when there is one) ending in ``\\boxed{answer}``, which is the AIME answer format.
Rows with a worked solution are preferred, because every output should carry reasoning; rows
without one only fill up the sample. For ``boxed_integer`` benchmarks (AIME) only integer
answers 0-999 are kept, so the model learns the answer space it is scored on.
"""

from __future__ import annotations

import re

from ftagent.rawdata import RawFile, Row
from ftagent.recipes.base import Converted, Recipe, get, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import AnswerFormat, Benchmark

_INTEGER = re.compile(r"^\s*\$?\s*(-?\d+)\s*\$?\s*\.?\s*$")


def integer_answer(answer: str) -> int | None:
    """``"035"`` -> 35, ``"$12$"`` -> 12; None for anything that is not an integer."""
    match = _INTEGER.match(answer)
    return int(match.group(1)) if match else None


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

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("problem",), ("answer",)]

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        problem = text(get(row, "problem"))
        answer = text(get(row, "answer"))
        if not problem or not answer:
            return None
        if benchmark.answer_format is AnswerFormat.boxed_integer:
            value = integer_answer(answer)
            if value is None or not 0 <= value <= 999:
                return None
            answer = str(value)
        solution = text(get(row, "solution"))
        record = AlpacaRecord(instruction=problem, output=boxed_output(solution, answer))
        return Converted(record=record, preferred=bool(solution))
