"""The built-in recipes on a few rows in each dataset's real schema, and the raw-file loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftagent.errors import EnvironmentFailure, RecipeSchemaError
from ftagent.rawdata import discover, split_of
from ftagent.recipes import RECIPES, build_builtin, get_recipe, split_sample
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import BENCHMARKS, DATASETS, get_benchmark, get_dataset

from . import rawdata_fixtures as fx

TOKENS = TokenCounter()


def build(tmp_path: Path, dataset: str, benchmark: str, limit: int = 50, max_tokens: int = 4096):
    root = tmp_path / dataset
    if not root.exists():
        fx.WRITERS[dataset](root)
    files = discover(get_dataset(dataset), root)
    run = RecipeRun(
        benchmark=get_benchmark(benchmark),
        limit=limit,
        seed=7,
        tokens=TOKENS,
        max_tokens=max_tokens,
    )
    return get_recipe(dataset).build(files, run)


def test_every_catalog_dataset_has_a_recipe() -> None:
    assert set(RECIPES) == set(DATASETS)


def test_deepscaler_boxes_integer_answers_and_prefers_solutions(tmp_path: Path) -> None:
    result = build(tmp_path, "deepscaler", "aime25", limit=10)
    assert len(result.records) == 10
    for record in result.records:
        assert record.output.rstrip(".$ ").endswith("}")
        assert "\\boxed{" in record.output
        assert "\\frac" not in record.output  # non-integer answers are not AIME answers
    # 17 of 26 rows have a worked solution: the first 10 records all carry reasoning.
    assert all(r.output.startswith(("We compute", "Count divisors")) for r in result.records)
    assert result.fallback == 0


def test_deepscaler_fills_up_with_answer_only_rows(tmp_path: Path) -> None:
    result = build(tmp_path, "deepscaler", "aime25", limit=100)
    assert result.fallback > 0
    assert any(r.output.startswith("The final answer is \\boxed{") for r in result.records)


def test_deepscaler_keeps_non_integer_answers_for_other_benchmarks(tmp_path: Path) -> None:
    result = build(tmp_path, "deepscaler", "tablebench_numerical_reasoning", limit=100)
    assert any("\\boxed{\\frac{1}{2}}" in r.output for r in result.records)


@pytest.mark.parametrize(
    ("benchmark", "expected"),
    [
        # gold of claim 1 of applications 100-107 (fixtures.hub_layouts.panorama): PAR4PC
        # app 100 -> [E], 102 -> [G, B]; PI4PC app 100 -> key 3 of 3, 10, 17, ...
        (
            "panorama_par4pc",
            {f'{{"answer": "{letter}"}}' for letter in "ACDEFH"}
            | {'{"answer": ["B", "E"]}', '{"answer": ["B", "G"]}'},
        ),
        ("panorama_pi4pc", {f'{{"answer": {key}}}' for key in (3, 11, 19, 27, 35)}),
        ("panorama_noc4pc", {'{"code": "ALLOW"}', '{"code": "102"}', '{"code": "103"}'}),
    ],
)
def test_panorama_tasks_answer_in_json(tmp_path: Path, benchmark: str, expected: set[str]) -> None:
    result = build(tmp_path, "panorama", benchmark)
    assert {r.output for r in result.records} == expected
    assert len(result.records) == 8
    subset = get_benchmark(benchmark).task
    assert result.files == [f"{subset}/train.parquet"]  # validation/test files never read
    assert all(r.instruction.startswith("Patent application 1") for r in result.records)


def test_panorama_excluded_files_are_not_loaded(tmp_path: Path) -> None:
    root = tmp_path / "panorama"
    fx.write_panorama(root)
    files = discover(get_dataset("panorama"), root)
    assert sorted(files.excluded) == ["NOC4PC/test.parquet", "PAR4PC/validation.parquet"]
    assert sorted(f.relative for f in files.files) == [
        "NOC4PC/train.parquet",
        "PAR4PC/train.parquet",
        "PI4PC/train.parquet",
    ]


def _chemcot_final(output: str) -> dict:
    """The ```json block that ends a ChemCoT record."""
    return json.loads(output.rsplit("```json\n", 1)[-1].removesuffix("\n```"))


@pytest.mark.parametrize(
    ("benchmark", "task", "key"),
    [
        ("chemcotbench_mol_und", "mol_und", "count"),
        ("chemcotbench_mol_edit", "mol_edit", "output"),
        ("chemcotbench_mol_opt", "mol_opt", "Final Target Molecule"),
        ("chemcotbench_reaction", "rxn", "Major Product"),
    ],
)
def test_chemcot_outputs_end_with_the_subtasks_json(
    tmp_path: Path, benchmark: str, task: str, key: str
) -> None:
    # The key the fork's parser reads for the subtask (more in tests/benchmarks/test_chemcot.py).
    result = build(tmp_path, "chemcot", benchmark, limit=6)
    assert len(result.records) == 6
    assert result.files == [next(f for f in result.files if f"/{task}/" in f)]
    for record in result.records:
        assert set(_chemcot_final(record.output)) == {key}
    # rows with struct_cot or raw_cot are preferred: reasoning precedes the answer
    assert all(not r.output.startswith("```json") for r in result.records)


