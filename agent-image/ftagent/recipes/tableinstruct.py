"""Built-in recipe for TableInstruct (``Multilingual-Multimodal-NLP/TableInstruct``).

The repository holds one data file, ``TableInstruct_instructions.jsonl`` (TableBench's own
training scripts read it, RD-Agent's ``datasets/tableinstruct/README.md`` documents it): one
object per line with ``id``, ``qtype`` (FactChecking, NumericalReasoning, DataAnalysis,
Visualization), ``qsubtype``, ``instruction`` (the full prompt of one reasoning style, table
and question included), ``instruction_type`` (DP, TCoT, SCoT, PoT), ``table`` (the
``{"columns": [...], "data": [[...]]}`` table, as JSON text), ``question`` and ``response``
(the worked answer in that style). There is no separate answer column.

A TableBench benchmark keeps the rows of its own ``qtype``. The instruction is rendered from
``table`` and ``question`` with :func:`ftapi.evalsets.tablebench.render_question`, exactly as
the evaluation items are (the row's own ``instruction`` would repeat the table in another
wording). Outputs:

- ``Final Answer:`` benchmarks: the response as is when its only ``Final Answer:`` is on its
  last line (the scorer reads the *first* one). Textual chain-of-thought rows (TCoT, the style
  the benchmark is prompted in) are preferred; DP and SCoT rows fill up; PoT rows are code
  that prints the answer and are left out.
- Visualization: the response holding a ```python block (bare code gets one), TCoT rows
  preferred.

A row whose question and table are those of an evaluation item
(:func:`ftapi.evalsets.tablebench.item_key`) is left out.
"""

from __future__ import annotations

import re

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe, get, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import AnswerFormat, Benchmark
from ftapi.evalsets.tablebench import item_key, parse_table, render_question

FILE = "TableInstruct_instructions.jsonl"
QTYPES = ("FactChecking", "NumericalReasoning", "DataAnalysis", "Visualization")
_FINAL = re.compile(r"final answer:", re.IGNORECASE)


def final_answer_output(response: str) -> str | None:
    """The response when it has exactly one ``Final Answer:`` and that is its last line."""
    response = response.strip()
    if len(_FINAL.findall(response)) != 1:
        return None
    last = response.splitlines()[-1]
    if not _FINAL.search(last) or not last.split(":", 1)[1].strip():
        return None
    return response


def with_code_block(response: str) -> str | None:
    """The response with its code in a ```python block (None when it holds no code)."""
    if re.search(r"```python\s", response):
        return response.strip()
    if "import " in response or "plt." in response:
        return f"```python\n{response.strip()}\n```"
    return None


class TableInstructRecipe(Recipe):
    name = "tableinstruct"
    dataset = "tableinstruct"
    prefer_scan = True

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        return [file for file in files.files if file.relative == FILE]

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        return [("qtype",), ("instruction_type",), ("table",), ("question",), ("response",)]

    def keys(self, row: Row, file: RawFile, benchmark: Benchmark) -> list[str]:
        table, question = parse_table(row.get("table")), row.get("question")
        if table is None or not isinstance(question, str) or not question.strip():
            return []
        return [item_key(table, question)]

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        qtype = row.get("qtype")
        if benchmark.task in QTYPES and qtype != benchmark.task:
            return None
        table, question = parse_table(row.get("table")), row.get("question")
        if table is None or not isinstance(question, str) or not question.strip():
            return None
        response = text(get(row, "response"))
        style = text(get(row, "instruction_type")).upper()
        if benchmark.answer_format is AnswerFormat.python_code:
            output = with_code_block(response)
        elif style == "POT":
            return None
        else:
            output = final_answer_output(response)
        if not output:
            return None
        record = AlpacaRecord(instruction=render_question(table, question), output=output)
        return Converted(record, preferred=style == "TCOT")
