"""Evaluation-set layouts of the TableBench family: fact checking, numerical reasoning, data
analysis and visualization over one JSON Lines file of ``Multilingual-Multimodal-NLP/TableBench``.

The repository root holds ``TableBench.jsonl`` (the plain test set) and
``TableBench_{DP,TCoT,SCoT,PoT}.jsonl`` (the same 886 items with an ``instruction`` prompt
per reasoning style). The OpenCompass fork RD-Agent runs (``TableBenchDataset.load``) reads
exactly one file, ``TableBench_TCoT.jsonl`` (``instruction_type='TCoT'`` in all four
configs), keeps the rows whose ``qtype`` equals the benchmark's (then, where the config names
one, whose ``qsubtype`` equals it), and shuffles them with ``Dataset.shuffle(seed=42)``;
RD-Agent then cuts validation ``[:min(100, N // 2)]`` and test ``[-min(100, N // 2):]`` of
that order.

Rows: ``id``, ``qtype``, ``qsubtype``, ``instruction``, ``instruction_type``, ``table``
(an object ``{"columns": [...], "data": [[...], ...]}``), ``question``, ``answer`` (text)
and, on Visualization rows only, ``chart_type``. The gold is ``answer`` as is (the fork
turns it into ``str(answer)``); for Visualization it is the text
``y_references = [[...], ...]``: the y-values the model's chart must plot.

Data analysis is five OpenCompass datasets in the fork's config, each loaded, filtered and
shuffled on its own and cut on its own: ``CorrelationAnalysis``, ``TrendForecasting``,
``StatisticalAnalysis`` (numbers within 10%), ``ImpactAnalysis`` (exact match) and
``tablebench_analysis_other``, which names no ``qsubtype`` and therefore holds *every*
DataAnalysis row, scored with ROUGE-L. The items of that benchmark are the members of the
five datasets (a row of the first four subtypes is in two of them), each dataset a split
group, and :class:`DataAnalysisEvalSet` applies the per-dataset shuffle itself.

What the model sees after the benchmark's description (:func:`render_question`): the table
as JSON and the question. Upstream's prompt gives the same two things (inside the row's
``instruction`` and once more as a ``" | "``-separated table); the expected answer format is
stated by the catalog description. The TableInstruct recipe renders its training rows with
the same function, and :func:`item_key` (question plus table) identifies an item there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ftapi.evalsets.base import EvalRow, EvalSet, LayoutError, SourceRow, dumps, shuffled

OPENCOMPASS = "Jensen246/opencompass@abc7c91a485bc1e3188e71e330a7140be385da29"
RDAGENT = "microsoft/RD-Agent@471eb30d1ec03f35631c532c58a52ce75d684037"
REPO = "Multilingual-Multimodal-NLP/TableBench"
FILE = "TableBench_TCoT.jsonl"
"""The one file the fork reads (``f"TableBench_{instruction_type}.jsonl"``, TCoT)."""
SEED = 42
"""``TableBenchDataset.load(seed=42)``: ``processed_ds.shuffle(seed=seed)``."""
RDAGENT_LIMIT = 100
"""RD-Agent's ranges: ``[:min(100, len(index_list)//2)]`` and ``[-min(100, ...):]``."""

EM = "EM"
"""``TableBenchEvaluator(metric='exact_match_with_final_answer')``."""
EM_WITHIN_10 = "EM_with_error_10"
"""``TableBenchNumericalWithPercenteErrorEvaluator(error_rate=0.10)``."""
ROUGE_L = "ROUGE-L"
"""``TableBenchRougeEvaluator``."""

DATA_ANALYSIS_DATASETS: tuple[tuple[str, str | None, str], ...] = (
    ("correlationanalysis", "CorrelationAnalysis", EM_WITHIN_10),
    ("trendforecasting", "TrendForecasting", EM_WITHIN_10),
    ("statisticalanalysis", "StatisticalAnalysis", EM_WITHIN_10),
    ("impactanalysis", "ImpactAnalysis", EM),
    ("other", None, ROUGE_L),
)
"""The fork's ``tablebench_data_analysis_datasets`` in config order: abbreviation suffix
(``tablebench_analysis_<suffix>``), the ``qsubtype`` filter (None: no filter, every
DataAnalysis row) and the evaluator."""


# ----------------------------------------------------------------------------- rendering


