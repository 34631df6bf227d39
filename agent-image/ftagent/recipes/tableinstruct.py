"""Built-in recipe for TableInstruct (``Multilingual-Multimodal-NLP/TableInstruct``).

Schema (``TableInstruct_instructions.jsonl``, as TableBench's loaders read it): ``id``,
``qtype`` (FactChecking, NumericalReasoning, DataAnalysis, Visualization), ``qsubtype``,
``instruction`` (the full prompt with the table and question), ``instruction_type`` (DP, TCoT,
SCoT, PoT), ``table``, ``question``, ``response`` and sometimes ``answer``. A TableBench
benchmark keeps the rows of its own ``qtype``. Textual chain-of-thought rows (TCoT) are
preferred for the ``Final Answer:`` benchmarks and program-of-thought rows (PoT) for
visualization. Outputs must end with a ``Final Answer: ...`` line (added from ``answer`` when
the response lacks it) or, for visualization, hold a python code block.
"""

from __future__ import annotations

import re

from ftagent.rawdata import RawFile, Row
from ftagent.recipes.base import Converted, Recipe, get, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import AnswerFormat, Benchmark

_FINAL = re.compile(r"final answer\s*:", re.IGNORECASE)
QTYPES = ("FactChecking", "NumericalReasoning", "DataAnalysis", "Visualization")


def with_final_answer(response: str, answer: str) -> str | None:
    if _FINAL.search(response):
        return response
    if answer:
        return f"{response}\n\nFinal Answer: {answer}" if response else f"Final Answer: {answer}"
    return None


def with_code_block(response: str) -> str | None:
    if "```python" in response:
        return response
    if "import " in response or "plt." in response:
        return f"```python\n{response.strip()}\n```"
    return None


class TableInstructRecipe(Recipe):
    name = "tableinstruct"
    dataset = "tableinstruct"
    prefer_scan = True

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("instruction", "question"), ("response", "answer")]

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        qtype = text(get(row, "qtype"))
        if benchmark.eval_subset in QTYPES and qtype and qtype != benchmark.eval_subset:
            return None
        instruction = text(get(row, "instruction"))
        if not instruction:
            question, table = text(get(row, "question")), text(get(row, "table"))
            if not question:
                return None
            instruction = f"Table:\n{table}\n\nQuestion: {question}" if table else question
        response = text(get(row, "response"))
        visualization = benchmark.answer_format is AnswerFormat.python_code
        if visualization:
            output = with_code_block(response)
            preferred = text(get(row, "instruction_type")).upper() in ("POT", "")
        else:
            output = with_final_answer(response, text(get(row, "answer")))
            preferred = text(get(row, "instruction_type")).upper() in ("TCOT", "")
        if not output:
            return None
        return Converted(AlpacaRecord(instruction=instruction, output=output), preferred=preferred)
