"""TableBench: the real layouts of TableBench and TableInstruct (fixture bytes parsed as the
prepare step parses them), the fork's splits, its evaluators on hand-computed cases, the chart
sandbox, and the TableInstruct recipe with evaluation items left out.

Upstream: ``Jensen246/opencompass@abc7c91a`` ``opencompass/datasets/tablebench/tablebench.py``
and ``opencompass/configs/datasets/tablebench/tablebench_*_gen.py``; RD-Agent@471eb30d.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.hub_layouts import tablebench as fx

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import BENCHMARKS, get_dataset
from ftapi.evalsets import EVALSETS, EvalRow, LayoutError, SourceRow, cut_splits, fingerprints
from ftapi.evalsets.tablebench import item_key, parse_table, render_question
from fteval.adapters import EvalItem, get_adapter
from fteval.adapters.tablebench import (
    ChartJudgement,
    DatasetJudgement,
    compared_text,
    extract_code,
    parse_y_references,
    same_series,
)
from fteval.sandbox import plot_capture_script, run_plot_capture

FC, NR, DA, VIZ = (
    "tablebench_fact_checking",
    "tablebench_numerical_reasoning",
    "tablebench_data_analysis",
    "tablebench_visualization",
)
QTYPE = {FC: "FactChecking", NR: "NumericalReasoning", DA: "DataAnalysis", VIZ: "Visualization"}
TOKENS = TokenCounter()


def source_rows(path: str) -> list[SourceRow]:
    """A fixture file read as prepare reads ``.jsonl``: one object per line."""
    data = fx.repos()[fx.TABLEBENCH][path].decode("utf-8")
    return [SourceRow(path, i, json.loads(line)) for i, line in enumerate(data.splitlines())]


def build(benchmark: str) -> list[EvalRow]:
    evalset = EVALSETS[benchmark]
    return evalset.build([row for path in evalset.files for row in source_rows(path)])


def item(row: EvalRow, index: int = 0) -> EvalItem:
    return EvalItem(index=index, question=row.question, answer=row.answer, extra=row.extra)


def judge(benchmark: str, prediction: str, answer: str, **extra):
    return get_adapter(benchmark).judge(prediction, EvalItem(0, "q", answer, extra))


# ----------------------------------------------------------------------------- (a) layout


def test_every_benchmark_reads_only_the_tcot_file_of_the_benchmark_repo() -> None:
    for key in QTYPE:
        evalset = EVALSETS[key]
        assert evalset.repo == BENCHMARKS[key].eval_hf_id == fx.TABLEBENCH
        assert evalset.files == ("TableBench_TCoT.jsonl",)
    assert {"TableBench.jsonl", "TableBench_DP.jsonl", "TableBench_PoT.jsonl"} <= set(
        fx.repos()[fx.TABLEBENCH]
    )


@pytest.mark.parametrize("benchmark", [FC, NR, VIZ])
def test_items_are_the_rows_of_the_qtype_in_file_order(benchmark: str) -> None:
    rows = [r.row for r in source_rows("TableBench_TCoT.jsonl")]
    wanted = [r for r in rows if r["qtype"] == QTYPE[benchmark]]
    items = build(benchmark)
    assert [i.id for i in items] == [r["id"] for r in wanted]
    assert len(items) == {FC: 11, NR: 13, VIZ: 9}[benchmark]
    for got, row in zip(items, wanted, strict=True):
        assert got.answer == row["answer"]
        assert got.question == render_question(row["table"], row["question"])
        assert json.dumps(row["table"], ensure_ascii=False) in got.question
        assert got.question.endswith(f"Question: {row['question'].strip()}")
        assert got.keys == [item_key(row["table"], row["question"])]
        assert got.extra["qsubtype"] == row["qsubtype"]
        assert got.group is None
        if benchmark == VIZ:
            assert got.extra["chart_type"] == row["chart_type"]
            assert got.extra["table"] == row["table"]
            assert got.answer.startswith("y_references = [[")


@pytest.mark.parametrize("benchmark", [FC, NR, VIZ])
def test_splits_follow_the_forks_shuffle_after_the_filter(benchmark: str) -> None:
    evalset = EVALSETS[benchmark]
    assert evalset.shuffle_seed == 42
    items = build(benchmark)
    splits = cut_splits(evalset, items, 100, 100)
    # Independently: Dataset.filter keeps file order, Dataset.shuffle(seed=42) takes
    # default_rng(42).permutation(n); RD-Agent: [:min(100, n//2)] and [-min(100, n//2):].
    n = len(items)
    order = [items[i].id for i in np.random.default_rng(42).permutation(n)]
    assert splits.validation == order[: n // 2]
    assert splits.test == order[n - n // 2 :]
    assert splits.validation[0] == items[int(np.random.default_rng(42).permutation(n)[0])].id


def test_data_analysis_is_the_forks_five_datasets_each_shuffled_and_cut() -> None:
    evalset = EVALSETS[DA]
    assert evalset.shuffle_seed is None  # the build shuffles every dataset itself
    items = build(DA)
    rows = [r.row for r in source_rows("TableBench_TCoT.jsonl") if r.row["qtype"] == "DataAnalysis"]
    plan = {
        "correlationanalysis": ("CorrelationAnalysis", "EM_with_error_10", 9),
        "trendforecasting": ("TrendForecasting", "EM_with_error_10", 8),
        "statisticalanalysis": ("StatisticalAnalysis", "EM_with_error_10", 8),
        "impactanalysis": ("ImpactAnalysis", "EM", 9),
        "other": (None, "ROUGE-L", 43),  # no qsubtype filter in the fork: every row
    }
    assert len(items) == 9 + 8 + 8 + 9 + 43
    assert len({i.id for i in items}) == len(items)
    splits = cut_splits(evalset, items, 100, 100)
    for dataset, (qsubtype, scorer, size) in plan.items():
        members = [r for r in rows if qsubtype is None or r["qsubtype"] == qsubtype]
        assert len(members) == size
        order = [members[i] for i in np.random.default_rng(42).permutation(size)]
        group = [i for i in items if i.group == dataset]
        assert [i.id for i in group] == [f"{dataset}/{r['id']}" for r in order]
        assert all(i.extra["scorer"] == scorer and i.extra["dataset"] == dataset for i in group)
        assert all(i.extra["split_items"] == size // 2 for i in group)
        assert [i for i in splits.validation if i.startswith(dataset + "/")] == [
            i.id for i in group[: size // 2]
        ]
        assert [i for i in splits.test if i.startswith(dataset + "/")] == [
            i.id for i in group[size - size // 2 :]
        ]
    # a CorrelationAnalysis row is in its dataset and in "other", with one key
    first = items[0]
    twin = next(i for i in items if i.id == "other/" + first.id.split("/", 1)[1])
    assert (twin.question, twin.answer, twin.keys) == (first.question, first.answer, first.keys)
    assert len(fingerprints(items)) == 43


def test_missing_or_malformed_fields_are_layout_errors() -> None:
    rows = source_rows("TableBench_TCoT.jsonl")
    first = next(r for r in rows if r.row["qtype"] == "FactChecking")
    broken = [
        SourceRow(first.file, first.position, {k: v for k, v in first.row.items() if k != "table"})
    ]
    with pytest.raises(LayoutError, match="no column 'table'"):
        EVALSETS[FC].build(broken)
    text_table = SourceRow(first.file, first.position, {**first.row, "table": [1, 2]})
    with pytest.raises(LayoutError, match="'table' is not an object"):
        EVALSETS[FC].build([text_table])
    chart = next(r for r in rows if r.row["qtype"] == "Visualization")
    no_chart = {k: v for k, v in chart.row.items() if k != "chart_type"}
    with pytest.raises(LayoutError, match="chart_type"):
        EVALSETS[VIZ].build([SourceRow(chart.file, chart.position, no_chart)])
    with pytest.raises(LayoutError, match="not a file"):
        EVALSETS[FC].build([SourceRow("TableBench_DP.jsonl", 0, first.row)])


# ----------------------------------------------------------------------------- (b) scoring


def test_exact_match_is_the_first_final_answer_normalised() -> None:
    # lower case, non-word characters -> spaces, whitespace collapsed; no numeric tolerance
    assert judge(FC, "Final Answer: Harbor  FC.", "harbor fc").score == 1.0
    assert judge(NR, "Final Answer: 1,200", "1200").score == 0.0  # "1 200" != "1200"
    assert judge(NR, "Final Answer: 1,200", "1,200").score == 1.0
    assert judge(NR, "Final Answer: 44", "42.5").score == 0.0  # 3.5% off: still wrong
    assert judge(NR, "Final Answer: 42.50", "42.5").score == 0.0  # "42 50" != "42 5"
    # the FIRST marker counts, up to the end of its line
    first = judge(NR, "Final Answer: 5\nchecking again\nFinal Answer: 7", "7")
    assert (first.score, first.extracted) == (0.0, "5")
    # no marker: the whole reply is compared (extracted None: no answer line)
    bare = judge(FC, "  Yes \n", "Yes")
    assert (bare.score, bare.correct, bare.extracted) == (1.0, True, None)
    assert compared_text("Final answer:\n\n  Spain \nmore") == "Spain"


def test_em_within_ten_percent_compares_first_numbers() -> None:
    def em10(prediction: str, gold: str) -> float:
        extra = {"scorer": "EM_with_error_10", "dataset": "trendforecasting", "split_items": 4}
        return judge(DA, prediction, gold, **extra).score

    assert em10("Final Answer: 110", "100") == 1.0  # |110-100|/100 = 0.10 <= 0.10
    assert em10("Final Answer: 111", "100") == 0.0  # 0.11
    assert em10("Final Answer: 0.84, weak", "Strong positive correlation, 0.85") == 1.0
    assert em10("Final Answer: 12%", "12.5") == 1.0  # '%' dropped: 0.5/12.5 = 0.04
    assert em10("Final Answer: 1,180", "1200") == 1.0  # ',' dropped: 20/1200
    assert em10("Final Answer: 0.0000001", "0") == 1.0  # gold 0: |x| < 1e-6
    assert em10("Final Answer: 0.01", "0") == 0.0
    assert em10("Final Answer:  No clear TREND ", "no clear trend") == 1.0  # text fallback
    assert em10("Final Answer: increasing", "5.2") == 0.0  # only one side has a number


def test_rouge_l_is_the_rouge_package_on_lower_cased_text() -> None:
    def rouge(prediction: str, gold: str) -> float:
        extra = {"scorer": "ROUGE-L", "dataset": "other", "split_items": 4}
        return judge(DA, prediction, gold, **extra).score

    # identical: P = R = 1, F = 2 * 1 / (2 + 1e-8)
    assert rouge("Final Answer: Positive impact", "positive impact") == pytest.approx(
        2 / (2 + 1e-8), abs=1e-12
    )
    # hypothesis words {the, sales, grow}; reference: 9 distinct words; union LCS {the, sales}
    # R = 2/9, P = 2/3, F = 2PR / (P + R + 1e-8) = 1/3
    assert rouge(
        "Final Answer: The sales grow", "The table shows steady growth of sales over the years"
    ) == pytest.approx(1 / 3, abs=1e-7)
    assert rouge("Final Answer: ...", "Positive impact") == 0.0  # no sentence: rouge raises
    # an empty answer line is scored as the word "empty"
    assert rouge("Final Answer: \n", "Empty") == pytest.approx(2 / (2 + 1e-8), abs=1e-12)


def test_data_analysis_core_metric_is_the_mean_of_the_dataset_accuracies() -> None:
    adapter = get_adapter(DA)
    em10 = {"scorer": "EM_with_error_10", "dataset": "correlationanalysis", "split_items": 2}
    rouge = {"scorer": "ROUGE-L", "dataset": "other", "split_items": 4}
    cases = [
        ("Final Answer: 0.9", "0.91", em10),  # 1
        ("Final Answer: 0.5", "0.91", em10),  # 0
        (
            "Final Answer: The sales grow",
            "The table shows steady growth of sales over the years",
            rouge,
        ),  # 1/3
        ("Final Answer: positive impact", "Positive impact", rouge),  # 2/(2+1e-8)
        ("Final Answer: zzz", "Positive impact", rouge),  # 0
        ("No answer line", "Positive impact", rouge),  # 0
    ]
    judgements = [adapter.judge(p, EvalItem(i, "q", a, e)) for i, (p, a, e) in enumerate(cases)]
    assert all(isinstance(j, DatasetJudgement) for j in judgements)
    # weights 100 / split size: 50 for the 2-item dataset, 25 for the 4-item one
    assert [j.weight for j in judgements] == [50.0, 50.0, 25.0, 25.0, 25.0, 25.0]
    full = 2 / (2 + 1e-8)
    other = 100 * (1 / 3 + full) / 4
    metrics = adapter.aggregate(judgements)
    assert metrics["tablebench_analysis_correlationanalysis"] == pytest.approx(50.0)
    assert metrics["tablebench_analysis_other"] == pytest.approx(other, abs=1e-6)
    assert metrics["accuracy"] == pytest.approx((50.0 + other) / 2, abs=1e-6)  # ~41.67
    weighted = sum(j.score * j.weight for j in judgements) / sum(j.weight for j in judgements)
    assert 100 * weighted == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert next(iter(metrics)) == BENCHMARKS[DA].metric.value


def test_chart_comparison_rules() -> None:
    assert parse_y_references("y_references = [[1, 2.5], [3]]") == [[1, 2.5], [3]]
    assert parse_y_references("y_references=[['a', 2]]") == [["a", 2]]
    assert parse_y_references("y_references = draw it") is None
    assert same_series([[3.004, 5, 4]], [[3, 5, 4]])  # within 0.01
    assert not same_series([[3.02, 5, 4]], [[3, 5, 4]])
    assert same_series([[float("nan"), 5]], [[3, 5]])  # NaN never differs (fork's abs > tol)
    assert not same_series([[3, 5, 4], [1]], [[3, 5, 4]])  # series count
    assert not same_series([[3, 5]], [[3, 5, 4]])  # length
    assert same_series([["a", 1]], [["a", 1.001]])  # non-numbers as strings
    assert same_series([5, [1]], [[9], [1]])  # a pair that is not two lists is skipped
    assert not same_series([], [[1]])
    # code: the last ```python block, else the whole reply if it mentions a code word
    assert extract_code("```python\na=1\n```\ntext\n```python\nb=2\n```") == "b=2"
    assert extract_code("please update the chart") == "please update the chart"  # 'pd'
    assert extract_code("Draw a bar chart of sales by year.") is None


TABLE = {
    "columns": ["city", "visits", "year"],
    "data": [["Arlen", 3, 2001], ["Brisk", "1,250", 2002]],
}


def chart(code: str, answer: str = "y_references = [[2001, 2002]]") -> ChartJudgement:
    result = judge(VIZ, f"```python\n{code}\n```", answer, table=TABLE, chart_type="bar")
    assert isinstance(result, ChartJudgement)
    return result


def test_visualization_runs_the_code_on_table_csv_and_reads_plt_calls() -> None:
    read = "import pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('table.csv')\n"
    assert chart(read + "plt.bar(df['city'], df['year'])\nplt.show()").score == 1.0
    # plt.plot(x, y, fmt): the y of every (x, y) pair; a format string alone is no pair
    assert chart(read + "plt.plot(df['city'], df['year'], 'r-')").score == 1.0
    # the CSV is pandas' own: "1,250" stays text, so the column is read as strings
    visits = chart(read + "plt.bar(df['city'], df['visits'])", "y_references = [['3', '1,250']]")
    assert visits.score == 1.0
    # np, pd and plt are defined before the code runs, as in the fork's exec script
    assert chart("plt.scatter([1, 2], np.array([2001.0, 2002.0]))").score == 1.0
    # numpy integers cannot be written as JSON: the fork counts the run as failed
    ints = chart("plt.bar([1, 2], np.array([2001, 2002]))")
    assert (ints.score, ints.executed, ints.parsed) == (0.0, False, True)
    # drawn but not through plt.bar/plot/scatter: nothing captured
    pie = chart(read + "plt.pie(df['year'])")
    assert (pie.score, pie.executed) == (0.0, True)
    axes = chart(read + "fig, ax = plt.subplots()\nax.bar(df['city'], df['year'])")
    assert (axes.score, axes.executed) == (0.0, True)
    extra_series = chart(read + "plt.bar(df['city'], df['year'])\nplt.plot([0, 1], [0, 1])")
    assert extra_series.score == 0.0
    error = chart("raise ValueError('no chart')")
    assert (error.score, error.executed, error.error) == (0.0, False, "no chart")
    bad_gold = chart(read + "plt.bar(df['city'], df['year'])", "y_references = see table")
    assert (bad_gold.score, bad_gold.executed, bad_gold.error) == (
        0.0,
        False,
        "Invalid y_references format",
    )
    prose = judge(VIZ, "Draw it as bars.", "y_references = [[1]]", table=TABLE)
    assert prose.extracted is None
    # Pass@1 1/4, ECR@1 3/4 (pie and ax.bar ran), Parse@1 3/4
    metrics = get_adapter(VIZ).aggregate(
        [chart(read + "plt.bar(df['city'], df['year'])"), pie, axes, prose]
    )
    assert metrics == {"pass_at_1": 25.0, "ECR@1": 75.0, "Parse@1": 75.0}


def test_plot_capture_script_indents_the_code_inside_try() -> None:
    script = plot_capture_script("x = 1\nif x:\n    plt.bar([0], [x])")
    assert "\ntry:\n    x = 1\n    if x:\n        plt.bar([0], [x])\n" in script
    syntax = run_plot_capture("def broken(:", None, timeout=20)
    assert not syntax.executed and "SyntaxError" in syntax.error


def test_sandbox_refuses_the_network() -> None:
    run = run_plot_capture("import socket\nsocket.create_connection(('127.0.0.1', 80))", None, 20)
    assert not run.executed and "Permission denied" in run.error  # the kernel's EACCES


def _gone(pid: int) -> bool:
    """The process no longer runs (it is reaped, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def _wait_gone(pid: int) -> bool:
    for _ in range(100):
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def test_sandbox_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "pid"

    def spawn(output: str) -> str:
        return (
            "import subprocess\n"
            f"child = subprocess.Popen(['sleep', '300']{output})\n"
            f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        )

    quiet = ", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL"
    timed_out = run_plot_capture(spawn(quiet) + "while True:\n    pass", None, timeout=3)
    assert not timed_out.executed and "timeout" in timed_out.error
    assert _wait_gone(int(marker.read_text()))
    # the code ends but leaves its child running: killed with the group
    left_behind = run_plot_capture(spawn(quiet), None, timeout=20)
    assert left_behind.executed
    assert _wait_gone(int(marker.read_text()))
    # a child that keeps the output pipes open holds the run until the timeout, as the
    # fork's subprocess.run(capture_output=True, timeout=10) does; then it is killed too
    holding = run_plot_capture(spawn(""), None, timeout=3)
    assert not holding.executed and "timeout" in holding.error
    assert _wait_gone(int(marker.read_text()))


# ----------------------------------------------------------------------------- (c) recipe

SCORER = {
    "CorrelationAnalysis": "EM_with_error_10",
    "TrendForecasting": "EM_with_error_10",
    "StatisticalAnalysis": "EM_with_error_10",
    "ImpactAnalysis": "EM",
}


def recipe_records(tmp_path: Path, benchmark: str, limit: int = 1000):
    root = tmp_path / "tableinstruct"
    if not root.exists():
        for path, data in fx.repos()[fx.TABLEINSTRUCT].items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
    items = build(benchmark)
    files = discover(get_dataset("tableinstruct"), root)
    run = RecipeRun(
        benchmark=BENCHMARKS[benchmark],
        limit=limit,
        seed=3,
        tokens=TOKENS,
        max_tokens=1_000_000,
        exclude=frozenset(fingerprints(items)),
    )
    return items, get_recipe("tableinstruct").build(files, run)


def question_of(instruction: str) -> str:
    return instruction.rsplit("\n\nQuestion: ", 1)[1]


@pytest.mark.parametrize("benchmark", [FC, NR, DA])
def test_recipe_final_answer_records_score_correct_and_skip_evaluation_items(
    tmp_path: Path, benchmark: str
) -> None:
    items, result = recipe_records(tmp_path, benchmark)
    assert result.files == [fx.TRAIN_FILE]
    # planted evaluation items of this qtype (TCoT file positions 0, 7, 14, 21, 28)
    assert result.excluded == {FC: 1, NR: 1, DA: 2}[benchmark]
    questions = {i.question for i in items}
    gold = fx.training_gold()
    adapter = get_adapter(benchmark)
    # 12 training items x (TCoT, DP, SCoT); PoT code is never an output; one TCoT reply lacks
    # its final answer (training items 14, 25 and 36: one per qtype)
    assert len(result.records) == 12 * 3 - 1
    assert result.fallback == 12 * 2
    for record in result.records:
        assert record.instruction.strip() and record.output.strip() and record.input == ""
        assert record.instruction not in questions
        assert "print(f'Final Answer" not in record.output
        assert record.output.splitlines()[-1].startswith("Final Answer: ")
        answer, extra = gold[question_of(record.instruction)]
        if benchmark == DA:
            extra = {**extra, "scorer": SCORER.get(extra["qsubtype"], "ROUGE-L")}
            extra.update(dataset="d", split_items=10)
        judgement = adapter.judge(record.output, EvalItem(0, record.instruction, answer, extra))
        assert judgement.correct, (record.output, answer)


def test_recipe_renders_training_rows_as_evaluation_items(tmp_path: Path) -> None:
    _, result = recipe_records(tmp_path, FC, limit=5)
    rows = [json.loads(line) for line in fx.repos()[fx.TABLEINSTRUCT][fx.TRAIN_FILE].splitlines()]
    by_question = {r["question"]: r for r in rows}
    assert len(result.records) == 5
    for record in result.records:
        row = by_question[question_of(record.instruction)]
        assert isinstance(row["table"], str)  # TableInstruct stores the table as JSON text
        assert record.instruction == render_question(parse_table(row["table"]), row["question"])
    assert result.fallback == 0  # TCoT rows are preferred


def test_recipe_visualization_records_draw_the_reference(tmp_path: Path) -> None:
    items, result = recipe_records(tmp_path, VIZ)
    assert result.excluded == 1
    questions = {i.question for i in items}
    # 12 items x 4 styles (code in every style), two TCoT replies without code (items 3, 47)
    assert len(result.records) == 12 * 4 - 2
    gold = fx.training_gold()
    adapter = get_adapter(VIZ)
    for record in result.records[:3]:
        assert record.instruction not in questions
        assert "```python\n" in record.output
        answer, extra = gold[question_of(record.instruction)]
        assert adapter.judge(record.output, EvalItem(0, "q", answer, extra)).correct