def parse_table(value: Any) -> dict[str, Any] | None:
    """A TableBench table, ``{"columns": [...], "data": [[...], ...]}``, from the object or
    its JSON text (TableInstruct stores the text); None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, dict):
        return None
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        return None
    if not all(isinstance(row, list) for row in data):
        return None
    return {"columns": columns, "data": data}


def render_table(table: Mapping[str, Any]) -> str:
    """The table as one line of JSON: column names, then the rows (cells as in the file)."""
    return dumps({"columns": table["columns"], "data": table["data"]})


def render_question(table: Mapping[str, Any], question: str) -> str:
    """A TableBench item as the model sees it after the task description: the table as JSON
    and the question. The TableInstruct recipe renders its training rows with it too."""
    return (
        "Table (JSON with the column names and the rows):\n"
        f"{render_table(table)}\n\nQuestion: {question.strip()}"
    )


def item_key(table: Mapping[str, Any], question: str) -> str:
    """What identifies a TableBench item in a training dataset: its question and its table."""
    return f"{question.strip()}\n{render_table(table)}"


# ----------------------------------------------------------------------------- rows


def _table(row: SourceRow) -> dict[str, Any]:
    table = parse_table(row.field("table"))
    if table is None:
        raise LayoutError(
            row.file, row.position, "'table' is not an object {'columns': [...], 'data': [[...]]}"
        )
    return table


def _answer(row: SourceRow) -> str:
    """``str(item.get('answer', ''))`` in the fork; a missing or empty gold is a layout error
    here (no TableBench row has one)."""
    value = row.field("answer")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise LayoutError(row.file, row.position, "'answer' is not text")
    text = str(value)
    if not text.strip():
        raise LayoutError(row.file, row.position, "'answer' is empty")
    return text


def _item(
    row: SourceRow, *, item_id: str | None = None, group: str | None = None, **extra: Any
) -> EvalRow:
    table = _table(row)
    question = row.text("question")
    fields: dict[str, Any] = {
        "qtype": row.text("qtype"),
        "qsubtype": row.text("qsubtype"),
        **extra,
    }
    return EvalRow(
        id=item_id or row.text("id"),
        question=render_question(table, question),
        answer=_answer(row),
        extra=fields,
        group=group,
        keys=[item_key(table, question)],
    )


class TableBenchEvalSet(EvalSet):
    """One ``qtype`` of ``TableBench_TCoT.jsonl``: its rows in file order (the seeded
    shuffle of :func:`~ftapi.evalsets.base.cut_splits` is the fork's shuffle)."""

    qtype: str
    """The ``qtype`` value the fork filters on."""

    def _rows(self, rows: Sequence[SourceRow]) -> list[SourceRow]:
        kept = []
        for row in rows:
            if row.file not in self.files:
                raise LayoutError(row.file, row.position, f"not a file of {self.benchmark}")
            if row.field("qtype") == self.qtype:
                kept.append(row)
        return kept

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        items = []
        for row in self._rows(rows):
            if self.qtype == "Visualization":
                items.append(_item(row, chart_type=row.text("chart_type"), table=_table(row)))
            else:
                items.append(_item(row))
        return items


class DataAnalysisEvalSet(TableBenchEvalSet):
    """The fork's five data-analysis datasets, each filtered and shuffled on its own (seed
    42) and each a split group; item id ``<dataset>/<row id>``. ``shuffle_seed`` stays None:
    the per-dataset shuffles happen here, the items come out in upstream's final order."""

    seed: int = SEED
    datasets: tuple[tuple[str, str | None, str], ...] = DATA_ANALYSIS_DATASETS

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        kept = self._rows(rows)
        items = []
        for suffix, qsubtype, scorer in self.datasets:
            members = [r for r in kept if qsubtype is None or r.field("qsubtype") == qsubtype]
            size = len(members)
            for index in shuffled(size, self.seed):
                row = members[index]
                item = _item(
                    row,
                    item_id=f"{suffix}/{row.text('id')}",
                    group=suffix,
                    dataset=suffix,
                    scorer=scorer,
                    dataset_items=size,
                    split_items=min(RDAGENT_LIMIT, size // 2),
                )
                items.append(item)
        return items


# ----------------------------------------------------------------------------- layouts

_SPLIT = (
    f"{FILE} rows of this qtype in file order, shuffled as datasets.Dataset.shuffle(seed=42) "
    "(numpy default_rng(42).permutation); validation = the first min(limit, N // 2), test = "
    "the last as many."
)
_QUESTION = (
    "question = the `table` object rendered as JSON and the `question` field; gold = the "
    "`answer` field as text; id = the `id` field. The row's `instruction` (the TCoT prompt, "
    "which holds the same table and question) is not repeated: the catalog description states "
    "the task and the `Final Answer:` format."
)
_SOURCES = (
    f"{OPENCOMPASS}:opencompass/datasets/tablebench/tablebench.py",
    f"{OPENCOMPASS}:opencompass/configs/datasets/tablebench/tablebench_gen_base.py",
    f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/data/adaptor.py",
    f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/benchmark.py",
    f"{RDAGENT}:rdagent/scenarios/finetune/benchmark/configs/opencompass_template.yaml",
    f"{RDAGENT}:rdagent/app/finetune/llm/ui/benchmarks/tablebench.py",
    f"{RDAGENT}:rdagent/scenarios/finetune/datasets/tableinstruct/README.md",
    "huggingface.co/datasets/Multilingual-Multimodal-NLP/TableBench:README.md",
)


def _config(name: str) -> str:
    return f"{OPENCOMPASS}:opencompass/configs/datasets/tablebench/tablebench_{name}_gen.py"


def _example(qtype: str, qsubtype: str, answer: str, **extra: Any) -> dict[str, Any]:
    """A made-up row of ``TableBench_TCoT.jsonl`` (for ``ftctl benchmarks KEY``)."""
    return {
        "id": f"example-{qtype.lower()}",
        "qtype": qtype,
        "qsubtype": qsubtype,
        "instruction": "(the TCoT prompt with the table and the question)",
        "instruction_type": "TCoT",
        "table": {
            "columns": ["season", "club", "goals"],
            "data": [["2019", "Harbor FC", 12], ["2020", "Harbor FC", 17], ["2021", "Vale", 9]],
        },
        "question": {
            "FactChecking": "Which club did the player play for in 2021?",
            "NumericalReasoning": "How many goals were scored in total over the three seasons?",
            "DataAnalysis": "What trend do the goals show from 2019 to 2021?",
            "Visualization": "Draw a bar chart of the goals per season.",
        }[qtype],
        "answer": answer,
        **extra,
    }


EVALSETS: Mapping[str, EvalSet] = {
    "tablebench_fact_checking": TableBenchEvalSet(
        benchmark="tablebench_fact_checking",
        repo=REPO,
        files=(FILE,),
        qtype="FactChecking",
        shuffle_seed=SEED,
        upstream_size=96,
        split_note=_SPLIT,
        question_note=_QUESTION,
        sources=(*_SOURCES, _config("fact_checking")),
        example=_example("FactChecking", "MatchBased", "Vale"),
    ),
    "tablebench_numerical_reasoning": TableBenchEvalSet(
        benchmark="tablebench_numerical_reasoning",
        repo=REPO,
        files=(FILE,),
        qtype="NumericalReasoning",
        shuffle_seed=SEED,
        upstream_size=397,
        split_note=_SPLIT,
        question_note=_QUESTION,
        sources=(*_SOURCES, _config("numerical_reasoning")),
        example=_example("NumericalReasoning", "Aggregation", "38"),
    ),
    "tablebench_data_analysis": DataAnalysisEvalSet(
        benchmark="tablebench_data_analysis",
        repo=REPO,
        files=(FILE,),
        qtype="DataAnalysis",
        split_note=(
            f"Five datasets, as the fork's config defines them, each cut on its own (one split "
            f"group each): the {FILE} DataAnalysis rows with qsubtype CorrelationAnalysis, "
            "TrendForecasting, StatisticalAnalysis, ImpactAnalysis, and 'other' = all "
            "DataAnalysis rows (no qsubtype filter); each in file order, shuffled with "
            "default_rng(42).permutation of its own size; validation = its first "
            "min(limit, N // 2), test = its last as many."
        ),
        question_note=(
            "question = the `table` object rendered as JSON and the `question` field; gold = "
            "the `answer` field as text; id = '<dataset>/<id>' (dataset: correlationanalysis, "
            "trendforecasting, statisticalanalysis, impactanalysis, other); extra: qsubtype, "
            "dataset, scorer (EM_with_error_10, EM or ROUGE-L) and the dataset's sizes."
        ),
        sources=(*_SOURCES, _config("data_analysis")),
        example=_example("DataAnalysis", "TrendForecasting", "No clear trend"),
    ),
    "tablebench_visualization": TableBenchEvalSet(
        benchmark="tablebench_visualization",
        repo=REPO,
        files=(FILE,),
        qtype="Visualization",
        shuffle_seed=SEED,
        upstream_size=50,
        split_note=_SPLIT,
        question_note=(
            "question = the `table` object rendered as JSON and the `question` field (the "
            "description says to read the table from table.csv); gold = the `answer` field, "
            "'y_references = [[...], ...]'; extra: chart_type and the table (written as "
            "table.csv for the model's code); id = the `id` field."
        ),
        sources=(*_SOURCES, _config("visualization")),
        example=_example(
            "Visualization", "ChartGeneration", "y_references = [[12, 17, 9]]", chart_type="bar"
        ),
    ),
}
