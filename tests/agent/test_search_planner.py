"""The search planner: sound defaults, a reproducible search that never repeats, repairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftagent.context import AgentContext
from ftagent.pipeline import run_step
from ftagent.planners.base import signature_of
from ftagent.planners.search import SearchPlanner, loss_hint
from ftapi.campaign import TrainingMethod
from ftapi.plan import Plan
from ftapi.results import FailureKind, TrainingResult
from ftapi.workspace import CampaignLayout

from .workspace import layout_of, make_request, read_plan, record_iteration, write


def propose(request):
    return SearchPlanner().propose(AgentContext.from_request(request))


def test_first_iteration_is_a_sound_default(tmp_path: Path) -> None:
    request = make_request(tmp_path, "aime25", spec={"budget": {"upperDataSizeLimit": 12}})
    proposal = propose(request)
    assert proposal.method is TrainingMethod.LORA
    assert proposal.training_config["learning_rate"] == 2e-4  # small (0.5B) model
    assert proposal.training_config["lora_rank"] == 16
    assert proposal.training_config["num_train_epochs"] == 3.0
    assert proposal.sample_size == 12
    assert "sound default" in proposal.hypothesis


def test_defaults_follow_model_size_and_allowed_methods(tmp_path: Path) -> None:
    request = make_request(
        tmp_path,
        "aime25",
        spec={
            "baseModel": "Qwen/Qwen2.5-32B-Instruct",
            "training": {"gpus": 0, "allowedMethods": ["full"]},
        },
    )
    proposal = propose(request)
    assert proposal.method is TrainingMethod.FULL
    assert proposal.training_config["learning_rate"] == 2e-6
    assert "lora_rank" not in proposal.training_config
    assert "bf16" not in proposal.training_config  # no GPU


def _run_campaign(root: Path, iterations: int, scores: list[float]) -> list[Plan]:
    plans = []
    for iteration in range(iterations):
        request = make_request(root, "aime25", iteration=iteration)
        result = run_step(request)
        assert result.ok
        plan = read_plan(request)
        plans.append(plan)
        losses = [2.0, 1.5, 1.2, 1.0, 0.8, 0.6] if iteration == 0 else [2.0, 1.0, 0.9, 0.9]
        record_iteration(layout_of(request), plan, score=scores[iteration], losses=losses)
    return plans


def test_search_never_repeats_and_is_reproducible(tmp_path: Path) -> None:
    scores = [10.0, 20.0, 15.0, 25.0, 5.0, 30.0, 12.0, 8.0]
    first = _run_campaign(tmp_path / "a", len(scores), scores)
    second = _run_campaign(tmp_path / "b", len(scores), scores)
    signatures = [signature_of(plan) for plan in first]
    assert len(set(signatures)) == len(signatures)
    strip = {"dataset_dir"}
    assert [{k: v for k, v in p.training_config.items() if k not in strip} for p in first] == [
        {k: v for k, v in p.training_config.items() if k not in strip} for p in second
    ]
    assert [p.recipe.sample_size for p in first] == [p.recipe.sample_size for p in second]


def test_search_moves_around_the_best_iteration(tmp_path: Path) -> None:
    plans = _run_campaign(tmp_path, 2, [10.0, 0.0])
    # iteration 0's loss was still falling: more epochs or a higher rate comes first.
    first_move = plans[1].training_config
    assert first_move["num_train_epochs"] == 5.0 or first_move["learning_rate"] > 2e-4, first_move
    request = make_request(tmp_path, "aime25", iteration=2)
    proposal = propose(request)
    assert "best iteration so far (0, validation 10)" in proposal.hypothesis


def test_loss_hints() -> None:
    def result(losses: list[float]) -> TrainingResult:
        return TrainingResult(
            mode="full",
            ok=True,
            loss_history=[{"step": i, "loss": loss} for i, loss in enumerate(losses)],
        )

    assert loss_hint(result([2.0, 1.5, 1.2, 1.0, 0.8, 0.6])) == "underfit"
    assert loss_hint(result([2.0, 1.0, 2.5, 3.0])) == "unstable"
    assert loss_hint(result([2.0, 1.0, float("nan"), 1.0])) == "unstable"
    assert loss_hint(result([2.0, 1.0, 0.9, 0.9, 0.9, 0.9])) is None
    assert loss_hint(None) is None


def _failed_round(root: Path, failure: FailureKind, message: str):
    request = make_request(root, "aime25")
    assert run_step(request).ok
    layout: CampaignLayout = layout_of(request)
    write(
        layout.smoke_dir(0, 0) / "result.json",
        TrainingResult(mode="smoke", ok=False, failure=failure, message=message),
    )
    repair = make_request(root, "aime25", repair_round=1)
    assert run_step(repair).ok
    return read_plan(request), read_plan(repair)


def test_repair_after_out_of_memory_shrinks_the_batch(tmp_path: Path) -> None:
    failed, repaired = _failed_round(tmp_path, FailureKind.OOM, "CUDA out of memory")
    assert repaired.repair_round == 1
    assert repaired.training_config["per_device_train_batch_size"] == 2
    assert repaired.training_config["gradient_accumulation_steps"] == 8
    assert signature_of(repaired) != signature_of(failed)
    assert "oom" in repaired.hypothesis and "CUDA out of memory" in repaired.reason


def test_repair_after_config_error_goes_back_to_defaults(tmp_path: Path) -> None:
    failed, repaired = _failed_round(tmp_path, FailureKind.CONFIG, "bad value")
    assert signature_of(repaired) != signature_of(failed)
    assert repaired.training_config["learning_rate"] < failed.training_config["learning_rate"]


@pytest.mark.parametrize("failure", [FailureKind.DATA, FailureKind.TIMEOUT])
def test_repair_never_repeats_the_failed_plan(tmp_path: Path, failure: FailureKind) -> None:
    failed, repaired = _failed_round(tmp_path, failure, "broken")
    assert signature_of(repaired) != signature_of(failed)
    assert repaired.recipe.seed != failed.recipe.seed


def test_exhausted_grid_moves_to_fresh_samples_without_repeating(tmp_path: Path) -> None:
    from ftapi.campaign import PlannerType
    from ftapi.plan import DataRecipe

    spec = {"budget": {"upperDataSizeLimit": 1}, "training": {"allowedMethods": ["lora"]}}
    make_request(tmp_path, "aime25", spec=spec)  # writes the raw data once
    seen = set()
    grid_size = 5 * 4 * 4  # learning rates x epochs x LoRA ranks; one data size, one method
    for iteration in range(grid_size + 3):
        request = make_request(tmp_path, "aime25", iteration=iteration, spec=spec, write_data=False)
        proposal = propose(request)
        plan = Plan(
            iteration=iteration,
            planner=PlannerType.SEARCH,
            hypothesis=proposal.hypothesis,
            method=proposal.method,
            recipe=DataRecipe(
                datasets=["deepscaler"], sample_size=proposal.sample_size, seed=proposal.data_seed
            ),
            training_config=proposal.training_config,
        )
        signature = signature_of(plan)
        assert signature not in seen, f"iteration {iteration} repeats an earlier plan"
        seen.add(signature)
        record_iteration(layout_of(request), plan, score=50.0 if iteration == 0 else None)
        if iteration >= grid_size:
            assert "fresh data sample" in proposal.hypothesis


def test_parallel_candidates_of_a_round_differ_without_seeing_each_other(tmp_path: Path) -> None:
    """Candidates k = 0..3 of round 0 are planned at once; each takes a different untried
    configuration, whatever the siblings have already written."""
    signatures = []
    for k in range(4):
        request = make_request(tmp_path, "aime25", iteration=k).model_copy(
            update={"round": 0, "candidate": k, "candidates": 4}
        )
        result = run_step(request)  # writes its plan: a later sibling must not be swayed by it
        assert result.ok
        signatures.append(signature_of(read_plan(request)))
    assert len(set(signatures)) == 4
    # Planned again in another order, each candidate proposes the same configuration.
    again = make_request(tmp_path, "aime25", iteration=2).model_copy(
        update={"round": 0, "candidate": 2, "candidates": 4}
    )
    replanned = propose(again).training_config
    written = read_plan(again).training_config
    for key in ("learning_rate", "num_train_epochs", "lora_rank"):
        assert replanned.get(key) == written.get(key)


def test_qlora_is_chosen_where_lora_would_not_fit_and_never_on_cpu() -> None:
    from ftagent.model_info import ModelInfo, size_class
    from ftagent.planners import defaults
    from ftapi.campaign import TrainingMethod as M

    def model(params_b: float) -> ModelInfo:
        return ModelInfo(
            name=f"org/m-{params_b}b",
            path=None,
            params_b=params_b,
            params_source="name",
            size=size_class(params_b),
            template="qwen",
            model_type="qwen2",
            context_length=32768,
            context_source="config",
        )

    allowed = [M.LORA, M.QLORA, M.FULL]
    assert defaults.default_method(allowed, model(7), gpus=1) is M.LORA
    assert defaults.default_method(allowed, model(72), gpus=1) is M.QLORA  # 144 GB in bf16
    assert defaults.default_method(allowed, model(72), gpus=4) is M.LORA  # fits on four
    assert defaults.default_method(allowed, model(72), gpus=0) is M.LORA  # no QLoRA on CPU
    assert defaults.default_method([M.LORA, M.FULL], model(72), gpus=1) is M.LORA  # not allowed
    assert (
        defaults.training_config(
            M.QLORA, model(72), gpus=1, learning_rate=1e-4, epochs=1, lora_rank=None
        )["finetuning_type"]
        == "lora"
    )
