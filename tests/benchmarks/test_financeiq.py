"""FinanceIQ_gen on its real upstream layout: the kept tail of every subject's test CSV, per
subject splits, 5-shot examples from dev, last-capital accuracy averaged over subjects, and
training data from the unscored head of each test CSV only.

Upstream facts these tests pin (see docs/benchmarks/financeiq.md for the sources):
- Jensen246/opencompass@abc7c91a FinanceIQ_gen_e0e6b5.py: ten subject datasets in the order
  of ``financeIQ_all_sets``; FixKRetriever(fix_id_list=[0..4]) over the dev rows;
  ``last_capital_postprocess`` + AccEvaluator.
- microsoft/RD-Agent@471eb30d datasets/financeiq/split.py: the benchmark keeps the last
  ``min(ceil(n * 0.5), 100)`` rows of each test CSV, training gets the others;
  benchmark.py: validation ``[:min(100, m//2)]``, test ``[-min(100, m//2):]`` per dataset.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from fixtures.hub_layouts import financeiq as fx

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import get_benchmark, get_dataset
from ftapi.evalsets import (
    EvalRow,
    LayoutError,
    SourceRow,
    cut_splits,
    fingerprints,
    get_evalset,
    normalize,
)
from ftapi.evalsets.financeiq import (
    DEV_FILES,
    REPO,
    SUBJECTS,
    TEST_FILES,
    render_question,
)
from fteval.adapters import EvalItem, get_adapter
from fteval.adapters.base import weighted_mean
from fteval.adapters.financeiq import last_capital

CONFIG_ORDER = [
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
]
"""``financeIQ_all_sets`` of the fork's config, copied by hand."""

KEPT = {
    # n -> min(ceil(n / 2), 100), by hand
    "注册会计师（CPA）": 100,  # 250 -> min(125, 100)
    "银行从业资格": 20,  # 40 -> 20
    "证券从业资格": 9,  # 17 -> ceil(8.5) = 9
    "基金从业资格": 11,  # 21 -> ceil(10.5) = 11
    "保险从业资格CICE": 8,  # 16 -> 8
    "经济师": 10,  # 19 -> ceil(9.5) = 10
    "税务师": 15,  # 30 -> 15
    "期货从业资格": 8,  # 16 -> 8
    "理财规划师": 12,  # 23 -> ceil(11.5) = 12
    "精算师-金融数学": 44,  # 88 -> 44 (the real file's size)
}

EVALSET = get_evalset("FinanceIQ_gen")
ADAPTER = get_adapter("FinanceIQ_gen")


