"""Validation of every training record: schema, duplicates, leaks, length and size."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftagent.errors import DataError, EnvironmentFailure
from ftagent.leakcheck import load_leak_index
from ftagent.records import AlpacaRecord, dataset_info, write_training_data
from ftagent.tokens import TokenCounter, approximate_tokens, percentile
from ftagent.validation import check_records, finalize
from ftapi.evalsets import normalize
from ftapi.leakindex import LeakMatcher, build_leak_index

QUESTION = "Find the number of ordered pairs (a, b) of positive integers with a*b = 2025."
TOKENS = TokenCounter()


def index(*questions: str) -> LeakMatcher:
    return LeakMatcher(build_leak_index("aime25", questions))


def check(items, questions=(QUESTION,), max_tokens=4096):
    return check_records(items, leak_index=index(*questions), tokens=TOKENS, max_tokens=max_tokens)


def rec(instruction: str, output: str = "Answer: 1", input_text: str = "") -> dict[str, str]:
    return {"instruction": instruction, "input": input_text, "output": output}


def test_kept_instructions_get_the_task_description_as_the_evaluator_asks() -> None:
    from ftapi.prompts import task_prompt
    from fteval.adapters import EvalItem
    from fteval.prompts import build_prompt

    description = "AIME problems. Put the final answer within \\boxed{}."
    question = "What is 3 plus 4?"
    checked = check_records(
        [rec(question), rec(task_prompt(description, "What is 1 plus 6?"))],
        leak_index=index(QUESTION),
        tokens=TOKENS,
        max_tokens=4096,
        task_description=description,
    )
    instructions = [r.instruction for r in checked.records]
    # The same text the evaluator asks an item with; never prefixed twice.
    assert instructions[0] == build_prompt(description, EvalItem(0, question, "7"))
    assert instructions[1] == f"{description}\n\nWhat is 1 plus 6?"
    # Token counts cover the prefix: the trainer's cutoff_len is derived from them.
    bare = check([rec(question)])
    assert checked.tokens[0] > bare.tokens[0]


def test_short_leaked_question_is_caught_before_the_prefix() -> None:
    checked = check_records(
        [rec("Yes or no?"), rec("Something else entirely")],
        leak_index=index("Yes or no?"),
        tokens=TOKENS,
        max_tokens=4096,
        task_description="Answer the question.",
    )
    assert checked.leaks_removed == 1
    assert [r.instruction for r in checked.records] == [
        "Answer the question.\n\nSomething else entirely"
    ]


def test_normalize_ignores_case_punctuation_and_width() -> None:
    assert normalize("  Find THE number—of pairs!!  ") == "find the number of pairs"
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("下列说法，正确的是？") == "下 列 说 法 正 确 的 是"


def test_every_record_is_checked_for_schema() -> None:
    items = [
        rec("ok 1"),
        {"instruction": "", "output": "x"},
        {"instruction": "no output", "output": "   "},
        {"instruction": "missing output"},
        "not an object",
        {"instruction": 3, "output": "x"},
        rec("ok 2"),
    ]
    checked = check(items)
    assert [r.instruction for r in checked.records] == ["ok 1", "ok 2"]
    assert checked.invalid == 5
    assert any("output" in example for example in checked.invalid_examples)


def test_duplicates_are_removed_after_whitespace_normalisation() -> None:
    checked = check([rec("same  question"), rec("same question"), rec("other")])
    assert checked.duplicates_removed == 1
    assert len(checked.records) == 2


@pytest.mark.parametrize(
    "instruction",
    [
        QUESTION,
        f"Solve carefully.\n\n{QUESTION.upper()}",
        "Solve: find the number of ordered pairs (a,b) of POSITIVE integers with a * b = 2025!",
    ],
)
def test_benchmark_questions_are_removed(instruction: str) -> None:
    checked = check([rec(instruction), rec("A harmless training question about primes.")])
    assert checked.leaks_removed == 1
    assert [r.instruction for r in checked.records] == [
        "A harmless training question about primes."
    ]


def test_leak_in_the_input_field_is_found() -> None:
    checked = check([rec("Answer the question below.", input_text=QUESTION)])
    assert checked.leaks_removed == 1


def test_near_copies_and_copies_in_the_output_are_found() -> None:
    changed_word = QUESTION.replace("positive", "nonnegative")
    hidden = rec("Repeat after me.", output=f"{QUESTION} The answer is 15.")
    unrelated = rec("Find the number of ordered triples of primes with sum 30.")
    checked = check([rec(changed_word), hidden, unrelated])
    assert checked.leaks_removed == 2
    assert [r.instruction for r in checked.records] == [unrelated["instruction"]]


def test_short_questions_only_match_whole_fields() -> None:
    checked = check([rec("Yes"), rec("Say Yes or No about this.")], questions=["Yes"])
    assert checked.leaks_removed == 1
    assert [r.instruction for r in checked.records] == ["Say Yes or No about this."]


def test_cjk_questions_leak_inside_longer_prompts() -> None:
    question = "下列关于商业银行资本充足率监管要求的说法中，正确的是哪一项？"
    checked = check([rec(f"以下是单项选择题。\n\n{question}\nA. 甲")], questions=[question])
    assert checked.leaks_removed == 1


def test_too_long_records_are_dropped_and_size_is_limited() -> None:
    long = rec("long " * 400)
    items = [long] + [rec(f"question {i}") for i in range(10)]
    checked = check(items, max_tokens=200)
    assert checked.too_long_removed == 1
    final = finalize(checked, cutoff_len=200, limit=4, seed=1)
    assert len(final.records) == 4
    assert final.trimmed == 6
    again = finalize(checked, cutoff_len=200, limit=4, seed=1)
    assert final.records == again.records  # seeded


def test_stats_describe_the_kept_records() -> None:
    checked = check([rec("a b c d", "1 2 3 4"), rec("x" * 400, "y")])
    final = finalize(checked, cutoff_len=4096, limit=10, seed=0)
    stats = final.stats()
    assert stats.records == 2
    assert stats.p99_tokens == max(final.tokens)
    assert stats.max_tokens == max(final.tokens)
    assert stats.mean_chars == pytest.approx((7 + 7 + 400 + 1) / 2)


def test_nothing_left_is_a_data_error() -> None:
    checked = check([rec(QUESTION)])
    with pytest.raises(DataError, match="1 benchmark leaks"):
        finalize(checked, cutoff_len=4096, limit=10, seed=0)


def test_leak_index_is_required(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFailure, match=r"the leak index .* is missing"):
        load_leak_index(tmp_path / "aime25-leaks-v100-t100.json")


def test_training_files_are_llamafactory_alpaca(tmp_path: Path) -> None:
    records = [AlpacaRecord(instruction="i", output="o"), AlpacaRecord(instruction="j", output="p")]
    write_training_data(tmp_path, records)
    assert (tmp_path / "train.json").read_text().startswith('[{"instruction": "i"')
    assert dataset_info(False) == {
        "train": {
            "file_name": "train.json",
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }
    assert dataset_info(True)["train"]["columns"]["system"] == "system"


def test_token_helpers() -> None:
    assert approximate_tokens("abcd" * 10) == 10
    assert approximate_tokens("你好世界") == 4
    assert percentile([1, 2, 3, 4, 100], 99) == 100
    assert percentile(list(range(1, 101)), 50) == 50


def test_only_the_scored_items_are_protected(tmp_path: Path) -> None:
    """A large evaluation set: the validation and test items prepare recorded are protected
    (and only through hashes: the index holds no text); the items neither split scores may be
    trained on."""
    from ftapi.evalsets import EvalRow
    from ftapi.steps import MountPaths
    from ftapi.workspace import CampaignLayout
    from ftoperator.prepare import install_evaluation_set

    paths = MountPaths(models=str(tmp_path), datasets=str(tmp_path / "d"), workspace=str(tmp_path))
    layout = CampaignLayout(paths, "ns", "c")
    questions = [
        f"Finance question number {i} about banks and their capital rules?" for i in range(10)
    ]
    items = [EvalRow(id=f"q{i}", question=q, answer="B") for i, q in enumerate(questions)]
    install_evaluation_set(layout, "aime25", items, 2, 3)
    path = layout.leak_index_file("aime25", 2, 3)
    assert "Finance" not in path.read_text()
    leaks = load_leak_index(path)
    assert [i for i, q in enumerate(questions) if leaks.leaks(q)] == [0, 1, 7, 8, 9]
