"""The FineTuneCampaign models and the worker contracts, without a cluster."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ftapi.base import parse_duration
from ftapi.campaign import FineTuneCampaign, FineTuneCampaignSpec
from ftapi.errors import format_validation_error
from ftapi.results import TERMINATION_MESSAGE_LIMIT, ResultError, StepResult
from ftapi.steps import StepKind, StepRequest
from ftapi.workspace import CampaignLayout


def spec(**overrides):
    return FineTuneCampaignSpec.model_validate(
        {"baseModel": "Qwen/Qwen2.5-7B-Instruct", "benchmark": "aime25", **overrides}
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("90m", 5400), ("12h", 43200), ("2d", 172800), ("1h30m", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["12 hours", "h", "1.5h", "-1h", "", "10"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_defaults_and_camel_case_wire_format():
    s = spec()
    assert s.budget.max_iterations == 3
    assert s.resolved_datasets() == ["deepscaler"]
    assert "\\boxed" in s.resolved_description()
    wire = s.model_dump(mode="json", exclude_none=True)
    assert wire["budget"]["maxIterations"] == 3
    assert wire["storage"]["modelCache"] == {"claimName": "ft-model-cache"}


def _errors(**overrides) -> str:
    with pytest.raises(ValidationError) as info:
        spec(**overrides)
    return format_validation_error(info.value)


def test_unknown_benchmark_names_closest_keys():
    message = _errors(benchmark="aime2025")
    assert message.startswith("benchmark:")
    assert "aime25" in message


def test_llm_planner_needs_models():
    assert "strongModels" in _errors(planner={"type": "llm"})


def test_errors_name_nested_fields():
    message = _errors(budget={"maxIterations": 0, "timeout": "soon"})
    assert "budget.maxIterations" in message
    assert "budget.timeout" in message


def test_unknown_spec_fields_are_rejected():
    assert "budgett" in _errors(budgett={})


def test_zero_timeout_rejected():
    assert "longer than zero" in _errors(budget={"timeout": "0h"})


def test_quantities():
    ok = spec(training={"resources": {"limits": {"memory": "64Gi", "cpu": 8}}})
    assert ok.training.resources.limits == {"memory": "64Gi", "cpu": 8}
    assert "resources.limits" in _errors(training={"resources": {"limits": {"cpu": "lots"}}})


def test_campaign_from_body_ignores_server_metadata():
    body = {
        "apiVersion": "ftagent.dev/v1alpha1",
        "kind": "FineTuneCampaign",
        "metadata": {"name": "c", "namespace": "ns", "generation": 2, "managedFields": []},
        "spec": {"baseModel": "m/x", "benchmark": "aime24"},
        "status": {"phase": "Running", "kopf": {"progress": {}}},
    }
    campaign = FineTuneCampaign.from_body(body)
    assert campaign.metadata.generation == 2
    assert campaign.status.phase == "Running"


def test_termination_message_round_trip_and_bounds():
    result = StepResult(step=StepKind.EVAL, ok=True, scores={"validation": 40.0}, metric="accuracy")
    assert StepResult.parse_message(result.dump_message(), StepKind.EVAL) == result
    huge = StepResult(
        step=StepKind.SMOKE, ok=False, failure="oom", message="x" * 2048, hypothesis="h" * 600
    )
    text = huge.dump_message()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    assert StepResult.parse_message(text).failure == "oom"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no termination message"),
        ("not json", "not JSON"),
        ('{"v": 1, "step": "eval"}', "ok"),
        ('{"v": 2, "step": "eval", "ok": true}', "v"),
        ('{"v": 1, "step": "eval", "ok": false}', "must say why"),
        ('{"v": 1, "step": "train", "ok": true}', "not eval"),
        ("x" * 5000, "over 4096"),
    ],
)
def test_malformed_termination_messages(text, fragment):
    with pytest.raises(ResultError, match=fragment):
        StepResult.parse_message(text, StepKind.EVAL)


def test_step_request_round_trips_through_env_json():
    request = StepRequest(
        step=StepKind.AGENT, namespace="ns", campaign="c", iteration=2, spec=spec()
    )
    again = StepRequest.model_validate(json.loads(request.model_dump_json()))
    assert again == request


def test_workspace_layout():
    request = StepRequest(
        step=StepKind.TRAIN, namespace="ns", campaign="c", iteration=2, spec=spec()
    )
    layout = CampaignLayout(request.paths, "ns", "c")
    assert str(layout.plan_file(2, 1)) == "/workspace/ns/c/iter-002/round-1/plan.json"
    assert str(layout.base_model_dir("Qwen/Qwen2.5-7B")) == "/cache/models/Qwen--Qwen2.5-7B"
    assert str(layout.eval_file(None, "test")) == "/workspace/ns/c/baseline/eval/test.json"
    assert str(layout.eval_file(3, "test", final=True)) == "/workspace/ns/c/final/eval/test.json"
