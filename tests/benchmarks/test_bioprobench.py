"""BioProBench family (bioprobench_gen/ord/err/pqa; training dataset bioprobench): the real
Hub layout (``<TASK>_test.json`` only), upstream's seeded shuffle, the fork's evaluators on
hand-computed replies, and the recipe (same rendering, evaluation items left out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures.hub_layouts import bioprobench as fx

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import BENCHMARKS, get_benchmark, get_dataset
from ftapi.evalsets import EVALSETS, EvalRow, LayoutError, SourceRow, cut_splits, fingerprints
from ftapi.evalsets import bioprobench as layout
from fteval.adapters import EvalItem, Judgement, get_adapter
from fteval.adapters.bioprobench import parse_order, parse_pqa, parse_true_false

TASKS = ("PQA", "ORD", "ERR", "GEN")
BENCH = {task: f"bioprobench_{task.lower()}" for task in TASKS}
TOKENS = TokenCounter()


def read_rows(files: tuple[str, ...]) -> list[SourceRow]:
    """The rows of ``files`` as the prepare step reads a JSON array, file then row order."""
    data = fx.repos()[fx.REPO]
    rows: list[SourceRow] = []
    for file in files:
        records = json.loads(data[file])
        rows += [SourceRow(file, position, record) for position, record in enumerate(records)]
    return rows


def items(task: str) -> list[EvalRow]:
    evalset = EVALSETS[BENCH[task]]
    return evalset.build(read_rows(evalset.files))


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("task", TASKS)
def test_each_task_reads_only_its_test_file(task: str) -> None:
    evalset = EVALSETS[BENCH[task]]
    assert (evalset.repo, evalset.files, evalset.shots_files) == (
        "bowenxian/BioProBench",
        (f"{task}_test.json",),
        (),
    )
    assert evalset.shuffle_seed == 42
    assert BENCHMARKS[evalset.benchmark].eval_hf_id == evalset.repo
    built = items(task)
    source = json.loads(fx.repos()[fx.REPO][f"{task}_test.json"])
    assert [item.id for item in built] == [row["id"] for row in source]
    assert len(built) == fx.TEST_COUNTS[task] and len({i.id for i in built}) == len(built)
    assert all(item.id.startswith(f"TEST-{task}-") for item in built)
    # Rows of the training file next to it are not evaluation items.
    both = evalset.build(read_rows((f"{task}.json", f"{task}_test.json")))
    assert [item.id for item in both] == [item.id for item in built]


def test_pqa_items_show_the_options_and_keep_the_option_text_as_gold() -> None:
    source = json.loads(fx.repos()[fx.REPO]["PQA_test.json"])
    for item, row in zip(items("PQA"), source, strict=True):
        assert item.question.startswith(row["question"])
        assert all(f"- {choice}" in item.question.splitlines() for choice in row["choices"])
        assert item.answer == row["answer"] and item.answer in row["choices"]
        assert item.extra == {"options": row["choices"], "type": row["type"]}
        assert "choices" not in item.extra  # the evaluator's prompt would list them again
        assert item.keys == [row["question"]]


def test_ord_gold_is_the_index_of_each_correct_step_among_the_shown_steps() -> None:
    built = {item.id: item for item in items("ORD")}
    first = built["TEST-ORD-000000"]
    # wrong_steps = [s2, s1, s0] for correct [s0, s1, s2]: s0 is at 2, s1 at 1, s2 at 0.
    assert json.loads(first.answer) == [2, 1, 0]
    lines = first.question.splitlines()
    assert lines[-3:] == [
        "[0] Mix by inverting 3 times within 2 s.",
        "[1] Add 50 µL of Tris buffer and note lot 700.",
        "[2] Collect 20 mg of the yeast pellet into a cryovial.",
    ]
    # Item 4 repeats "Repeat the wash." (shown at 0 and 2): upstream's dict keeps the last
    # index, so the gold repeats 2. correct = [a0, a1, R, a2, R], wrong = [R, a2, R, a1, a0].
    assert json.loads(built["TEST-ORD-000004"].answer) == [4, 3, 2, 1, 2]
    row = json.loads(fx.repos()[fx.REPO]["ORD_test.json"])[4]
    assert built["TEST-ORD-000004"].keys == [
        row["question"] + "\n" + "\n".join(row["correct_steps"])
    ]
    assert layout.order_ids(["a", "b"], ["b", "c"]) == [1, None]


def test_err_shows_the_corrected_step_when_correct_else_the_corrupted_one() -> None:
    source = json.loads(fx.repos()[fx.REPO]["ERR_test.json"])
    built = items("ERR")
    for item, row in zip(built, source, strict=True):
        shown = row["corrected_text"] if row["is_correct"] else row["corrupted_text"]
        assert item.question.startswith(f"Step to judge: {shown}\n")
        assert item.answer == str(row["is_correct"])
        assert row["context"]["purpose"] in item.question
    # Row 6 is correct yet keeps a corrupted text: the corrected text is shown.
    assert source[6]["is_correct"] and source[6]["corrupted_text"]
    assert source[6]["corrupted_text"] not in built[6].question
    # Row 5 has no prior step.
    assert "Previous step: (not given)" in built[5].question
    # Row 1 (an error): both the step and the shown corruption identify it.
    assert built[1].keys == [source[1]["corrected_text"], source[1]["corrupted_text"]]
    assert built[0].keys == [source[0]["corrected_text"]]


def test_gen_gold_is_the_steps_joined_by_spaces() -> None:
    source = json.loads(fx.repos()[fx.REPO]["GEN_test.json"])
    for item, row in zip(items("GEN"), source, strict=True):
        assert item.answer == " ".join(row["output"])
        assert item.extra["steps"] == row["output"]
        assert item.question == (f"{row['system_prompt']}\n{row['instruction']}\n\n{row['input']}")
        assert item.keys == [row["input"]]


@pytest.mark.parametrize("task", TASKS)
def test_splits_follow_the_seeded_shuffle(task: str) -> None:
    built = items(task)
    evalset = EVALSETS[BENCH[task]]
    splits = cut_splits(evalset, built, 3, 3)
    # datasets' shuffle(seed=42) = numpy default_rng(42).permutation(n); RD-Agent takes
    # [:min(3, n // 2)] and [-min(3, n // 2):] of the shuffled items.
    order = np.random.default_rng(42).permutation(len(built))
    assert splits.validation == [built[int(i)].id for i in order[:3]]
    assert splits.test == [built[int(i)].id for i in order[-3:]]
    assert splits.items == len(built)


def test_missing_or_mistyped_fields_are_layout_errors() -> None:
    pqa = EVALSETS["bioprobench_pqa"]
    row = {"question": "q ____", "answer": "a", "type": "reagent", "id": "x"}
    with pytest.raises(LayoutError, match=r"PQA_test\.json row 3: no column 'choices'"):
        pqa.build([SourceRow("PQA_test.json", 3, row)])
    err = EVALSETS["bioprobench_err"]
    good = json.loads(fx.repos()[fx.REPO]["ERR_test.json"])[0]
    with pytest.raises(LayoutError, match="'is_correct' is not a boolean"):
        err.build([SourceRow("ERR_test.json", 0, {**good, "is_correct": "true"})])
    with pytest.raises(LayoutError, match=r"'corrected_text' .* is empty"):
        err.build([SourceRow("ERR_test.json", 0, {**good, "corrected_text": None})])
    ordset = EVALSETS["bioprobench_ord"]
    bad = {"question": "q", "wrong_steps": "a, b", "correct_steps": ["b", "a"], "type": "top"}
    with pytest.raises(LayoutError, match="'wrong_steps' is not a non-empty list"):
        ordset.build([SourceRow("ORD_test.json", 0, {**bad, "id": "y"})])


# ----------------------------------------------------------------------------- scoring


def judge(benchmark: str, reply: str, answer: str, extra: dict | None = None) -> Judgement:
    return get_adapter(benchmark).judge(reply, EvalItem(0, "q", answer, extra or {}))


def aggregate(benchmark: str, cases: list[tuple[str, str]]) -> tuple[list[Judgement], dict]:
    adapter = get_adapter(benchmark)
    judgements = [
        adapter.judge(reply, EvalItem(i, "q", gold)) for i, (reply, gold) in enumerate(cases)
    ]
    return judgements, adapter.aggregate(judgements)


def tag(text: str) -> str:
    return f"[ANSWER_START]{text}[ANSWER_END]"


def test_pqa_golden_scores() -> None:
    cases = [
        (tag("25 & 80%"), "25"),  # right, confidence 80: brier (0.8 - 1)^2 = 0.04
        (tag("30 & 40%"), "25"),  # wrong, 40: (0.4 - 0)^2 = 0.16
        (tag("sterile water 70"), "sterile water"),  # no "&": last word is the confidence
        # -> right, 70: 0.09
        (tag("sterile water"), "sterile water"),  # confidence "water" has no digit: failed
        ("25 & 80%", "25"),  # no tags: failed
        (tag("25 & 120%"), "25"),  # confidence over 100: failed
        (tag("A & B & 50%"), "25"),  # two "&": failed
        # after </think>: the first tagged block is "25 & 60%" -> right, (0.6 - 1)^2 = 0.16
        ("<think>" + tag("30 & 90%") + "</think>" + tag("25 & 60%"), "25"),
        (tag("25 & 50%") + " or " + tag("30 & 50%"), "25"),  # first block: right, 0.25
        (tag("25.0 & 99%"), "25"),  # exact string match only: wrong, (0.99)^2 = 0.9801
    ]
    judgements, metrics = aggregate("bioprobench_pqa", cases)
    assert [j.weight for j in judgements] == [1, 1, 1, 0, 0, 0, 0, 1, 1, 1]
    assert [j.score for j in judgements] == [1, 0, 1, 0, 0, 0, 0, 1, 1, 0]
    assert judgements[2].extracted == {"answer": "sterile water", "confidence": 70}
    # 6 parsed answers, 4 right: 66.67; failed answers are in no denominator (upstream).
    assert next(iter(metrics)) == "accuracy"
    assert metrics["accuracy"] == pytest.approx(400 / 6)
    assert metrics["brier_score"] == pytest.approx((0.04 + 0.16 + 0.09 + 0.16 + 0.25 + 0.9801) / 6)
    assert metrics["failed"] == 4
    assert parse_pqa(tag(" 0.3  & 85 % ")) == ("0.3", 85)
    assert parse_pqa(tag("0.3")) == ("", 0)  # upstream: answer "" with confidence 0


def test_ord_golden_scores() -> None:
    gold = "[2, 0, 3, 1]"
    cases = [
        (tag("[2, 0, 3, 1]"), gold),  # all 6 pairs concordant: C 6, P 6
        (tag("(2, 0, 1, 3)"), gold),  # a tuple is read too; only pair (3, 1) flips: C 5, P 6
        (tag("[2, 0, 3]"), gold),  # not a permutation of the gold: failed
        (tag("2 0 3 1"), gold),  # not a Python literal: failed
        (tag("[0, 1]") + " final " + tag("[1, 3, 0, 2]"), gold),  # last block: all flip: C 0
        (tag("['1', '0', '2']"), "[0, 1, 2]"),  # int('1'): [1, 0, 2]: C 2 of P 3
        (tag("[4, 3, 2, 1, 2]"), "[4, 3, 2, 1, 2]"),  # repeated index: 4 distinct, C 6, P 6
        (tag("[4, 3, 0, 2, 1]"), "[4, 3, 2, 1, 2]"),  # other index set: failed
    ]
    judgements, metrics = aggregate("bioprobench_ord", cases)
    assert [j.weight for j in judgements] == [6, 6, 0, 0, 6, 3, 6, 0]
    assert [j.score for j in judgements] == pytest.approx([1, 4 / 6, 0, 0, -1, 1 / 3, 1, 0])
    # Pooled: (2 * (6 + 5 + 0 + 2 + 6) - 27) / 27 = 11 / 27, reported x100.
    assert next(iter(metrics)) == "kendall_tau"
    assert metrics["kendall_tau"] == pytest.approx(100 * 11 / 27)
    assert metrics["exact_match"] == pytest.approx(100 * 2 / 5)
    assert metrics["failed"] == 3
    assert parse_order("</think>" + tag("[True, 2.7]")) == [1, 2]
    # A gold with a step missing from the shown ones (null) always fails, as upstream.
    assert judge("bioprobench_ord", tag("[0, 1]"), "[0, null]").weight == 0
    with pytest.raises(ValueError, match="not an order"):
        judge("bioprobench_ord", tag("[0]"), "steps")


def test_err_golden_scores() -> None:
    cases = [
        (tag("False"), "False"),  # TP: weight 2, score 1
        (tag("True"), "False"),  # FN: weight 1, score 0
        (tag("False"), "True"),  # FP: weight 1, score 0
        (tag("True"), "True"),  # TN: weight 0
        ("The step is wrong.\nFalse", "False"),  # no tags: the last line -> TP
        (tag("Not true: it is False"), "False"),  # "true" is looked for first -> FN
        ("I cannot decide.", "True"),  # neither: failed
        (tag("no"), "False"),  # tags without True/False: failed (no fallback)
        ("[/INST] " + tag("FALSE"), "False"),  # upper case is neither: failed
    ]
    judgements, metrics = aggregate("bioprobench_err", cases)
    assert [j.weight for j in judgements] == [2, 1, 1, 0, 2, 1, 0, 0, 0]
    assert [j.extracted for j in judgements] == [False, True, False, True, False, True] + [None] * 3
    # TP 2, FP 1, FN 2: F1 = 2*2 / (2*2 + 1 + 2) = 4/7; precision 2/3, recall 2/4;
    # accuracy over the 6 parsed answers: 3 right.
    assert next(iter(metrics)) == "f1"
    assert metrics["f1"] == pytest.approx(400 / 7)
    assert metrics["precision"] == pytest.approx(200 / 3)
    assert metrics["recall"] == pytest.approx(50.0)
    assert metrics["accuracy"] == pytest.approx(50.0)
    assert metrics["failed"] == 3
    assert parse_true_false("</think>\n" + tag(" true ")) is True


def test_gen_golden_scores() -> None:
    gold = "1. Thaw the cells. 2. Spin them down."
    # rouge-score tokens (lower case, a-z0-9 runs, Porter stems of words over 3 letters):
    # gold: 1 thaw the cell 2 spin them down (8 tokens).
    cases = [
        (tag("1. Thaw the cells.\n2. Spin them down."), gold),  # identical tokens: 1
        # thaw cell then spin down (5): LCS 4 (thaw cell spin down): P 4/5, R 4/8 -> 8/13;
        # no shared bigram: ROUGE-2 0
        (tag("Thawing cells, then spin down."), gold),
        ("1. Thaw the cells.", gold),  # no tags: failed
        (tag(""), gold),  # empty tagged answer: scored, 0
    ]
    judgements, metrics = aggregate("bioprobench_gen", cases)
    assert [j.weight for j in judgements] == [1, 1, 0, 1]
    assert [j.score for j in judgements] == pytest.approx([1, 8 / 13, 0, 0])
    assert [j.correct for j in judgements] == [True, True, False, False]
    # Mean over the 3 tagged answers: (1 + 8/13 + 0) / 3 = 7/13.
    assert next(iter(metrics)) == "rouge_l"
    assert metrics["rouge_l"] == pytest.approx(100 * 7 / 13)
    assert metrics["rouge_1"] == pytest.approx(100 * 7 / 13)
    assert metrics["rouge_2"] == pytest.approx(100 / 3)
    assert metrics["failed"] == 1


@pytest.mark.parametrize("task", TASKS)
def test_fixture_replies(task: str) -> None:
    benchmark = BENCH[task]
    adapter = get_adapter(benchmark)
    built = items(task)
    for reply, expected in ((fx.gold_reply, 100.0), (fx.wrong_reply, None)):
        judgements = [
            adapter.judge(
                reply(benchmark, item), EvalItem(i, item.question, item.answer, item.extra)
            )
            for i, item in enumerate(built)
        ]
        core = adapter.aggregate(judgements)[BENCHMARKS[benchmark].metric.value]
        if expected is None:
            # ORD: reversed orders; 74 pairs (3+6+10+15+6+3+6+10+15), all discordant except
            # one of the item with a repeated index: (2 * 1 - 74) / 74 = -36/37.
            assert core == pytest.approx(100 * -36 / 37) if task == "ORD" else core < 15.0
        else:
            assert core == pytest.approx(expected)
            assert all(j.weight > 0 or task == "ERR" for j in judgements)


# ----------------------------------------------------------------------------- recipe


def training_root(tmp_path: Path) -> Path:
    """The training dataset as the prepare step leaves it: the whole repository."""
    root = tmp_path / "bioprobench"
    for path, data in fx.repos()[fx.REPO].items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def recipe_run(tmp_path: Path, benchmark: str, exclude: frozenset[str] = frozenset()):
    files = discover(get_dataset("bioprobench"), training_root(tmp_path))
    run = RecipeRun(
        benchmark=get_benchmark(benchmark),
        limit=100,
        seed=3,
        tokens=TOKENS,
        max_tokens=100_000,
        exclude=exclude,
    )
    return get_recipe("bioprobench").build(files, run)


@pytest.mark.parametrize("task", TASKS)
def test_recipe_renders_like_the_evaluation_set_and_leaves_out_its_items(
    tmp_path: Path, task: str
) -> None:
    benchmark = BENCH[task]
    evaluation = items(task)
    result = recipe_run(tmp_path, benchmark, frozenset(fingerprints(evaluation)))
    assert result.files == [f"{task}.json"]  # never <TASK>_test.json
    assert result.excluded == len(fx.LEAKED[task])
    questions = {item.question for item in evaluation}
    assert not [r for r in result.records if r.instruction in questions]
    # Every training row is an item of the same layout: render it with the evaluation set's
    # code and score the record's output with the adapter.
    evalset = EVALSETS[benchmark]
    train = [evalset.item(row) for row in read_rows((f"{task}.json",))]  # type: ignore[attr-defined]
    by_question = {item.question: item for item in train}
    adapter = get_adapter(benchmark)
    assert len(result.records) == len(train) - result.excluded
    for record in result.records:
        assert record.input == "" and record.system is None
        item = by_question[record.instruction]
        judgement = adapter.judge(
            record.output, EvalItem(0, item.question, item.answer, item.extra)
        )
        assert judgement.correct and judgement.score == pytest.approx(1.0), record.output
        assert record.output.endswith("[ANSWER_END]")
    # Without the exclusion list the leaked evaluation items would be trained on.
    assert recipe_run(tmp_path / "all", benchmark).excluded == 0


def test_recipe_outputs_per_task(tmp_path: Path) -> None:
    pqa = recipe_run(tmp_path, "bioprobench_pqa").records
    assert all(r.output.endswith(" & 90%[ANSWER_END]") for r in pqa)
    err = recipe_run(tmp_path / "e", "bioprobench_err").records
    assert {r.output.rsplit("[ANSWER_START]", 1)[1] for r in err} == {
        "True[ANSWER_END]",
        "False[ANSWER_END]",
    }
    ords = recipe_run(tmp_path / "o", "bioprobench_ord").records
    assert all(json.loads(r.output[len("[ANSWER_START]") : -len("[ANSWER_END]")]) for r in ords)
    # Another benchmark's campaign may use every task file.
    other = recipe_run(tmp_path / "x", "FinanceIQ_gen")
    assert other.files == ["ERR.json", "GEN.json", "ORD.json", "PQA.json"]