def test_chemcot_reads_gt_from_meta_text(tmp_path: Path) -> None:
    result = build(tmp_path, "chemcot", "chemcotbench_mol_edit", limit=50)
    outputs = {_chemcot_final(r.output)["output"] for r in result.records}
    assert "CCCO" in outputs  # row 1 stores meta as JSON text
    assert "CCO" in outputs


def test_tableinstruct_final_answer_and_subset(tmp_path: Path) -> None:
    result = build(tmp_path, "tableinstruct", "tablebench_numerical_reasoning")
    assert result.records
    for record in result.records:
        assert record.output.splitlines()[-1].startswith("Final Answer:")
        assert "Question:" in record.instruction
    # only NumericalReasoning rows (ids 0, 4, 8 of the fixture)
    assert len(result.records) == 3


def test_tableinstruct_visualization_keeps_python_blocks(tmp_path: Path) -> None:
    result = build(tmp_path, "tableinstruct", "tablebench_visualization")
    assert result.records
    assert all(r.output.startswith("```python\n") for r in result.records)


def test_financeiq_drops_the_dev_split_and_ends_with_letter(tmp_path: Path) -> None:
    root = tmp_path / "financeiq"
    fx.write_financeiq(root)
    files = discover(get_dataset("financeiq"), root)
    assert files.excluded == ["data/dev/银行从业资格.csv"]
    result = build(tmp_path, "financeiq", "FinanceIQ_gen")
    # 6 rows per test CSV: the benchmark keeps the last ceil(6 / 2) = 3, training the first 3
    assert len(result.records) == 6
    shots_answer = get_benchmark("FinanceIQ_gen").shots_answer
    for record in result.records:
        assert record.output[-1] in "ABCD"
        assert record.output == shots_answer.format(answer=record.output[-1])
        assert "开发集" not in record.instruction
        assert not any(f"第{i}题" in record.instruction for i in (3, 4, 5))  # kept rows


@pytest.mark.parametrize("task", ["PQA", "ORD", "ERR", "GEN"])
def test_bioprobench_tasks_use_answer_tags(tmp_path: Path, task: str) -> None:
    result = build(tmp_path, "bioprobench", f"bioprobench_{task.lower()}")
    assert result.files == [f"{task}.json"]  # never PQA_test.json
    assert len(result.records) == 8
    for record in result.records:
        assert "[ANSWER_START]" in record.output
        assert record.output.endswith("[ANSWER_END]")


def test_bioprobench_order_and_error_answers(tmp_path: Path) -> None:
    order = build(tmp_path, "bioprobench", "bioprobench_ord").records[0]
    assert order.output == "[ANSWER_START][1, 3, 0, 2][ANSWER_END]"
    errors = build(tmp_path, "bioprobench", "bioprobench_err").records
    answers = {r.output.rsplit("[ANSWER_START]", 1)[1] for r in errors}
    assert answers == {"True[ANSWER_END]", "False[ANSWER_END]"}
    gen = build(tmp_path, "bioprobench", "bioprobench_gen").records[0]
    # Rendered as the evaluation set renders GEN items: the role opens the instruction.
    assert gen.system is None
    assert gen.instruction.startswith("You are a lab protocol assistant.\n")
    assert "1. Do thing 0" in gen.output


