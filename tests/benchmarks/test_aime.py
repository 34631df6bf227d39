"""AIME family (aime24, aime25; DeepScaleR): real layouts, upstream splits, the official
scorer (the fork's MATHVerifyEvaluator) on hand-checked replies, and the recipe."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures.hub_layouts import aime as fx

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import get_benchmark, get_dataset
from ftapi.evalsets import (
    EVALSETS,
    EvalRow,
    LayoutError,
    SourceRow,
    cut_splits,
    fingerprints,
    normalize,
)
from ftapi.evalsets.aime import AimeEvalSet, render_question
from fteval.adapters import EvalItem, get_adapter
from fteval.adapters.math import math_verify_correct

# ----------------------------------------------------------------------------- layout


def read_rows(repo: str, files: tuple[str, ...]) -> list[SourceRow]:
    """The rows of ``files`` as the prepare step reads them (pyarrow ``to_pylist`` for
    parquet, one object per line for JSON Lines), in file order then row order."""
    data = fx.repos()[repo]
    rows: list[SourceRow] = []
    for file in files:
        if file.endswith(".parquet"):
            records = pq.read_table(io.BytesIO(data[file])).to_pylist()
        else:
            records = [json.loads(line) for line in data[file].decode().splitlines() if line]
        rows += [SourceRow(file, position, record) for position, record in enumerate(records)]
    return rows


def items(benchmark: str) -> list[EvalRow]:
    evalset = EVALSETS[benchmark]
    return evalset.build(read_rows(evalset.repo, evalset.files))


def test_aime24_reads_the_parquet_file_of_the_h4_repository() -> None:
    evalset = EVALSETS["aime24"]
    assert isinstance(evalset, AimeEvalSet)
    assert (evalset.repo, evalset.files) == (fx.AIME24, (fx.AIME24_FILE,))
    assert evalset.shuffle_seed is None and evalset.shots_files == ()
    assert "README.md" in fx.repos()[fx.AIME24]  # next to the data, never read
    built = items("aime24")
    source = fx.aime24_rows()
    assert [item.id for item in built] == [str(60 + n) for n in range(11)]
    assert [item.question for item in built] == [row["problem"].strip() for row in source]
    assert [item.answer for item in built] == [row["answer"] for row in source]
    assert built[4].answer == "053"  # the gold as written; math-verify reads 53
    assert all(item.keys == [row["problem"]] for item, row in zip(built, source, strict=True))
    assert all(item.extra == {} and item.group is None for item in built)


def test_aime25_reads_part_one_then_part_two() -> None:
    evalset = EVALSETS["aime25"]
    assert (evalset.repo, evalset.files) == (fx.AIME25, ("aime2025-I.jsonl", "aime2025-II.jsonl"))
    assert evalset.shuffle_seed is None
    built = items("aime25")
    expected_ids = [f"aime2025-I-{n}" for n in range(5)] + [f"aime2025-II-{n}" for n in range(4)]
    assert [item.id for item in built] == expected_ids
    source = [row for rows in fx.aime25_rows().values() for row in rows]
    assert [(i.question, i.answer) for i in built] == [(r["question"], r["answer"]) for r in source]
    assert [item.keys for item in built] == [[row["question"]] for row in source]


def test_splits_are_head_and_tail_of_the_source_order() -> None:
    # aime24: 11 items, min(100, 11 // 2) = 5: ids 60-64 and 66-70; 65 is in neither.
    splits = cut_splits(EVALSETS["aime24"], items("aime24"), 100, 100)
    assert splits.validation == ["60", "61", "62", "63", "64"]
    assert splits.test == ["66", "67", "68", "69", "70"]
    # aime25: 9 items, 4 each: part I rows 0-3, then part II rows 0-3 (I-4 unused).
    splits = cut_splits(EVALSETS["aime25"], items("aime25"), 100, 100)
    assert splits.validation == [f"aime2025-I-{n}" for n in range(4)]
    assert splits.test == [f"aime2025-II-{n}" for n in range(4)]
    # smaller limits cut inside: first 2, last 3
    splits = cut_splits(EVALSETS["aime25"], items("aime25"), 2, 3)
    assert splits.validation == ["aime2025-I-0", "aime2025-I-1"]
    assert splits.test == ["aime2025-II-1", "aime2025-II-2", "aime2025-II-3"]


def test_real_size_gives_fifteen_and_fifteen() -> None:
    # 30 problems (15 per part) as upstream has them: validation = part I, test = part II.
    rows = [
        SourceRow(file, n, {"question": f"Problem {file} {n}: find $x$.", "answer": str(n)})
        for file in fx.AIME25_FILES
        for n in range(15)
    ]
    splits = cut_splits(EVALSETS["aime25"], EVALSETS["aime25"].build(rows), 100, 100)
    assert splits.validation == [f"aime2025-I-{n}" for n in range(15)]
    assert splits.test == [f"aime2025-II-{n}" for n in range(15)]


def test_layout_errors_name_file_row_and_field() -> None:
    evalset = EVALSETS["aime25"]
    with pytest.raises(LayoutError, match=r"aime2025-II.jsonl row 2: no column 'question'"):
        evalset.build([SourceRow("aime2025-II.jsonl", 2, {"problem": "p", "answer": "1"})])
    with pytest.raises(LayoutError, match="'answer' is not a non-empty string or integer"):
        evalset.build([SourceRow("aime2025-I.jsonl", 0, {"question": "q", "answer": ""})])
    # an integer gold (JSON Lines can hold one) is the same gold as its text
    built = evalset.build([SourceRow("aime2025-I.jsonl", 0, {"question": "q", "answer": 70})])
    assert built[0].answer == "70"
    with pytest.raises(LayoutError, match="no column 'id'"):
        EVALSETS["aime24"].build([SourceRow(fx.AIME24_FILE, 0, {"problem": "p", "answer": "1"})])
    with pytest.raises(LayoutError, match="not a file of aime24"):
        EVALSETS["aime24"].build([SourceRow("README.md", 0, {"id": 1, "problem": "p"})])


# ----------------------------------------------------------------------------- scoring

# (reply, gold, correct). Upstream: parse(reply) with boxed_match_priority=0 and no
# un-anchored extraction -> the rightmost \boxed{} match, normalised to its last box (boxes
# within 10 characters, or within 70 characters and joined by and/or/,/;, form a set);
# parse("$gold$"); verify(reply, gold).
GOLDEN = [
    ("So the total is $\\boxed{70}$.", "70", True),  # plain box
    ("\\boxed{070}", "70", True),  # 070 parses as 70
    ("\\boxed{70}", "070", True),  # the gold "070" parses as 70 too
    ("\\boxed{5} was my first count. It is wrong. Finally \\boxed{70}", "70", True),  # last box
    ("\\boxed{70}\n\nOn reflection the count is really \\boxed{5}.", "70", False),  # last: 5
    ("\\boxed{5}, \\boxed{70}", "70", False),  # joined by a comma: the set {5, 70} != 70
    ("The answer is 70.", "70", False),  # no box and no LaTeX: nothing extracted
    ("The answer is $70$.", "70", True),  # LaTeX anchored by "answer"
    ("\\boxed{\\frac{140}{2}}", "70", True),  # sympy equality
    ("\\boxed{70", "70", False),  # unclosed: nothing extracted
    # under 70 characters with a comma between the boxes: both are read, {5, 70} != 70
    ("\\boxed{5} is what I first got, but it is wrong. Finally \\boxed{70}", "70", False),
]


@pytest.mark.parametrize(("reply", "gold", "correct"), GOLDEN)
def test_math_verify_matches_the_official_definition(reply: str, gold: str, correct: bool) -> None:
    ok, _ = math_verify_correct(reply, gold)
    assert ok is correct


@pytest.mark.parametrize("benchmark", ["aime24", "aime25"])
def test_golden_replies_aggregate_to_accuracy(benchmark: str) -> None:
    adapter = get_adapter(benchmark)  # no judge configured: the rule alone
    judgements = [
        adapter.judge(reply, EvalItem(index=i, question="q", answer=gold))
        for i, (reply, gold, _) in enumerate(GOLDEN)
    ]
    assert [j.correct for j in judgements] == [correct for _, _, correct in GOLDEN]
    assert [j.score for j in judgements] == [1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0]
    assert all(j.weight == 1.0 for j in judgements)
    assert [j.extracted for j in judgements][:2] == ["70", "070"]
    assert [judgements[3].extracted, judgements[4].extracted] == ["70", "5"]
    assert judgements[5].extracted == judgements[10].extracted == "5,70"
    assert judgements[6].extracted is None and judgements[9].extracted is None
    # accuracy = 100 * 6 correct / 11 items = 54.5454...
    assert adapter.aggregate(judgements) == {"accuracy": pytest.approx(600 / 11)}


def test_only_aime25_asks_the_judge_and_only_with_the_extracted_answer() -> None:
    asked: list[str | None] = []

    def judge_fn(candidate: str | None, answer: str, config: object) -> bool | None:
        asked.append(candidate)
        return candidate == "71"

    config = object()
    aime25 = replace(get_adapter("aime25"), judge_fn=judge_fn).with_judge(config)  # type: ignore[arg-type]
    aime24 = replace(get_adapter("aime24"), judge_fn=judge_fn).with_judge(config)  # type: ignore[arg-type]
    item = EvalItem(index=0, question="q", answer="70")
    assert aime25.judge("\\boxed{70}", item).judged_by_llm is False  # rule right: no judge
    judged = aime25.judge("Long reasoning... so \\boxed{71}", item)
    assert judged.correct and judged.judged_by_llm and judged.extracted == "71"
    assert aime25.judge("seventy", item).score == 0.0  # nothing extracted: no judge
    assert aime25.judge("\\boxed{72}", item).score == 0.0  # the judge says no
    assert aime24.judge("\\boxed{71}", item).correct is False
    assert asked == ["71", "72"]  # never the reply, never on aime24


@pytest.mark.parametrize("benchmark", ["aime24", "aime25"])
def test_fixture_replies_score_full_and_zero(benchmark: str) -> None:
    adapter = get_adapter(benchmark)
    built = items(benchmark)

    def score(reply) -> float:
        judgements = [
            adapter.judge(reply(benchmark, item), EvalItem(i, item.question, item.answer))
            for i, item in enumerate(built)
        ]
        return adapter.aggregate(judgements)["accuracy"]

    assert score(fx.gold_reply) == pytest.approx(100.0)
    assert score(fx.wrong_reply) == pytest.approx(0.0)


# ----------------------------------------------------------------------------- recipe


def recipe_run(tmp_path: Path, benchmark: str, limit: int = 100):
    root = tmp_path / "deepscaler"
    for path, data in fx.repos()[fx.DEEPSCALER].items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    # a stray data file with the same columns is not part of the dataset's layout
    (root / "extra").mkdir()
    (root / "extra" / "copy.json").write_bytes(fx.repos()[fx.DEEPSCALER]["deepscaler.json"])
    evaluation = items(benchmark)
    run = RecipeRun(
        benchmark=get_benchmark(benchmark),
        limit=limit,
        seed=3,
        tokens=TokenCounter(),
        max_tokens=4096,
        exclude=frozenset(fingerprints(evaluation)),
    )
    return get_recipe("deepscaler").build(
        discover(get_dataset("deepscaler"), root), run
    ), evaluation


@pytest.mark.parametrize("benchmark", ["aime24", "aime25"])
def test_recipe_leaves_evaluation_items_out(tmp_path: Path, benchmark: str) -> None:
    result, evaluation = recipe_run(tmp_path, benchmark)
    assert result.files == ["deepscaler.json"]
    # 22 rows: 2 are this benchmark's items (one with other spacing/case/punctuation),
    # 2 have answers outside 0-999 (3/4 and 2048).
    assert result.rows_read == 22
    assert (result.excluded, result.skipped) == (2, 2)
    assert len(result.records) == 18
    eval_keys = {normalize(key) for item in evaluation for key in item.keys}
    assert not any(normalize(record.instruction) in eval_keys for record in result.records)


def test_the_fixture_plants_a_reworded_copy() -> None:
    planted = [row["problem"] for row in fx.deepscaler_rows()]
    original = fx.aime24_rows()[7]["problem"]
    assert original not in planted
    assert normalize(original) in {normalize(problem) for problem in planted}


def test_recipe_outputs_are_scored_correct_by_the_official_scorer(tmp_path: Path) -> None:
    result, _ = recipe_run(tmp_path, "aime24")
    answers = {render_question(row["problem"]): row["answer"] for row in fx.deepscaler_rows()}
    adapter = get_adapter("aime24")
    for record in result.records:
        assert record.input == ""
        gold = answers[record.instruction]
        judgement = adapter.judge(record.output, EvalItem(0, record.instruction, gold))
        assert judgement.correct, record.output
    # worked solutions whose own box disagrees with the answer give answer-only records
    careless = [r for r in result.records if "careless" in r.output]
    assert careless == []
    assert result.fallback == 8  # 4 careless + 4 without a solution (18 records, 10 preferred)
    assert sum(r.output.startswith("The final answer is \\boxed{") for r in result.records) == 8
