"""Real evaluations through ``python -m fteval``: OpenCompass on the tiny model, CPU.

The toy campaign is scored as the operator would run it: the baseline (validation and test
of the base model), a LoRA training run through ``python -m fttrainer``, and the iteration's
validation evaluation (base model + adapter). The trained model must beat the base model.
(The final step differs only in the model and split it picks: ``test_eval_units``.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures import toy
from fixtures.workspace import Campaign, WorkerRun, run_worker

from ftapi.results import EvaluationResult, FailureKind, decode_item_scores
from ftapi.steps import StepKind

EVAL_ENV = {"FT_EVAL_MAX_OUT_LEN": "12", "FT_EVAL_BATCH_SIZE": "8"}
TRAINING = {
    "learning_rate": 1e-2,
    "lr_scheduler_type": "constant",
    "max_steps": 40,
    "per_device_train_batch_size": 8,
    "logging_steps": 10,
    "cutoff_len": 256,
    "lora_rank": 8,
    "lora_alpha": 16,
}


@dataclass(frozen=True)
class ToyCampaign:
    campaign: Campaign
    baseline: WorkerRun
    evaluation: WorkerRun
    final_avg3: WorkerRun
    """The final step (test split) with three sampled answers per item."""

    def result(self, path: Path) -> EvaluationResult:
        return EvaluationResult.model_validate_json(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def toy_campaign(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> ToyCampaign:
    tmp = tmp_path_factory.mktemp("toy")
    campaign = Campaign.create(tmp / "mounts", tiny_model)
    baseline = run_worker("fteval", campaign.request(StepKind.BASELINE), tmp, EVAL_ENV)
    campaign.write_plan(0, TRAINING)
    trained = run_worker("fttrainer", campaign.request(StepKind.TRAIN, 0), tmp)
    assert trained.returncode == 0, trained.output[-3000:]
    evaluation = run_worker("fteval", campaign.request(StepKind.EVAL, 0), tmp, EVAL_ENV)
    avg3 = campaign.spec(
        evaluation={"gpus": 0, "validationLimit": 8, "testLimit": 8, "samplesPerItem": 3}
    )
    final = run_worker("fteval", campaign.request(StepKind.FINAL, 0, spec=avg3), tmp, EVAL_ENV)
    return ToyCampaign(campaign, baseline, evaluation, final)


def test_baseline_scores_validation_and_test(toy_campaign: ToyCampaign) -> None:
    run, layout = toy_campaign.baseline, toy_campaign.campaign.layout
    assert run.returncode == 0, run.output[-3000:]
    assert run.result.ok and run.result.metric == "accuracy"
    assert set(run.result.scores) == {"validation", "test"}
    validation = toy_campaign.result(layout.eval_file(None, "validation"))
    test = toy_campaign.result(layout.eval_file(None, "test"))
    assert [item.index for item in validation.items] == list(range(8))
    assert [item.index for item in test.items] == list(range(8, 16))
    assert validation.score == run.result.scores["validation"]
    assert decode_item_scores(run.result.item_scores) == [i.score for i in validation.items]
    assert validation.model == "tiny-qwen2" and validation.adapter is None
    # The untrained model cannot answer: the agent sees some validation mistakes, never test.
    assert 0 < len(validation.wrong_answers) <= 5
    assert validation.wrong_answers[0].expected == toy.ANSWER
    assert test.wrong_answers == []


def test_trained_model_beats_the_base_model(toy_campaign: ToyCampaign) -> None:
    run, layout = toy_campaign.evaluation, toy_campaign.campaign.layout
    assert run.returncode == 0, run.output[-3000:]
    assert set(run.result.scores) == {"validation"}
    baseline = toy_campaign.baseline.result.scores["validation"]
    assert run.result.scores["validation"] > baseline
    result = toy_campaign.result(layout.eval_file(0, "validation"))
    assert result.adapter == "ns/toy/iter-000/train/output"
    assert result.model == "tiny-qwen2" or result.model.endswith("tiny-qwen2")
    assert sum(item.score for item in result.items) > 0
    # The termination message carries the per-item validation scores, in item order.
    assert decode_item_scores(run.result.item_scores) == [item.score for item in result.items]
    config = (layout.eval_file(0, "validation").parent / "opencompass_config.py").read_text()
    assert "peft_path=" in config and "num_gpus=0" in config


def test_several_samples_per_item_are_generated_and_averaged(toy_campaign: ToyCampaign) -> None:
    run, layout = toy_campaign.final_avg3, toy_campaign.campaign.layout
    assert run.returncode == 0, run.output[-3000:]
    assert set(run.result.scores) == {"test"}
    path = layout.eval_file(0, "test", final=True)
    result = toy_campaign.result(path)
    assert result.samples_per_item == 3
    assert [item.index for item in result.items] == list(range(8, 16))
    # Each item's score is the share of its three sampled answers that were right.
    for item in result.items:
        assert min(abs(item.score * 3 - k) for k in range(4)) < 1e-6, item
    mean = 100 * sum(item.score for item in result.items) / len(result.items)
    assert result.score == pytest.approx(mean, abs=0.01)
    config = (path.parent / "opencompass_config.py").read_text()
    assert "n=3" in config and "do_sample=True" in config and "temperature=0.6" in config
    # OpenCompass generated three answers per item: 24 predictions for 8 items.
    predictions = list((path.parent / "opencompass").rglob("predictions/*/*-test.json"))
    assert len(predictions) == 1, predictions
    assert len(json.loads(predictions[0].read_text())) == 24


def test_missing_benchmark_set_fails_loudly(campaign: Campaign, tmp_path: Path) -> None:
    campaign.layout.benchmark_file(toy.BENCHMARK).unlink()
    run = run_worker("fteval", campaign.request(StepKind.BASELINE), tmp_path, EVAL_ENV)
    assert run.returncode == 1
    assert run.result.failure is FailureKind.ENVIRONMENT
    assert "eval.jsonl" in run.result.message


def test_broken_model_fails_loudly(campaign: Campaign, tmp_path: Path) -> None:
    (campaign.layout.base_model_dir("tiny-qwen2") / "model.safetensors").unlink()
    run = run_worker("fteval", campaign.request(StepKind.BASELINE), tmp_path, EVAL_ENV)
    assert run.returncode == 1
    assert run.result.failure is FailureKind.ENVIRONMENT
    assert "no file named" in run.result.message and "model.safetensors" in run.result.message
    assert not campaign.layout.eval_file(None, "validation").exists()


def test_eval_of_an_untrained_iteration_fails(campaign: Campaign, tmp_path: Path) -> None:
    run = run_worker("fteval", campaign.request(StepKind.EVAL, 3), tmp_path, EVAL_ENV)
    assert run.returncode == 1
    assert run.result.failure is FailureKind.INTERNAL
    assert "no training result" in run.result.message
