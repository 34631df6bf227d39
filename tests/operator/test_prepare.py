"""The prepare step downloads through huggingface_hub (real code path, real HTTP) from a local
fake Hub, fills the caches once, drops benchmark content, and fails clearly."""

from __future__ import annotations

import json

from ftapi.evalsets import Splits
from ftapi.evalsets.base import splits_hash
from harness.fake_hub import FakeHub, Fault
from harness.prepare import run_prepare


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
            name: "\n".join(
                json.dumps({"question": f"Q{i}", "answer": str(i)}) for i in range(k, k + 15)
            )
            for name, k in (("aime2025-I.jsonl", 0), ("aime2025-II.jsonl", 15))
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
        assert len(rows) == 30
        assert (rows[0]["question"], rows[0]["answer"]) == ("Q0", "0")
        assert (rows[15]["question"], rows[29]["answer"]) == ("Q15", "29")
        downloads = [r for r in hub.requests if "/resolve/" in r]
        again, _ = run_prepare(tmp_path, hub)
        assert again.ok and again.message.startswith("caches already complete;")
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


def test_a_file_without_the_layouts_fields_fails_at_prepare_naming_file_row_and_field(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        bad = "\n".join(json.dumps({"problem": f"Q{i}", "answer": str(i)}) for i in range(15))
        hub.add(
            "dataset",
            "opencompass/AIME2025",
            {"aime2025-I.jsonl": bad, "aime2025-II.jsonl": bad},
        )
        result, layout = run_prepare(tmp_path, hub)
        assert not result.ok and result.failure == "environment"
        assert "aime2025-I.jsonl row 0" in result.message and "'question'" in result.message
        assert not layout.benchmark_file("aime25").exists()


def test_a_missing_file_of_the_layout_fails_at_prepare(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.add(
            "dataset",
            "opencompass/AIME2025",
            {"aime2025-I.jsonl": json.dumps({"question": "Q", "answer": "1"})},
        )
        result, _ = run_prepare(tmp_path, hub)
        assert not result.ok and result.failure == "environment"
        assert "aime2025-II.jsonl" in result.message and "opencompass/AIME2025" in result.message


def test_splits_are_recorded_with_their_hash_and_other_limits_get_their_own(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        result, layout = run_prepare(tmp_path, hub)
        assert result.ok, result.message
        summary = result.evaluation_set
        assert (summary.items, summary.validation, summary.test) == (30, 15, 15)
        splits = Splits.model_validate_json(layout.splits_file("aime25", 100, 100).read_text())
        assert splits.sha256 == summary.sha256
        assert splits.sha256 == splits_hash("aime25", splits.validation, splits.test)
        small, _ = run_prepare(tmp_path, hub, evaluation={"validationLimit": 5, "testLimit": 4})
        assert small.ok and (small.evaluation_set.validation, small.evaluation_set.test) == (5, 4)
        assert small.evaluation_set.sha256 != summary.sha256
        assert layout.splits_file("aime25", 5, 4).is_file()
        exclusion = json.loads(layout.exclusion_file("aime25").read_text())
        assert len(exclusion["fingerprints"]) >= 30
        assert "Q1" not in layout.exclusion_file("aime25").read_text()  # hashes only


def test_an_evaluation_set_of_an_older_operator_is_prepared_again(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        result, layout = run_prepare(tmp_path, hub)
        assert result.ok
        layout.benchmark_file("aime25").write_text('{"question": "old", "answer": "1"}\n')
        again, _ = run_prepare(tmp_path, hub)
        assert again.ok and "aime25" in again.message.split(";")[0]
        assert again.evaluation_set.sha256 == result.evaluation_set.sha256


FAST = {"FT_PREPARE_RETRY_BASE_SECONDS": "0.05"}


def test_transient_hub_failures_are_retried_within_the_step(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.faults += [
            Fault("/api/models/org/tiny", times=2, status=429, retry_after=1),
            Fault("/api/datasets/opencompass", times=1, status=503),
            Fault("aime2025-I.jsonl", times=1, truncate=True),
            Fault("deepscaler.json", times=1, reset=True),
        ]
        result, layout = run_prepare(tmp_path, hub, env=FAST)
        assert result.ok, result.message
        assert all(f.times == 0 for f in hub.faults)  # every fault was met, then passed
        api = [r for r in hub.requests if r.startswith("GET /api/models/org/tiny")]
        assert len(api) == 3  # two 429s, then the answer
        rows = layout.benchmark_file("aime25").read_text().splitlines()
        assert len(rows) == 30  # the cut-short file was downloaded whole in the end


def test_a_hub_that_keeps_failing_is_an_infrastructure_failure_the_operator_retries(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        hub.faults.append(Fault("/api/models/org/tiny", times=100, status=503))
        result, _ = run_prepare(tmp_path, hub, env=FAST)
        assert not result.ok and result.failure == "infrastructure"
        assert "kept failing after 5 tries" in result.message and "503" in result.message
        assert len([r for r in hub.requests if "/api/models/org/tiny" in r]) == 5


def test_what_cannot_succeed_on_retry_fails_at_once(tmp_path):
    with FakeHub() as hub:
        fill(hub)
        result, _ = run_prepare(tmp_path, hub, env=FAST, baseModel="org/missing")
        assert not result.ok and result.failure == "environment"
        assert len([r for r in hub.requests if "/api/models/org/missing" in r]) == 1