def read_csv(data: bytes) -> list[dict[str, str]]:
    """As prepare reads a CSV: utf-8-sig, csv.DictReader, every cell a string."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def source_rows(files: dict[str, bytes], names: tuple[str, ...]) -> list[SourceRow]:
    return [
        SourceRow(file=name, position=position, row=row)
        for name in names
        for position, row in enumerate(read_csv(files[name]))
    ]


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return fx.repos()[REPO]


@pytest.fixture(scope="module")
def items(files: dict[str, bytes]) -> list[EvalRow]:
    return EVALSET.build(source_rows(files, EVALSET.files))


def row_of(item: EvalRow) -> int:
    subject, number = item.id.rsplit("/", 1)
    assert subject == item.group
    return int(number)


# ----------------------------------------------------------------------------- layout


def test_layout_names_the_real_files_in_config_order() -> None:
    assert EVALSET.repo == "Duxiaoman-DI/FinanceIQ"
    assert list(SUBJECTS) == CONFIG_ORDER
    assert list(EVALSET.files) == [f"data/test/{s}.csv" for s in CONFIG_ORDER]
    assert list(EVALSET.shots_files) == [f"data/dev/{s}.csv" for s in CONFIG_ORDER]
    assert EVALSET.shuffle_seed is None


def test_fixture_has_the_real_layout(files: dict[str, bytes]) -> None:
    assert set(files) == {"README.md", *TEST_FILES, *DEV_FILES}
    for name in (*TEST_FILES, *DEV_FILES):
        data = files[name]
        assert data.startswith(b",Question,A,B,C,D,Answer\n")
        rows = read_csv(data)
        assert [row[""] for row in rows] == [str(i) for i in range(len(rows))]
        assert all(len(row) == 7 and None not in row for row in rows)
    assert all(len(read_csv(files[name])) == 5 for name in DEV_FILES)
    for subject in SUBJECTS:
        n = len(read_csv(files[f"data/test/{subject}.csv"]))
        assert KEPT[subject] == min(math.ceil(n / 2), 100)


def test_build_keeps_only_the_tail_of_each_test_csv(
    files: dict[str, bytes], items: list[EvalRow]
) -> None:
    assert len({item.id for item in items}) == len(items) == sum(KEPT.values())
    # subjects in config order, rows in file order
    assert list(dict.fromkeys(item.group for item in items)) == CONFIG_ORDER
    for subject in SUBJECTS:
        rows = read_csv(files[f"data/test/{subject}.csv"])
        mine = [item for item in items if item.group == subject]
        n = len(rows)
        assert [row_of(item) for item in mine] == list(range(n - KEPT[subject], n))
        for item in mine:
            row = rows[row_of(item)]
            assert item.answer == row["Answer"]
            assert item.keys == [row["Question"]]
            assert item.extra == {"subject": subject, "split_items": KEPT[subject] // 2}
            assert item.question.startswith(f"科目：{subject}\n{row['Question'].strip()}\n")
            assert item.question.endswith(f"\nD. {row['D']}")
            for letter in "ABCD":
                assert f"\n{letter}. {row[letter]}" in item.question
    # the dev rows are never items
    assert not any("（例题）" in item.question for item in items)


def test_splits_are_cut_per_subject_as_upstream(items: list[EvalRow]) -> None:
    splits = cut_splits(EVALSET, items, 100, 100)

    def rows(ids: list[str], subject: str) -> list[int]:
        return [int(i.rsplit("/", 1)[1]) for i in ids if i.rsplit("/", 1)[0] == subject]

    # CPA: 250 rows, kept 150..249 (m = 100): validation 150..199, test 200..249.
    assert rows(splits.validation, "注册会计师（CPA）") == list(range(150, 200))
    assert rows(splits.test, "注册会计师（CPA）") == list(range(200, 250))
    # Actuary: 88 rows, kept 44..87: validation 44..65, test 66..87.
    assert rows(splits.validation, "精算师-金融数学") == list(range(44, 66))
    assert rows(splits.test, "精算师-金融数学") == list(range(66, 88))
    # Securities: 17 rows, kept 8..16 (m = 9): validation 8..11, test 13..16, 12 unused.
    assert rows(splits.validation, "证券从业资格") == [8, 9, 10, 11]
    assert rows(splits.test, "证券从业资格") == [13, 14, 15, 16]
    for subject in SUBJECTS:
        half = KEPT[subject] // 2
        assert len(rows(splits.validation, subject)) == len(rows(splits.test, subject)) == half
    # validation holds every subject, in config order
    order = list(dict.fromkeys(i.rsplit("/", 1)[0] for i in splits.validation))
    assert order == CONFIG_ORDER
    assert not set(splits.validation) & set(splits.test)
    # smaller limits cut every subject on its own too
    small = cut_splits(EVALSET, items, 3, 2)
    assert rows(small.validation, "银行从业资格") == [20, 21, 22]
    assert rows(small.test, "银行从业资格") == [38, 39]
    assert len(small.validation) == 30 and len(small.test) == 20


def test_shots_are_the_dev_rows_per_subject(files: dict[str, bytes]) -> None:
    shots = EVALSET.build_shots(source_rows(files, EVALSET.shots_files))
    assert len(shots) == 50
    for subject in SUBJECTS:
        mine = [shot for shot in shots if shot.group == subject]
        assert [shot.id for shot in mine] == [f"dev/{subject}/{i}" for i in range(5)]
        rows = read_csv(files[f"data/dev/{subject}.csv"])
        assert [shot.answer for shot in mine] == [row["Answer"] for row in rows]
        assert all(shot.extra == {"subject": subject} for shot in mine)


def test_rows_without_the_layout_are_layout_errors(files: dict[str, bytes]) -> None:
    rows = source_rows(files, EVALSET.files)
    last = rows[-1]
    renamed = {("Answers" if k == "Answer" else k): v for k, v in last.row.items()}
    with pytest.raises(LayoutError, match="no column 'Answer'"):
        EVALSET.build([*rows[:-1], SourceRow(last.file, last.position, renamed)])
    surplus = {**last.row, None: ["x"]}
    with pytest.raises(LayoutError, match="more than 7 cells"):
        EVALSET.build([*rows[:-1], SourceRow(last.file, last.position, surplus)])
    with pytest.raises(LayoutError, match="not a file of this layout"):
        EVALSET.build([*rows, SourceRow("data/test/其他.csv", 0, last.row)])
    with pytest.raises(LayoutError, match="whole and in file order"):
        EVALSET.build(rows[1:])


# ----------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("reply", "extracted"),
    [
        ("答案是: B", "B"),
        ("The answer is B.", "B"),  # reversed: ".", then "B"
        ("B is right, not C", "C"),  # the LAST capital, even where the reply rejects it
        ("我选B，依据CPA教材", "A"),  # "CPA" comes after the answer
        ("答案是: b", ""),  # lower case is no capital
        ("答案：Ｂ", "Ｂ"),  # full-width B is upper case (str.isupper), but not "B"
        ("无法确定。", ""),
        ("", ""),
    ],
)
def test_last_capital_is_opencompass_last_capital_postprocess(reply: str, extracted: str) -> None:
    assert last_capital(reply) == extracted


def item(answer: str, subject: str, per_split: int, index: int = 0) -> EvalItem:
    extra = {"subject": subject, "split_items": per_split}
    return EvalItem(
        index=index, question="科目：x\n问\nA. a\nB. b\nC. c\nD. d", answer=answer, extra=extra
    )


def test_judge_is_exact_match_of_the_last_capital() -> None:
    gold = item("B", "银行从业资格", 50)
    right = ADAPTER.judge("分析略。答案是: B", gold)
    assert (right.score, right.correct, right.extracted, right.weight) == (1.0, True, "B", 1.0)
    wrong = ADAPTER.judge("答案是: B (see CPA)", gold)  # last capital "A"
    assert (wrong.score, wrong.correct, wrong.extracted) == (0.0, False, "A")
    none = ADAPTER.judge("选乙。", gold)  # no capital: "" != "B"
    assert (none.score, none.correct, none.extracted) == (0.0, False, None)
    # AccEvaluator compares str(pred) == str(gold) without normalising the gold
    assert ADAPTER.judge("B", item(" B", "x", 4)).score == 0.0
    # weight = 50 / the subject's items per split: 50 / 22 for the actuary subject
    assert ADAPTER.judge("B", item("B", "精算师-金融数学", 22)).weight == pytest.approx(50 / 22)


def test_aggregate_is_the_mean_over_subjects() -> None:
    # Subject 银行 (2 items per split): right, wrong -> 1/2 = 50 %.
    # Subject 精算 (4 items per split): right, right, right, wrong -> 3/4 = 75 %.
    # Core (RD-Agent's "accuracy (average)"): (50 + 75) / 2 = 62.5.
    # Micro: 4 right of 6 = 66.666...
    # Weights: 50/2 = 25 per 银行 item, 50/4 = 12.5 per 精算 item;
    # weighted mean = (25*1 + 25*0 + 12.5*3 + 12.5*0) / (2*25 + 4*12.5) = 62.5 / 100.
    bank = [item("A", "银行从业资格", 2, i) for i in range(2)]
    actuary = [item("C", "精算师-金融数学", 4, i) for i in range(2, 6)]
    replies = ["答案是: A", "答案是: D", "C", "答案是: C", "答案是: C", "B"]
    judgements = [
        ADAPTER.judge(reply, it) for reply, it in zip(replies, bank + actuary, strict=True)
    ]
    assert [j.weight for j in judgements] == [25.0, 25.0, 12.5, 12.5, 12.5, 12.5]
    metrics = ADAPTER.aggregate(judgements)
    assert next(iter(metrics)) == "accuracy"
    assert metrics["accuracy"] == pytest.approx(62.5)
    assert metrics["micro_accuracy"] == pytest.approx(400 / 6)
    assert metrics["accuracy_banking_qualification"] == pytest.approx(50.0)
    assert metrics["accuracy_actuary_fin_math"] == pytest.approx(75.0)
    assert 100 * weighted_mean(judgements) == pytest.approx(62.5)


def test_fixture_replies_score_full_and_low(files: dict[str, bytes], items: list[EvalRow]) -> None:
    splits = cut_splits(EVALSET, items, 100, 100)
    by_id = {it.id: it for it in items}
    chosen = [by_id[i] for i in splits.validation]
    as_items = [
        EvalItem(index=n, question=it.question, answer=it.answer, extra=it.extra, group=it.group)
        for n, it in enumerate(chosen)
    ]
    gold = [
        ADAPTER.judge(fx.gold_reply(EVALSET.benchmark, it), e)
        for it, e in zip(chosen, as_items, strict=True)
    ]
    wrong = [
        ADAPTER.judge(fx.wrong_reply(EVALSET.benchmark, it), e)
        for it, e in zip(chosen, as_items, strict=True)
    ]
    assert ADAPTER.aggregate(gold)["accuracy"] == 100.0
    assert ADAPTER.aggregate(wrong)["accuracy"] == 0.0
    # at upstream's limit every subject has split_items items: weights give the subject mean
    assert 100 * weighted_mean(gold) == pytest.approx(100.0)
    half = [j if n % 2 else w for n, (j, w) in enumerate(zip(gold, wrong, strict=True))]
    assert 100 * weighted_mean(half) == pytest.approx(ADAPTER.aggregate(half)["accuracy"])


# ----------------------------------------------------------------------------- training


@pytest.fixture()
def raw_files(tmp_path: Path, files: dict[str, bytes]):
    root = tmp_path / "financeiq"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return discover(get_dataset("financeiq"), root)


def run_recipe(raw_files, exclude: frozenset[str] = frozenset()):
    run = RecipeRun(
        benchmark=get_benchmark("FinanceIQ_gen"),
        limit=1000,
        seed=3,
        tokens=TokenCounter(),
        max_tokens=4096,
        exclude=exclude,
    )
    return get_recipe("financeiq").build(raw_files, run)


def training_instructions(files: dict[str, bytes]) -> dict[str, str]:
    """instruction -> answer of every head row (the rows RD-Agent trains on), by hand."""
    out = {}
    for subject in SUBJECTS:
        rows = read_csv(files[f"data/test/{subject}.csv"])
        for row in rows[: len(rows) - KEPT[subject]]:
            options = {letter: row[letter] for letter in "ABCD"}
            out[render_question(subject, row["Question"], options)] = row["Answer"]
    return out


def test_recipe_trains_on_the_head_of_each_test_csv_only(
    raw_files, files: dict[str, bytes], items: list[EvalRow]
) -> None:
    assert sorted(raw_files.excluded) == sorted(DEV_FILES)  # the catalog drops dev/
    head = training_instructions(files)
    assert len(head) == 283  # 150+20+8+10+8+9+15+8+11+44
    evaluation = {it.question for it in items}
    unguarded = run_recipe(raw_files)
    # the cut alone: every head row, no kept row
    assert {r.instruction for r in unguarded.records} == set(head)
    assert not evaluation & {r.instruction for r in unguarded.records}
    # the key guard: the two head rows repeating an evaluation question are left out too
    guarded = run_recipe(raw_files, frozenset(fingerprints(items)))
    assert guarded.excluded == 2 and len(guarded.records) == 281
    questions = {normalize(key) for it in items for key in it.keys}
    for record in guarded.records:
        question = record.instruction.split("\n", 2)[1]
        assert normalize(question) not in questions
        assert record.instruction in head


def test_recipe_outputs_score_correct(raw_files, files: dict[str, bytes]) -> None:
    head = training_instructions(files)
    records = run_recipe(raw_files).records
    assert records
    for n, record in enumerate(records):
        answer = head[record.instruction]
        assert record.output == get_benchmark("FinanceIQ_gen").shots_answer.format(answer=answer)
        judged = ADAPTER.judge(record.output, EvalItem(n, record.instruction, answer))
        assert judged.correct


def test_recipe_needs_the_real_files(tmp_path: Path) -> None:
    from ftagent.errors import RecipeSchemaError

    root = tmp_path / "financeiq"
    (root / "data" / "test").mkdir(parents=True)
    (root / "data" / "test" / "other.csv").write_text(",Question,A,B,C,D,Answer\n0,q,a,b,c,d,A\n")
    with pytest.raises(RecipeSchemaError):
        run_recipe(discover(get_dataset("financeiq"), root))
