"""``ftctl batch``: task rows -> one validated FineTuneCampaign manifest per (model, benchmark)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ftapi.base import DNS1123_LABEL
from ftapi.campaign import FineTuneCampaign
from ftapi.catalog import BENCHMARKS, get_benchmark
from ftoperator.batch import BatchError, campaign_name, deep_merge, render_batch
from ftoperator.cli import app
from ftoperator.manifest import load_campaign

REPO_ROOT = Path(__file__).resolve().parents[2]
TASKS = REPO_ROOT / "examples" / "tasks.yaml"
runner = CliRunner()


def _by_name(data: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {c.name: c.manifest for c in render_batch(data, **kwargs)}


def test_example_task_file_renders_one_valid_campaign_per_row():
    data = yaml.safe_load(TASKS.read_text())
    campaigns = _by_name(data)
    assert list(campaigns) == [
        "ftb-qwen2-5-7b-instruct-aime25",
        "ftb-qwen2-5-7b-instruct-financeiq-gen",
        "ftb-llama-3-1-8b-instruct-bioprobench-pqa",
        "qwen14b-panorama",
        "ftb-qwen2-5-7b-instruct-chemcotbench-reaction",
    ]
    for name, manifest in campaigns.items():
        campaign = FineTuneCampaign.model_validate(manifest)
        spec = manifest["spec"]
        assert campaign.metadata.name == name
        assert manifest["metadata"]["labels"] == {"batch": "paper-table-2"}
        assert spec["benchmarkDescription"] == get_benchmark(spec["benchmark"]).description
        assert spec["training"]["queueName"] == "gpu-a100"
    llama = campaigns["ftb-llama-3-1-8b-instruct-bioprobench-pqa"]["spec"]
    assert llama["budget"] == {"maxIterations": 8, "timeout": "24h"}  # merged over defaults
    assert campaigns["qwen14b-panorama"]["spec"]["training"] == {"gpus": 4, "queueName": "gpu-a100"}
    search = campaigns["ftb-qwen2-5-7b-instruct-chemcotbench-reaction"]["spec"]["planner"]
    assert search == {"type": "search"}  # `llm: null` removed the defaults' LLM block
    # The defaults are not mutated by the rows that override them.
    assert data["defaults"]["budget"] == {"maxIterations": 5, "timeout": "24h"}


def test_cli_writes_one_file_per_campaign_and_stdout_matches(tmp_path: Path):
    out = tmp_path / "campaigns"
    result = runner.invoke(app, ["batch", str(TASKS), "-o", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.yaml"))
    assert len(files) == 5
    for path in files:
        campaign = load_campaign(path)  # what `ftctl validate` does
        assert f"{campaign.metadata.name}.yaml" == path.name
        assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    stdout = runner.invoke(app, ["batch", str(TASKS), "--namespace", "research"])
    assert stdout.exit_code == 0
    docs = [d for d in yaml.safe_load_all(stdout.stdout) if d]
    assert sorted(f"{d['metadata']['name']}.yaml" for d in docs) == [p.name for p in files]
    assert {d["metadata"]["namespace"] for d in docs} == {"research"}


def test_paper_style_tasks_json_list(tmp_path: Path):
    path = tmp_path / "tasks.json"
    path.write_text(
        json.dumps(
            [
                {"model": "Qwen/Qwen2.5-1.5B-Instruct", "benchmark": key}
                for key in ("aime24", "tablebench_fact_checking")
            ]
        )
    )
    result = runner.invoke(app, ["batch", str(path)])
    assert result.exit_code == 0, result.output
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d]
    assert names == [
        "qwen2-5-1-5b-instruct-aime24",
        "qwen2-5-1-5b-instruct-tablebench-fact-checking",
    ]


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_names_are_dns_labels_within_63_characters(benchmark: str):
    for model in (
        "Qwen/Qwen2.5-7B-Instruct",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B-Really_Long.Model.Name-v2.5",
        "/models/local/MY MODEL",
    ):
        name = campaign_name("team-nlp", model, benchmark)
        assert len(name) <= 63 and re.fullmatch(DNS1123_LABEL, name), name
        assert name == campaign_name("team-nlp", model, benchmark)  # deterministic


def test_long_names_stay_unique_and_keep_the_benchmark():
    model = "org/" + "a-very-long-model-name-" * 4
    first = campaign_name(None, model + "1", "bioprobench_pqa")
    second = campaign_name(None, model + "2", "bioprobench_pqa")
    assert first != second and len(first) == len(second) <= 63
    assert first.endswith("-bioprobench-pqa")


def test_same_model_name_from_two_orgs_is_qualified():
    campaigns = _by_name(
        [
            {"model": "Qwen/Qwen2.5-7B", "benchmark": "aime25"},
            {"model": "my-org/Qwen2.5-7B", "benchmark": "aime25"},
            {"model": "Qwen/Qwen2.5-7B", "benchmark": "aime24"},
        ]
    )
    names = list(campaigns)
    assert len(set(names)) == 3
    assert names[2] == "qwen2-5-7b-aime24"  # unaffected rows keep the plain name
    assert all(n.startswith("qwen2-5-7b-") and n.endswith("-aime25") for n in names[:2])


def test_row_overrides_merge_and_replace():
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 3, "d": None}) == {
        "a": {"b": 1, "c": [2]},
        "e": 3,
    }
    (manifest,) = _by_name(
        {
            "namespace": "file-ns",
            "defaults": {"benchmarkDescription": "custom task"},
            "tasks": [
                {
                    "model": "Qwen/Qwen2.5-7B",
                    "benchmark": "aime25",
                    "namespace": "row-ns",
                    "labels": {"row": "1"},
                    "annotations": {"note": "x"},
                    "datasets": ["deepscaler"],
                }
            ],
        }
    ).values()
    assert manifest["metadata"] == {
        "name": "qwen2-5-7b-aime25",
        "namespace": "row-ns",
        "labels": {"row": "1"},
        "annotations": {"note": "x"},
    }
    assert manifest["spec"]["benchmarkDescription"] == "custom task"
    assert manifest["spec"]["datasets"] == ["deepscaler"]


BAD_FILES: dict[str, tuple[Any, str]] = {
    "no tasks": ({"defaults": {}}, "no tasks"),
    "unknown top-level key": ({"task": []}, "unknown top-level keys ['task']"),
    "not a mapping row": (["aime25"], "tasks[0] must be a mapping"),
    "missing model": ([{"benchmark": "aime25"}], "tasks[0]: give the base model"),
    "missing benchmark": ([{"model": "m"}], "tasks[0]: `benchmark` must be"),
    "unknown benchmark": (
        [{"model": "m", "benchmark": "aime26"}],
        "tasks[0]: unknown benchmark 'aime26'",
    ),
    "invalid override": (
        [
            {"model": "m", "benchmark": "aime25"},
            {"model": "m", "benchmark": "aime24", "budget": {"maxIterations": 0}},
        ],
        "tasks[1] (m on aime24): spec.budget.maxIterations",
    ),
    "unknown spec field": (
        [{"model": "m", "benchmark": "aime25", "gpus": 2}],
        "spec.gpus",
    ),
    "bad explicit name": ([{"model": "m", "benchmark": "aime25", "name": "Bad_Name"}], "DNS-1123"),
    "duplicate rows": (
        [{"model": "m", "benchmark": "aime25"}, {"model": "m", "benchmark": "aime25"}],
        "tasks[1] and tasks[0] both render campaign 'm-aime25'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_task_files_name_the_row(case: str):
    data, expected = BAD_FILES[case]
    with pytest.raises(BatchError) as excinfo:
        render_batch(data)
    assert expected in str(excinfo.value)


def test_cli_reports_errors_with_exit_code_2(tmp_path: Path):
    path = tmp_path / "tasks.yaml"
    path.write_text("tasks:\n  - {model: m, benchmark: nope}\n")
    result = runner.invoke(app, ["batch", str(path)])
    assert result.exit_code == 2
    assert "unknown benchmark 'nope'" in result.output
