"""Unit tests for the benchmark catalog (ftapi.catalog)."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from ftapi.catalog import (
    BENCHMARKS,
    DATASETS,
    AnswerFormat,
    Benchmark,
    Domain,
    Metric,
    RawDataset,
    UnknownKeyError,
    closest_keys,
    get_benchmark,
    get_dataset,
)

EXPECTED_BENCHMARKS = {
    "aime24",
    "aime25",
    "panorama_par4pc",
    "panorama_pi4pc",
    "panorama_noc4pc",
    "chemcotbench_mol_und",
    "chemcotbench_mol_edit",
    "chemcotbench_mol_opt",
    "chemcotbench_reaction",
    "tablebench_data_analysis",
    "tablebench_fact_checking",
    "tablebench_numerical_reasoning",
    "tablebench_visualization",
    "FinanceIQ_gen",
    "bioprobench_gen",
    "bioprobench_ord",
    "bioprobench_err",
    "bioprobench_pqa",
}

EXPECTED_DATASETS = {
    "deepscaler": "agentica-org/DeepScaleR-Preview-Dataset",
    "panorama": "LG-AI-Research/PANORAMA",
    "chemcot": "OpenMol/ChemCoTDataset",
    "tableinstruct": "Multilingual-Multimodal-NLP/TableInstruct",
    "financeiq": "Duxiaoman-DI/FinanceIQ",
    "bioprobench": "bowenxian/BioProBench",
}

# (domain, default dataset, answer format, core metric) per benchmarks.md.
EXPECTED_ROWS = {
    "aime24": (Domain.math, "deepscaler", AnswerFormat.boxed_integer, Metric.accuracy),
    "aime25": (Domain.math, "deepscaler", AnswerFormat.boxed_integer, Metric.accuracy),
    "panorama_par4pc": (Domain.patent, "panorama", AnswerFormat.json, Metric.macro_f1),
    "panorama_pi4pc": (Domain.patent, "panorama", AnswerFormat.json, Metric.gold_hit_rate),
    "panorama_noc4pc": (Domain.patent, "panorama", AnswerFormat.json, Metric.accuracy),
    "chemcotbench_mol_und": (
        Domain.chemistry,
        "chemcot",
        AnswerFormat.json_output,
        Metric.accuracy,
    ),
    "chemcotbench_mol_edit": (
        Domain.chemistry,
        "chemcot",
        AnswerFormat.json_output,
        Metric.correct_rate,
    ),
    "chemcotbench_mol_opt": (
        Domain.chemistry,
        "chemcot",
        AnswerFormat.json_output,
        Metric.success_rate,
    ),
    "chemcotbench_reaction": (
        Domain.chemistry,
        "chemcot",
        AnswerFormat.json_output,
        Metric.exact_match,
    ),
    "tablebench_data_analysis": (
        Domain.table_qa,
        "tableinstruct",
        AnswerFormat.final_answer,
        Metric.accuracy,
    ),
    "tablebench_fact_checking": (
        Domain.table_qa,
        "tableinstruct",
        AnswerFormat.final_answer,
        Metric.accuracy,
    ),
    "tablebench_numerical_reasoning": (
        Domain.table_qa,
        "tableinstruct",
        AnswerFormat.final_answer,
        Metric.accuracy,
    ),
    "tablebench_visualization": (
        Domain.table_qa,
        "tableinstruct",
        AnswerFormat.python_code,
        Metric.pass_at_1,
    ),
    "FinanceIQ_gen": (Domain.finance, "financeiq", AnswerFormat.choice_letter, Metric.accuracy),
    "bioprobench_gen": (Domain.biology, "bioprobench", AnswerFormat.answer_tags, Metric.rouge_l),
    "bioprobench_ord": (
        Domain.biology,
        "bioprobench",
        AnswerFormat.answer_tags,
        Metric.kendall_tau,
    ),
    "bioprobench_err": (Domain.biology, "bioprobench", AnswerFormat.answer_tags, Metric.f1),
    "bioprobench_pqa": (Domain.biology, "bioprobench", AnswerFormat.answer_tags, Metric.accuracy),
}

# Text every description of a given answer format must contain.
FORMAT_MARKERS: dict[AnswerFormat, tuple[str, ...]] = {
    AnswerFormat.boxed_integer: ("\\boxed{", "0 to 999"),
    AnswerFormat.json: ("JSON object", "{"),
    AnswerFormat.json_output: ("JSON object", "the keys it names"),
    AnswerFormat.final_answer: ("Final Answer:",),
    AnswerFormat.python_code: ("```python", "plt.show()"),
    AnswerFormat.choice_letter: ("letter", "A-D"),
    AnswerFormat.answer_tags: ("[ANSWER_START]", "[ANSWER_END]"),
}


class TestCatalogContents:
    def test_exact_benchmark_keys(self) -> None:
        assert len(BENCHMARKS) == 18
        assert set(BENCHMARKS) == EXPECTED_BENCHMARKS

    def test_exact_dataset_keys_and_ids(self) -> None:
        assert len(DATASETS) == 6
        assert {key: ds.hf_id for key, ds in DATASETS.items()} == EXPECTED_DATASETS

    def test_entries_are_keyed_by_their_own_key(self) -> None:
        assert all(key == bench.key for key, bench in BENCHMARKS.items())
        assert all(key == ds.key for key, ds in DATASETS.items())

    @pytest.mark.parametrize("key", sorted(EXPECTED_BENCHMARKS))
    def test_row_matches_benchmarks_md(self, key: str) -> None:
        bench = BENCHMARKS[key]
        domain, dataset, answer_format, metric = EXPECTED_ROWS[key]
        assert bench.domain is domain
        assert bench.datasets == (dataset,)
        assert bench.answer_format is answer_format
        assert bench.metric is metric
        assert bench.metric_note.strip()

    @pytest.mark.parametrize("key", sorted(EXPECTED_BENCHMARKS))
    def test_default_datasets_exist(self, key: str) -> None:
        bench = BENCHMARKS[key]
        assert bench.datasets, "every benchmark needs at least one default dataset"
        for dataset_key in bench.datasets:
            assert dataset_key in DATASETS

    @pytest.mark.parametrize("key", sorted(EXPECTED_BENCHMARKS))
    def test_description_states_output_format(self, key: str) -> None:
        bench = BENCHMARKS[key]
        assert "Expected Output Format:" in bench.description
        for marker in FORMAT_MARKERS[bench.answer_format]:
            assert marker in bench.description, f"{key}: description lacks {marker!r}"

    def test_aime25_description_matches_the_reference(self) -> None:
        assert BENCHMARKS["aime25"].description == (
            "AIME 2025 math competition problems. Each answer is an integer from 0 to 999. "
            "Expected Output Format: put the final answer within \\boxed{}, "
            "for example \\boxed{42}."
        )

    def test_descriptions_are_distinct(self) -> None:
        descriptions = [bench.description for bench in BENCHMARKS.values()]
        assert len(set(descriptions)) == len(descriptions)

    def test_eval_sets(self) -> None:
        assert BENCHMARKS["aime24"].eval_hf_id == "HuggingFaceH4/aime_2024"
        assert BENCHMARKS["aime25"].eval_hf_id == "opencompass/AIME2025"
        assert BENCHMARKS["FinanceIQ_gen"].eval_hf_id == "Duxiaoman-DI/FinanceIQ"
        subsets = {
            "panorama_par4pc": ("LG-AI-Research/PANORAMA", "PAR4PC"),
            "panorama_pi4pc": ("LG-AI-Research/PANORAMA", "PI4PC"),
            "panorama_noc4pc": ("LG-AI-Research/PANORAMA", "NOC4PC"),
            "chemcotbench_mol_und": ("OpenMol/ChemCoTBench", "mol_und"),
            "chemcotbench_reaction": ("OpenMol/ChemCoTBench", "reaction"),
            "tablebench_visualization": ("Multilingual-Multimodal-NLP/TableBench", "Visualization"),
            "bioprobench_pqa": ("bowenxian/BioProBench", "PQA"),
            "bioprobench_ord": ("bowenxian/BioProBench", "ORD"),
        }
        for key, (hf_id, subset) in subsets.items():
            assert (BENCHMARKS[key].eval_hf_id, BENCHMARKS[key].task) == (hf_id, subset)

    def test_subsets_of_one_eval_set_are_distinct(self) -> None:
        seen: dict[tuple[str, str | None], str] = {}
        for key, bench in BENCHMARKS.items():
            ident = (bench.eval_hf_id, bench.task)
            assert ident not in seen, f"{key} and {seen.get(ident)} share an evaluation set"
            seen[ident] = key

    def test_benchmark_content_is_kept_out_of_training_downloads(self) -> None:
        assert set(DATASETS["panorama"].exclude_patterns) == {"*validation*", "*test*"}
        assert DATASETS["bioprobench"].exclude_patterns == ("*_test.json",)
        assert DATASETS["financeiq"].drop_splits == ("dev",)
        assert DATASETS["deepscaler"].exclude_patterns == ()

    def test_domain_values(self) -> None:
        assert Domain.table_qa == "table-qa"
        assert {d.value for d in Domain} == {
            "math",
            "patent",
            "chemistry",
            "table-qa",
            "finance",
            "biology",
        }
        assert len(AnswerFormat) == 7
        assert len(Metric) == 10


class TestModels:
    def test_models_are_frozen(self) -> None:
        bench = BENCHMARKS["aime25"]
        with pytest.raises(ValidationError):
            bench.key = "other"  # type: ignore[misc]
        with pytest.raises(ValidationError):
            DATASETS["panorama"].hf_id = "x/y"  # type: ignore[misc]

    def test_models_reject_unknown_fields(self) -> None:
        with pytest.raises(ValidationError):
            RawDataset(key="k", hf_id="a/b", description="d", nonsense=1)  # type: ignore[call-arg]

    def test_benchmark_round_trips_through_json(self) -> None:
        bench = BENCHMARKS["tablebench_numerical_reasoning"]
        again = Benchmark.model_validate_json(bench.model_dump_json())
        assert again == bench
        assert bench.model_dump(mode="json")["domain"] == "table-qa"

    def test_catalog_mappings_are_read_only(self) -> None:
        with pytest.raises(TypeError):
            BENCHMARKS["new"] = BENCHMARKS["aime25"]  # type: ignore[index]
        with pytest.raises(TypeError):
            DATASETS["new"] = DATASETS["panorama"]  # type: ignore[index]


class TestLookup:
    def test_known_keys(self) -> None:
        assert get_benchmark("FinanceIQ_gen").domain is Domain.finance
        assert get_dataset("chemcot").hf_id == "OpenMol/ChemCoTDataset"

    def test_unknown_benchmark_names_closest_keys(self) -> None:
        with pytest.raises(UnknownKeyError) as info:
            get_benchmark("aime2025")
        err = info.value
        assert isinstance(err, ValueError)
        assert str(err) == "unknown benchmark 'aime2025'; did you mean: aime25, aime24?"
        assert err.suggestions == ("aime25", "aime24")

    def test_lookup_is_exact_but_suggestion_ignores_case(self) -> None:
        with pytest.raises(UnknownKeyError) as info:
            get_benchmark("financeiq_gen")
        assert info.value.suggestions[0] == "FinanceIQ_gen"
        assert "FinanceIQ_gen" in str(info.value)

    def test_unknown_dataset_names_closest_keys(self) -> None:
        with pytest.raises(UnknownKeyError, match=r"unknown dataset 'deepscale'; did you mean: "):
            get_dataset("deepscale")
        with pytest.raises(UnknownKeyError) as info:
            get_dataset("chemcott")
        assert info.value.suggestions == ("chemcot",)

    def test_nothing_close_lists_all_keys(self) -> None:
        with pytest.raises(UnknownKeyError) as info:
            get_dataset("zzzz")
        message = str(info.value)
        assert info.value.suggestions == ()
        assert "did you mean" not in message
        for key in DATASETS:
            assert key in message

    def test_error_survives_pickling(self) -> None:
        with pytest.raises(UnknownKeyError) as info:
            get_benchmark("aime2025")
        again = pickle.loads(pickle.dumps(info.value))
        assert str(again) == str(info.value)
        assert again.suggestions == info.value.suggestions


class TestClosestKeys:
    def test_at_most_n_best_first(self) -> None:
        keys = closest_keys("bioprobench_gne", BENCHMARKS)
        assert keys[0] == "bioprobench_gen"
        assert 1 <= len(keys) <= 3
        assert closest_keys("bioprobench_gne", BENCHMARKS, n=1) == ["bioprobench_gen"]

    def test_case_insensitive_and_returns_original_spelling(self) -> None:
        assert closest_keys("FINANCEIQ_GEN", BENCHMARKS)[0] == "FinanceIQ_gen"

    def test_substring_fills_in_for_prefixes(self) -> None:
        keys = closest_keys("tablebench", BENCHMARKS)
        assert len(keys) == 3
        assert all(key.startswith("tablebench_") for key in keys)

    def test_no_match(self) -> None:
        assert closest_keys("qqqqqq", ["aime24", "aime25"]) == []
        assert closest_keys("aime24", ["aime24"], n=0) == []
