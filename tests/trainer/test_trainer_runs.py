"""Real training runs through ``python -m fttrainer`` on the tiny model (CPU, LLaMA-Factory).

Each test writes a plan and data into a toy campaign's workspace, runs the trainer with a
real StepRequest in ``FT_STEP_REQUEST``, and checks the termination message, the exit status
and the TrainingResult file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fixtures.workspace import Campaign, WorkerRun, run_worker

from ftapi.campaign import TrainingMethod
from ftapi.results import FailureKind, TrainingResult
from ftapi.steps import StepKind
from fttrainer.merge import merge_adapter

SMALL = {"per_device_train_batch_size": 4, "cutoff_len": 256, "learning_rate": 1e-3}


def _training_result(path: Path) -> TrainingResult:
    return TrainingResult.model_validate_json(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def smoke_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> tuple[Campaign, WorkerRun]:
    """One LoRA smoke run, shared by the tests that inspect it."""
    tmp = tmp_path_factory.mktemp("smoke")
    campaign = Campaign.create(tmp / "mounts", tiny_model)
    # A string learning rate and a long plan: the trainer converts one and caps the other.
    campaign.write_plan(0, SMALL | {"learning_rate": "2e-3", "max_steps": 500, "save_steps": 1})
    return campaign, run_worker("fttrainer", campaign.request(StepKind.SMOKE, 0), tmp)


def test_lora_smoke_run_passes_and_reports(smoke_run: tuple[Campaign, WorkerRun]) -> None:
    campaign, run = smoke_run
    assert run.returncode == 0, run.output[-3000:]
    assert run.result.ok and run.result.failure is None
    assert run.result.method is TrainingMethod.LORA
    assert 0 < (run.result.steps or 0) <= 4
    assert run.result.train_loss is not None and run.result.train_loss > 0

    smoke_dir = campaign.layout.smoke_dir(0, 0)
    result = _training_result(smoke_dir / "result.json")
    assert result.mode == "smoke" and result.ok and result.adapter
    assert [p.step for p in result.loss_history] == list(range(1, result.steps + 1))
    assert result.final_loss == result.loss_history[-1].loss
    output = Path(campaign.paths.workspace) / (result.output_dir or "")
    assert output == smoke_dir / "output"
    assert (output / "adapter_model.safetensors").is_file()
    assert not list(output.glob("checkpoint-*")), "a smoke run saves no checkpoints"


def test_rendered_config_has_operator_keys(smoke_run: tuple[Campaign, WorkerRun]) -> None:
    campaign, _ = smoke_run
    smoke_dir = campaign.layout.smoke_dir(0, 0)
    config = yaml.safe_load((smoke_dir / "train.yaml").read_text(encoding="utf-8"))
    assert config["learning_rate"] == pytest.approx(2e-3)
    assert config["max_steps"] == 4 and config["max_samples"] <= 16
    assert config["save_strategy"] == "no"
    assert config["dataset"] == "train"
    assert config["dataset_dir"] == str(campaign.layout.data_dir(0, 0))
    assert config["output_dir"] == str(smoke_dir / "output")
    assert config["model_name_or_path"] == str(campaign.layout.base_model_dir("tiny-qwen2"))
    assert config["template"] == "qwen"  # from the model family (qwen2)
    assert config["finetuning_type"] == "lora"
    assert (config["stage"], config["do_train"], config["report_to"]) == ("sft", True, "none")
    assert config["overwrite_cache"] is True and config["save_only_model"] is True
    assert (smoke_dir / "train.log").read_text(encoding="utf-8").strip()


def test_merge_adapter_exports_a_standalone_model(
    smoke_run: tuple[Campaign, WorkerRun], tmp_path: Path
) -> None:
    campaign, _ = smoke_run
    merged = merge_adapter(
        campaign.layout.base_model_dir("tiny-qwen2"),
        campaign.layout.smoke_dir(0, 0) / "output",
        tmp_path / "merged",
        template="qwen",
    )
    assert (merged / "config.json").is_file()
    assert list(merged.glob("*.safetensors"))
    assert (merged / "tokenizer_config.json").is_file()
    assert not (merged / "adapter_config.json").exists()


def test_full_finetuning_train_step(campaign: Campaign, tmp_path: Path) -> None:
    campaign.write_plan(2, SMALL | {"max_steps": 3, "logging_steps": 1}, TrainingMethod.FULL)
    run = run_worker("fttrainer", campaign.request(StepKind.TRAIN, 2), tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    assert run.result.ok and run.result.step is StepKind.TRAIN and run.result.steps == 3

    result = TrainingResult.model_validate_json(
        (campaign.layout.train_dir(2) / "result.json").read_text(encoding="utf-8")
    )
    assert result.mode == "full" and not result.adapter and result.merged_dir is None
    assert len(result.loss_history) == 3
    model_dir = Path(campaign.paths.workspace) / (result.output_dir or "")
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "config.json").is_file()


def test_a_run_shorter_than_the_logging_interval_still_reports_its_loss(
    campaign: Campaign, tmp_path: Path
) -> None:
    """Found by the cluster end-to-end run: 32 records, 4 steps, ``logging_steps`` 10."""
    campaign.write_plan(3, SMALL | {"max_steps": 3})
    run = run_worker("fttrainer", campaign.request(StepKind.TRAIN, 3), tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    assert run.result.ok, run.result.message
    assert run.result.train_loss is not None and run.result.steps == 3


def test_values_outside_the_allow_list_are_not_used_and_said_so(
    campaign: Campaign, tmp_path: Path
) -> None:
    """A plan the agent did not write (it filters with the same allow-list): the trainer
    trains without the refused keys and says which it left out."""
    campaign.write_plan(0, SMALL | {"learning_rate": "abc", "lora_rank": "eight"})
    run = run_worker("fttrainer", campaign.request(StepKind.SMOKE, 0), tmp_path)
    assert run.returncode == 0, run.output[-2000:]
    assert "plan keys not used (not allowed): learning_rate, lora_rank" in run.result.message
    config = yaml.safe_load(
        (campaign.layout.smoke_dir(0, 0) / "train.yaml").read_text(encoding="utf-8")
    )
    assert "learning_rate" not in config and "lora_rank" not in config


def test_unknown_template_is_a_config_failure(campaign: Campaign, tmp_path: Path) -> None:
    # Passes the trainer's own checks; LLaMA-Factory rejects it and the log is classified.
    campaign.write_plan(1, SMALL | {"template": "no_such_template"})
    run = run_worker("fttrainer", campaign.request(StepKind.SMOKE, 1), tmp_path)
    assert run.returncode == 1
    assert run.result.failure is FailureKind.CONFIG
    assert "Template no_such_template does not exist" in run.result.message
    result = _training_result(campaign.layout.smoke_dir(1, 0) / "result.json")
    assert result.log_tail and not result.loss_history


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"question": "What is 1 plus 6?", "response": "\\boxed{7}"}] * 4, "lacks column"),
        ([], "holds no records"),
    ],
    ids=["missing-column", "empty"],
)
def test_broken_data_is_a_data_failure(
    campaign: Campaign, tmp_path: Path, rows: list[dict[str, str]], expected: str
) -> None:
    campaign.write_plan(0, SMALL, rows=rows)
    run = run_worker("fttrainer", campaign.request(StepKind.SMOKE, 0), tmp_path)
    assert run.returncode == 1
    assert run.result.failure is FailureKind.DATA
    assert expected in run.result.message


def test_missing_plan_is_reported_not_crashed(campaign: Campaign, tmp_path: Path) -> None:
    run = run_worker("fttrainer", campaign.request(StepKind.SMOKE, 5), tmp_path)
    assert run.returncode == 1
    assert run.result.failure is FailureKind.INTERNAL and "plan" in run.result.message
    assert json.loads(run.result.dump_message())["ok"] is False
