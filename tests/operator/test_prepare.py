"""The prepare step downloads through huggingface_hub (real code path, real HTTP) from a local
fake Hub, fills the caches once, drops benchmark content, and fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ftapi.campaign import FineTuneCampaignSpec
from ftapi.results import StepResult
from ftapi.steps import MountPaths, StepKind, StepRequest
from ftapi.workspace import CampaignLayout
from harness.fake_hub import FakeHub


def run_prepare(
    tmp_path: Path, hub: FakeHub, token: str | None = None, **spec
) -> tuple[StepResult, CampaignLayout]:
    paths = MountPaths(
        models=str(tmp_path / "models"),
        datasets=str(tmp_path / "datasets"),
        workspace=str(tmp_path / "ws"),
    )
    request = StepRequest(
        step=StepKind.PREPARE,
        namespace="ns",
        campaign="c",
        paths=paths,
        spec=FineTuneCampaignSpec.model_validate(
            {"baseModel": "org/tiny", "benchmark": "aime25", **spec}
        ),
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    message = tmp_path / "termination.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HOME=str(tmp_path / "hf-home"),
        FT_STEP_REQUEST=request.model_dump_json(),
        FT_TERMINATION_LOG=str(message),
    )
    if token:
        env["HF_TOKEN"] = token
    subprocess.run(
        [sys.executable, "-m", "ftoperator.prepare"], env=env, timeout=120, capture_output=True
    )
    return StepResult.parse_message(message.read_text(), StepKind.PREPARE), CampaignLayout(
        paths, "ns", "c"
    )


def fill(hub: FakeHub, token: str | None = None) -> None:
    hub.add(
        "model",
        "org/tiny",
        {
            "config.json": '{"model_type": "qwen2"}',
            "model.safetensors": b"\x00" * 64,
            "tokenizer.json": "{}",
        },
        token=token,
    )
    hub.add(
        "dataset",
        "agentica-org/DeepScaleR-Preview-Dataset",
        {
            "deepscaler.json": json.dumps([{"problem": "1+1?", "solution": "2", "answer": "2"}]),
        },
    )
    hub.add(
        "dataset",
        "opencompass/AIME2025",
        {
            "aime2025-I.jsonl": "\n".join(
                json.dumps({"question": f"Q{i}", "answer": str(i)}) for i in range(30)
            ),
        },
    )


def test_downloads_everything_once(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        result, layout = run_prepare(tmp_path, hub)
        assert result.ok, result.message
        assert "org/tiny" in result.message and "deepscaler" in result.message
        assert (layout.base_model_dir("org/tiny") / "config.json").exists()
        assert (layout.raw_dataset_dir("deepscaler") / "deepscaler.json").exists()
        rows = [json.loads(x) for x in layout.benchmark_file("aime25").read_text().splitlines()]
        assert len(rows) == 30 and rows[0] == {"question": "Q0", "answer": "0"}
        downloads = [r for r in hub.requests if "/resolve/" in r]
        again, _ = run_prepare(tmp_path, hub)
        assert again.ok and again.message == "caches already complete"
        assert [r for r in hub.requests if "/resolve/" in r] == downloads  # nothing new


def test_benchmark_content_is_never_kept(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.add(
            "dataset",
            "bowenxian/BioProBench",
            {"PQA_train.json": "[]", "PQA_test.json": "[]", "ERR_test.json": "[]"},
        )
        result, layout = run_prepare(tmp_path, hub, datasets=["bioprobench"])
        assert result.ok, result.message
        files = sorted(
            p.name for p in layout.raw_dataset_dir("bioprobench").iterdir() if p.is_file()
        )
        assert "PQA_train.json" in files
        assert not [f for f in files if f.endswith("_test.json")]


def test_unknown_model_fails_permanently_with_the_reason(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        result, _ = run_prepare(tmp_path, hub, baseModel="org/missing")
        assert not result.ok and result.failure == "environment"
        assert "base model 'org/missing': not found on the Hub" in result.message


def test_gated_model_needs_the_token(tmp_path):
    with FakeHub() as hub:
        fill(hub, token="hf_secret")
        denied, _ = run_prepare(tmp_path / "a", hub)
        assert not denied.ok and "hf_secret" not in denied.message
        assert "spec.hfTokenSecretRef" in denied.message
        allowed, layout = run_prepare(tmp_path / "b", hub, token="hf_secret")
        assert allowed.ok, allowed.message
        assert (layout.base_model_dir("org/tiny") / "model.safetensors").exists()


def _tablebench_row(i: int, qtype: str, style: str) -> dict:
    return {
        "id": f"q{i}",
        "qtype": qtype,
        "qsubtype": "Chart",
        "instruction_type": style,
        "instruction": f"[{style}] answer from the table",
        "table": {"columns": ["year", "sales"], "data": [[2020 + i, i * 10]]},
        "question": f"Plot sales {i}",
        "answer": f"y_references = [[{i * 10}]]",
    }


def test_subset_given_as_a_column_keeps_its_rows_once_with_their_tables(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.add("dataset", "Multilingual-Multimodal-NLP/TableInstruct", {"train.json": "[]"})
        files = {}
        for style in ("DP", "PoT"):  # the same items, once per prompting style
            rows = [_tablebench_row(i, "Visualization", style) for i in range(3)]
            rows += [_tablebench_row(i, "FactChecking", style) for i in range(3, 5)]
            files[f"TableBench_{style}.jsonl"] = "\n".join(json.dumps(r) for r in rows)
        hub.add("dataset", "Multilingual-Multimodal-NLP/TableBench", files)
        result, layout = run_prepare(tmp_path, hub, benchmark="tablebench_visualization")
        assert result.ok, result.message
        path = layout.benchmark_file("tablebench_visualization")
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        assert [r["question"] for r in rows] == ["Plot sales 0", "Plot sales 1", "Plot sales 2"]
        assert rows[1]["table"] == {"columns": ["year", "sales"], "data": [[2021, 10]]}
        assert rows[1]["answer"] == "y_references = [[10]]"


def test_subset_found_nowhere_fails_naming_it(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.add("dataset", "Multilingual-Multimodal-NLP/TableInstruct", {"train.json": "[]"})
        rows = [_tablebench_row(i, "FactChecking", "DP") for i in range(3)]
        hub.add(
            "dataset",
            "Multilingual-Multimodal-NLP/TableBench",
            {"TableBench.jsonl": "\n".join(json.dumps(r) for r in rows)},
        )
        result, _ = run_prepare(tmp_path, hub, benchmark="tablebench_visualization")
        assert not result.ok
        assert "TableBench (subset Visualization)" in result.message


def _finance_csv(subject: str, n: int) -> str:
    lines = ["Question,A,B,C,D,Answer"]
    lines += [
        f"{subject}题{i}：哪项正确？,甲{i},乙{i},丙{i},丁{i},{'ABCD'[i % 4]}" for i in range(n)
    ]
    return "\n".join(lines) + "\n"


def test_csv_evaluation_set_with_option_columns(tmp_path):
    """FinanceIQ: one CSV per subject, options A-D as columns, the dev split for few-shot."""
    with FakeHub() as hub:
        fill(hub)
        files = {
            "data/test/银行.csv": _finance_csv("银行", 3),
            "data/test/保险.csv": _finance_csv("保险", 2),
            "data/dev/银行.csv": _finance_csv("开发", 2),
        }
        hub.add("dataset", "Duxiaoman-DI/FinanceIQ", files)
        result, layout = run_prepare(tmp_path, hub, benchmark="FinanceIQ_gen")
        assert result.ok, result.message
        path = layout.benchmark_file("FinanceIQ_gen")
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 5 and not any("开发" in r["question"] for r in rows)
        assert rows[0] == {
            "subject": "保险",
            "choices": {"A": "甲0", "B": "乙0", "C": "丙0", "D": "丁0"},
            "question": "保险题0：哪项正确？",
            "answer": "A",
        }
        # The dev split holds the 5-shot examples, kept apart from the evaluation set.
        shots = [json.loads(x) for x in layout.shots_file("FinanceIQ_gen").read_text().splitlines()]
        assert [(r["subject"], r["question"]) for r in shots] == [
            ("银行", "开发题0：哪项正确？"),
            ("银行", "开发题1：哪项正确？"),
        ]


def test_subset_by_column_value_in_csv_files(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.add("dataset", "Multilingual-Multimodal-NLP/TableInstruct", {"train.json": "[]"})
        csv_text = "question,answer,qtype\nPlot a,code a,Visualization\nIs b?,Yes,FactChecking\n"
        hub.add("dataset", "Multilingual-Multimodal-NLP/TableBench", {"TableBench.csv": csv_text})
        result, layout = run_prepare(tmp_path, hub, benchmark="tablebench_visualization")
        assert result.ok, result.message
        path = layout.benchmark_file("tablebench_visualization")
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        assert [(r["question"], r["answer"]) for r in rows] == [("Plot a", "code a")]