def test_missing_columns_are_named(tmp_path: Path) -> None:
    root = tmp_path / "deepscaler"
    root.mkdir()
    (root / "deepscaler.json").write_text(json.dumps([{"question": "q", "solution": "s"}]))
    with pytest.raises(RecipeSchemaError, match=r"missing column.*problem.*answer") as info:
        build(tmp_path, "deepscaler", "aime25")
    assert "question, solution" in str(info.value)


def test_over_long_rows_are_dropped_not_truncated(tmp_path: Path) -> None:
    result = build(tmp_path, "panorama", "panorama_par4pc", max_tokens=200)
    assert result.records == []
    assert result.too_long == 8


def test_missing_dataset_is_an_environment_failure(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFailure, match="not in the dataset cache"):
        discover(get_dataset("chemcot"), tmp_path / "nothing")


def test_loader_reads_every_format_and_skips_hidden_folders(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "deepscaler"
    rows = fx.deepscaler_rows(4)
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / ".cache" / "huggingface" / "x.json").write_text("[]")
    (root / "a.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "a.json").write_text(json.dumps({"train": rows[:1], "test": rows[1:2]}))
    (root / "b.jsonl").write_text(json.dumps(rows[2]) + "\nnot json\n")
    pq.write_table(pa.Table.from_pylist(rows[3:4]), root / "c.parquet")
    files = discover(get_dataset("deepscaler"), root)
    assert [f.relative for f in files.files] == ["a.json", "b.jsonl", "c.parquet"]
    seen = [row["problem"] for _, row in files.sampled_rows(3)]
    assert sorted(seen) == sorted(r["problem"] for r in (rows[0], rows[1], rows[2], rows[3]))
    again = [row["problem"] for _, row in discover(get_dataset("deepscaler"), root).sampled_rows(3)]
    assert seen == again  # seeded order


def test_json_object_of_splits_respects_drop_splits(tmp_path: Path) -> None:
    root = tmp_path / "financeiq"
    root.mkdir()
    rows = fx.financeiq_rows("科目", n=4)
    (root / "all.json").write_text(json.dumps({"train": rows[:2], "dev": rows[2:]}))
    files = discover(get_dataset("financeiq"), root)
    assert len(files.files[0]) == 2


@pytest.mark.parametrize(
    ("path", "split"),
    [
        ("data/dev/x.csv", "dev"),
        ("train-00000-of-00001.parquet", "train"),
        ("PQA_test.json", "test"),
        ("PAR4PC/validation.parquet", "validation"),
        ("contest_problems.json", None),
        ("deepscaler.json", None),
    ],
)
def test_split_of(path: str, split: str | None) -> None:
    assert split_of(path) == split


def test_sample_is_split_over_datasets(tmp_path: Path) -> None:
    assert split_sample(7, 2) == [4, 3]
    sources = []
    for key in ("deepscaler", "financeiq"):
        fx.WRITERS[key](tmp_path / key)
        sources.append((get_dataset(key), discover(get_dataset(key), tmp_path / key)))
    results = build_builtin(
        sources,
        benchmark=BENCHMARKS["aime25"],
        sample_size=7,
        seed=1,
        tokens=TOKENS,
        max_tokens=4096,
    )
    assert [len(r.records) for r in results] == [4, 3]


def test_recipes_serve_benchmarks_of_other_domains(tmp_path: Path) -> None:
    """A dataset chosen for a benchmark outside its domain still yields records."""
    for dataset in ("tableinstruct", "panorama", "chemcot", "bioprobench"):
        result = build(tmp_path, dataset, "FinanceIQ_gen", limit=5)
        assert len(result.records) == 5, dataset


def test_chemcot_reaction_files_with_cot_result(tmp_path: Path) -> None:
    root = tmp_path / "chemcot"
    row = {
        "id": "r1",
        "query": "Which reagent? Input Reaction: CC=O>>CCO.",
        "task": "rxn",
        "subtask": "rcr",
        "gt": "[H][H]",
        "cot_result": '```json\n{"analysis": "Reduce it."}\n```',
        "raw_cot": "",
        "meta": "{}",
    }
    (root / "chemcotbench-cot" / "rxn").mkdir(parents=True)
    (root / "chemcotbench-cot" / "rxn" / "rcr.json").write_text(json.dumps([row]))
    (record,) = build(tmp_path, "chemcot", "chemcotbench_reaction").records
    assert record.output == '{"analysis": "Reduce it."}\n\n```json\n{"condition": "[H][H]"}\n```'
