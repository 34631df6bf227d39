"""PANORAMA (PAR4PC, PI4PC, NOC4PC) on its real upstream layout.

Layouts: ``Jensen246/opencompass@abc7c91a`` ``opencompass/datasets/panorama/*.py`` (loaders:
``load_dataset(path, data_dir=<TASK>, split='test')``, ``ds.map`` then ``shuffle(seed=42)``)
and PANORAMA's ``benchmarks/*/data_spliter.py`` (JSON-text columns of PI4PC and NOC4PC).
Scores: the same files' evaluators, fed ``test_set[output_column]`` as references by
``opencompass/tasks/openicl_eval.py`` (so never the silver answers). The expected numbers
below are worked out by hand from those definitions.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures.hub_layouts import panorama as fx

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import get_benchmark, get_dataset
from ftapi.evalsets import EVALSETS, EvalRow, LayoutError, SourceRow, cut_splits, fingerprints
from ftapi.evalsets.panorama import REPO, render_pi4pc
from fteval.adapters import EvalItem, Judgement, get_adapter

BENCHMARKS = {"panorama_par4pc": "PAR4PC", "panorama_pi4pc": "PI4PC", "panorama_noc4pc": "NOC4PC"}
TEST_ROWS = {"PAR4PC": fx.PAR4PC_TEST, "PI4PC": fx.PI4PC_TEST, "NOC4PC": fx.NOC4PC_TEST}
FILES = fx.repos()[REPO]


def rows_of(path: str) -> list[SourceRow]:
    """A file read as prepare reads it (pyarrow ``to_pylist``)."""
    table = pq.read_table(io.BytesIO(FILES[path]))
    return [SourceRow(path, i, row) for i, row in enumerate(table.to_pylist())]


def items_of(benchmark: str) -> list[EvalRow]:
    evalset = EVALSETS[benchmark]
    return evalset.build([row for path in evalset.files for row in rows_of(path)])


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_only_the_test_file_is_the_evaluation_set(benchmark: str) -> None:
    task = BENCHMARKS[benchmark]
    evalset = EVALSETS[benchmark]
    assert evalset.repo == "LG-AI-Research/PANORAMA"
    assert evalset.files == (f"{task}/test.parquet",)
    assert {f"{task}/train.parquet", f"{task}/validation.parquet"} <= set(FILES)
    items = items_of(benchmark)
    assert len(items) == len(TEST_ROWS[task])
    assert len({item.id for item in items}) == len(items)
    apps = {item.id.split("_app")[1].split("_claim")[0] for item in items}
    assert apps == {row["application_number"] for row in TEST_ROWS[task]}
    # train.parquet (applications 40..) and validation.parquet (60..) are not read
    others = {
        row["application_number"]
        for split in ("train", "validation")
        for row in (r.row for r in rows_of(f"{task}/{split}.parquet"))
    }
    assert others - apps and (others - apps).isdisjoint(apps)
    with pytest.raises(LayoutError, match="not a file of"):
        evalset.build(rows_of(f"{task}/train.parquet"))


def test_par4pc_items() -> None:
    items = items_of("panorama_par4pc")
    first = items[0]
    row = fx.PAR4PC_TEST[0]  # application 17000001, claim 2, gold ["B"]
    assert first.id == "par4pc_app17000001_claim2"
    assert first.answer == '["B"]'
    assert first.keys == ["PAR4PC 17000001 claim 2"]
    question = first.question
    assert "Patent application 17000001" in question
    assert "claim 2" in question
    for claim in row["context"]["claims"]:
        assert claim in question
    for letter, option in row["options"].items():
        assert f"{letter}: patent {option['patent_id']}" in question
        assert option["abstract"] in question and option["claims"][1] in question
    assert question.index("A: patent") < question.index("H: patent")
    # two gold letters where the application number is a multiple of 3
    assert items[2].answer == '["D", "G"]'


def test_pi4pc_items_and_repeated_claims() -> None:
    items = items_of("panorama_pi4pc")
    ids = [item.id for item in items]
    # claim 1 of application 18000004 is examined twice (rows 3 and 4): the fork's
    # identifier repeats, so both get their row number
    assert ids[3:5] == ["pi4pc_app18000004_claim1_row3", "pi4pc_app18000004_claim1_row4"]
    assert items[3].keys == items[4].keys == ["PI4PC 18000004 claim 1"]
    first = items[0]  # application 18000001 claim 2: keys 4, 11, 18, 25, 32; gold keys[1]
    assert first.answer == "[11]"
    row = fx.PI4PC_TEST[0]
    context = json.loads(row["context"])
    prior = json.loads(row["prior_art_specification"])
    question = first.question
    assert f"Claim 2: {context['claims'][1]}" in question
    assert prior["specification"] in question  # the full specification
    assert prior["patent_id"] in question and prior["abstract"] in question
    listed = [line.split(":")[0] for line in question.splitlines()[-5:]]
    assert listed == ["4", "11", "18", "25", "32"]  # sorted as integers, not as text
    options = json.loads(row["options"])
    assert question.splitlines()[-1] == f"32: {options['32']}"
    assert prior["claims"][0] not in question  # the fork does not show them either


def test_pi4pc_claim_lookup_by_claim_number() -> None:
    context = {
        "title": "T",
        "abstract": "A",
        "claims": [{"claimNumber": 7, "claim_text": "7. The seventh claim."}, "1. First."],
    }
    row = dict(fx.PI4PC_TEST[0], context=json.dumps(context), claim_number=7)
    assert "Claim 7: 7. The seventh claim." in render_pi4pc(SourceRow("f", 0, row))
    row = dict(row, claim_number=2)  # no claimNumber 2: position 2
    assert "Claim 2: 1. First." in render_pi4pc(SourceRow("f", 0, row))
    row = dict(row, claim_number=9)
    assert "Claim 9: N/A" in render_pi4pc(SourceRow("f", 0, row))


def test_noc4pc_items() -> None:
    items = items_of("panorama_noc4pc")
    first = items[0]  # application 19000001, claim 2, code CODES[1] = "102", two references
    assert first.id == "noc4pc_app19000001_claim2"
    assert first.answer == "102"
    assert [item.answer for item in items[:3]] == ["102", "103", "ALLOW"]
    row = fx.NOC4PC_TEST[0]
    context = json.loads(row["context"])
    specs = json.loads(row["prior_art_specifications"])
    question = first.question
    assert "Patent application 19000001, claim 2" in question
    assert f"Text of claim 2:\n{context['claims'][1]}\n" in question
    assert "Cited prior art 2" in question and "Patent ID: US 20060032" in question
    claim_lines = specs[1]["claims"][0].split("\n")  # a claim over two lines
    assert f"  1. {claim_lines[0]}\n     {claim_lines[1]}" in question
    paragraph = specs[1]["paragraphs"][1]  # key 0021, two lines
    first_line, second_line = paragraph["content"].split("\n")
    assert f"  [0021] {first_line}\n     {second_line}" in question
    assert "Regarding Claim" not in question  # the examiner's reason is not shown


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("answer", "102", "not an object"),  # RD-Agent's README: a bare label; really JSON
        ("answer", json.dumps({"reason": "r", "code": "REJECT"}), "not ALLOW/102/103"),
        ("context", "not json", "not JSON text"),
        ("prior_art_specifications", json.dumps({"patent_id": "x"}), "not a list"),
    ],
)
def test_noc4pc_layout_errors(column: str, value: str, problem: str) -> None:
    row = dict(fx.NOC4PC_TEST[0], **{column: value})
    with pytest.raises(LayoutError, match=problem):
        EVALSETS["panorama_noc4pc"].build([SourceRow("NOC4PC/test.parquet", 0, row)])


def test_missing_code_gives_an_empty_gold() -> None:
    row = dict(fx.NOC4PC_TEST[0], answer=json.dumps({"reason": "r", "code": ""}))
    (item,) = EVALSETS["panorama_noc4pc"].build([SourceRow("NOC4PC/test.parquet", 0, row)])
    assert item.answer == ""


def test_missing_column_is_a_layout_error() -> None:
    row = {k: v for k, v in fx.PAR4PC_TEST[0].items() if k != "options"}
    with pytest.raises(LayoutError, match="no column 'options'"):
        EVALSETS["panorama_par4pc"].build([SourceRow("PAR4PC/test.parquet", 0, row)])


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_splits_follow_the_seeded_shuffle(benchmark: str) -> None:
    items = items_of(benchmark)
    n = len(items)
    evalset = EVALSETS[benchmark]
    assert evalset.shuffle_seed == 42
    order = np.random.default_rng(42).permutation(n)  # datasets' Dataset.shuffle(seed=42)
    splits = cut_splits(evalset, items, 100, 100)
    assert len(splits.validation) == len(splits.test) == n // 2
    assert splits.validation[0] == items[int(order[0])].id
    assert splits.validation == [items[int(i)].id for i in order[: n // 2]]
    assert splits.test == [items[int(i)].id for i in order[n - n // 2 :]]
    small = cut_splits(evalset, items, 3, 2)
    assert small.validation == splits.validation[:3]
    assert small.test == [items[int(i)].id for i in order[-2:]]


def test_first_par4pc_validation_item() -> None:
    # datasets 3.6 Dataset.shuffle(seed=42) on 11 rows gives [6, 7, 0, 10, 3, 5, 2, 4, 9, 1, 8]
    # (= numpy.random.default_rng(42).permutation(11)); row 6 is application 17000007,
    # claim 1 + 7 % 3 = 2; the last 5 (test) are rows 4, 9, 1, 8 preceded by 2
    assert [int(i) for i in np.random.default_rng(42).permutation(11)] == [
        6, 7, 0, 10, 3, 5, 2, 4, 9, 1, 8
    ]  # fmt: skip
    splits = cut_splits(EVALSETS["panorama_par4pc"], items_of("panorama_par4pc"), 100, 100)
    assert splits.validation[0] == "par4pc_app17000007_claim2"
    assert splits.test[-1] == "par4pc_app17000009_claim1"


# ----------------------------------------------------------------------------- scoring


def judge_all(benchmark: str, cases: list[tuple[str, str]]) -> list[Judgement]:
    adapter = get_adapter(benchmark)
    return [
        adapter.judge(reply, EvalItem(index=i, question="q", answer=gold))
        for i, (reply, gold) in enumerate(cases)
    ]


def test_par4pc_golden_scores() -> None:
    cases = [
        # pred {A, E}, gold {A, C} (E is the silver answer, counted as FP as the fork runs):
        # TP 1 FP 1 FN 1 -> 2/(2+1+1) = 0.5, weight 4; custom max(0, (2-1-1)/4) = 0
        ('{"answer": ["A", "E"]}', '["A", "C"]'),
        # code block: pred {B} = gold: TP 1 -> 1.0, weight 2; custom 100
        ('Done.\n```json\n{"answer": "B"}\n```', '["B"]'),
        # prose + JSON: json.loads fails, the pattern '"answer": "G"' matches and every A-H
        # letter of the match counts: {A, E, G}; gold {D}: TP 0 FP 3 FN 1 -> 0, weight 4
        ('I think {"answer": "G"}', '["D"]'),
        # empty list: pred {}, gold {F, H}: TP 0 FP 0 FN 2 -> 0, weight 2
        ('{"answer": []}', '["F", "H"]'),
    ]
    judgements = judge_all("panorama_par4pc", cases)
    assert [j.score for j in judgements] == [0.5, 1.0, 0.0, 0.0]
    assert [j.weight for j in judgements] == [4, 2, 4, 2]
    assert [j.extracted for j in judgements] == [["A", "E"], ["B"], ["A", "E", "G"], None]
    scores = get_adapter("panorama_par4pc").aggregate(judgements)
    assert next(iter(scores)) == "macro_f1"
    # sum TP 2, FP 4, FN 4: P = R = 2/6; F1 = 2*2/(4+4+4) = 1/3 (= (0.5*4 + 1*2)/12)
    assert scores["macro_f1"] == pytest.approx(100 / 3)
    assert scores["precision"] == pytest.approx(100 / 3)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["exact_match"] == pytest.approx(25.0)  # only the second
    assert scores["custom_score"] == pytest.approx(25.0)  # (0 + 100 + 0 + 0) / 4


def test_par4pc_last_resort_takes_every_standalone_letter() -> None:
    # no JSON, no pattern: the fork takes each standalone a-h, so the article "a" counts
    (judgement,) = judge_all("panorama_par4pc", [("It is a B.", '["B"]')])
    assert judgement.extracted == ["A", "B"]
    assert judgement.score == pytest.approx(2 / 3) and judgement.weight == 3


def test_pi4pc_golden_scores() -> None:
    cases = [
        ('{"answer": 12}', "[12]"),  # hit
        ('{"answer": "12"}', "[12]"),  # int("12"): hit
        ('Paragraph 7 fits; {"answer": 30}', "[30]"),  # pattern "answer": 30: hit
        ("I choose paragraph 7, not 30.", "[30]"),  # first number 7: miss
        ("none", "[5]"),  # nothing: miss
    ]
    judgements = judge_all("panorama_pi4pc", cases)
    assert [j.extracted for j in judgements] == [12, 12, 30, 7, None]
    assert [j.score for j in judgements] == [1, 1, 1, 0, 0]
    assert all(j.weight == 1 for j in judgements)
    scores = get_adapter("panorama_pi4pc").aggregate(judgements)
    # 3 gold hits of 5 = 60; custom (3*2)/5/2 = 60; accuracy (gold or silver) 60
    assert scores == pytest.approx({"gold_hit_rate": 60.0, "custom_score": 60.0, "accuracy": 60.0})
    assert next(iter(scores)) == "gold_hit_rate"


def test_noc4pc_golden_scores() -> None:
    cases = [
        ('{"code": "103"}', "103"),  # right
        ('{"reason": "anticipated", "code": "103"}', "102"),  # wrong
        ('```json\n{"code": "allow"}\n```', "ALLOW"),  # right (upper-cased)
        ("I cannot decide.", "102"),  # no code: left out (weight 0)
        ('{"code": "102"}', ""),  # no gold code: left out (weight 0)
        ("Rejected under 102 and 103", "103"),  # last resort: first of ALLOW/102/103 -> 102
    ]
    judgements = judge_all("panorama_noc4pc", cases)
    assert [j.extracted for j in judgements] == ["103", "103", "ALLOW", None, "102", "102"]
    assert [j.weight for j in judgements] == [1, 1, 1, 0, 0, 1]
    assert [j.score for j in judgements] == [1, 0, 1, 0, 0, 0]
    scores = get_adapter("panorama_noc4pc").aggregate(judgements)
    # valid (pred, gold): (103,103) (103,102) (ALLOW,ALLOW) (102,103): accuracy 2/4
    # F1 102: TP 0 FP 1 FN 1 -> 0; 103: TP 1 FP 1 FN 1 -> 0.5; ALLOW: 1 -> mean 0.5
    assert scores["accuracy"] == pytest.approx(50.0)
    assert scores["macro_f1"] == pytest.approx(50.0)


def test_noc4pc_macro_f1_counts_absent_labels_as_zero() -> None:
    # scikit-learn f1_score(labels=['102', '103', 'ALLOW'], zero_division=0): 103 -> 1,
    # 102 and ALLOW (never seen) -> 0: 1/3
    judgements = judge_all("panorama_noc4pc", [('{"code": "103"}', "103")] * 2)
    scores = get_adapter("panorama_noc4pc").aggregate(judgements)
    assert scores == pytest.approx({"accuracy": 100.0, "macro_f1": 100 / 3})
    assert get_adapter("panorama_noc4pc").aggregate(judge_all("panorama_noc4pc", [])) == {
        "accuracy": 0.0,
        "macro_f1": 0.0,
    }


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_fixture_replies(benchmark: str) -> None:
    items = items_of(benchmark)
    adapter = get_adapter(benchmark)
    for reply, expected in ((fx.gold_reply, 100.0), (fx.wrong_reply, 0.0)):
        judgements = [
            adapter.judge(reply(benchmark, item), EvalItem(i, item.question, item.answer))
            for i, item in enumerate(items)
        ]
        assert adapter.aggregate(judgements)[adapter.metric.value] == pytest.approx(expected)


# ----------------------------------------------------------------------------- recipe


def snapshot(root: Path) -> Path:
    for path, data in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def run_recipe(root: Path, benchmark: str, exclude: frozenset[str]):
    files = discover(get_dataset("panorama"), root)
    run = RecipeRun(
        benchmark=get_benchmark(benchmark),
        limit=100,
        seed=3,
        tokens=TokenCounter(),
        max_tokens=100_000,
        exclude=exclude,
    )
    return get_recipe("panorama").build(files, run)


TRAIN_ROWS = {"PAR4PC": fx.PAR4PC_TRAIN, "PI4PC": fx.PI4PC_TRAIN, "NOC4PC": fx.NOC4PC_TRAIN}
COPIES = {"PAR4PC": 2, "PI4PC": 1, "NOC4PC": 2}
"""Test rows the fixture repeats in train.parquet."""


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_recipe_trains_on_train_rows_without_evaluation_items(
    tmp_path: Path, benchmark: str
) -> None:
    task = BENCHMARKS[benchmark]
    root = snapshot(tmp_path / "panorama")
    items = items_of(benchmark)
    result = run_recipe(root, benchmark, frozenset(fingerprints(items)))
    assert result.files == [f"{task}/train.parquet"]
    assert result.excluded == COPIES[task]
    assert len(result.records) == len(TRAIN_ROWS[task]) - COPIES[task]
    questions = {item.question for item in items}
    assert not [r for r in result.records if r.instruction in questions]
    # the training rows as the evaluation set renders them: same question, same gold
    train_set = EVALSETS[benchmark].model_copy(update={"files": (f"{task}/train.parquet",)})
    gold = {row.question: row.answer for row in train_set.build(rows_of(train_set.files[0]))}
    adapter = get_adapter(benchmark)
    for i, record in enumerate(result.records):
        assert record.input == ""
        judgement = adapter.judge(record.output, EvalItem(i, "q", gold[record.instruction]))
        assert judgement.correct and judgement.score == 1.0 and judgement.weight > 0
    # without the fingerprints the repeated test rows would be trained on
    leaky = run_recipe(root, benchmark, frozenset())
    assert leaky.excluded == 0
    assert len([r for r in leaky.records if r.instruction in questions]) == COPIES[task]


def test_recipe_never_reads_validation_or_test_files(tmp_path: Path) -> None:
    files = discover(get_dataset("panorama"), snapshot(tmp_path / "panorama"))
    assert sorted(files.excluded) == sorted(
        f"{task}/{split}.parquet"
        for task in BENCHMARKS.values()
        for split in ("test", "validation")
    )
    result = run_recipe(tmp_path / "panorama", "FinanceIQ_gen", frozenset())
    assert result.files == ["NOC4PC/train.parquet", "PAR4PC/train.parquet", "PI4PC/train.parquet"]
    assert len(result.records) == sum(len(rows) for rows in TRAIN_ROWS.values())
