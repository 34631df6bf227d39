"""Builders for the agent tests: step requests over temporary volumes, and history files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftapi.campaign import FineTuneCampaignSpec
from ftapi.plan import Plan
from ftapi.results import EvaluationResult, TrainingResult
from ftapi.steps import MountPaths, StepKind, StepRequest
from ftapi.workspace import CampaignLayout

from .rawdata_fixtures import WRITERS, write_benchmark

NAMESPACE = "team-a"
CAMPAIGN = "demo"


def mounts(root: Path) -> MountPaths:
    return MountPaths(
        models=str(root / "models"), datasets=str(root / "datasets"), workspace=str(root / "ws")
    )


def make_request(
    root: Path,
    benchmark: str,
    *,
    iteration: int = 0,
    repair_round: int = 0,
    spec: dict[str, Any] | None = None,
    write_data: bool = True,
) -> StepRequest:
    """A real agent step request; the raw datasets and the benchmark set are written too."""
    body: dict[str, Any] = {
        "baseModel": "Qwen/Qwen2.5-0.5B-Instruct",
        "benchmark": benchmark,
        "budget": {"upperDataSizeLimit": 12},
        "training": {"gpus": 1},
    }
    body.update(spec or {})
    request = StepRequest(
        step=StepKind.AGENT,
        namespace=NAMESPACE,
        campaign=CAMPAIGN,
        iteration=iteration,
        repair_round=repair_round,
        spec=FineTuneCampaignSpec.model_validate(body),
        paths=mounts(root),
    )
    if write_data:
        layout = layout_of(request)
        leaks = [
            WRITERS[key](layout.raw_dataset_dir(key)) for key in request.spec.resolved_datasets()
        ]
        if not layout.benchmark_file(benchmark).exists():
            evaluation = request.spec.evaluation
            limits = (evaluation.validation_limit, evaluation.test_limit)
            write_benchmark(layout, benchmark, leaks, limits)
    return request


def layout_of(request: StepRequest) -> CampaignLayout:
    return CampaignLayout(request.paths, request.namespace, request.campaign)


def write(path: Path, model: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model.model_dump_json(), encoding="utf-8")


def read_plan(request: StepRequest) -> Plan:
    layout = layout_of(request)
    assert request.iteration is not None
    return Plan.model_validate_json(
        layout.plan_file(request.iteration, request.repair_round).read_text()
    )


def read_train_json(request: StepRequest) -> list[dict[str, str]]:
    layout = layout_of(request)
    assert request.iteration is not None
    data_dir = layout.data_dir(request.iteration, request.repair_round)
    return json.loads((data_dir / "train.json").read_text(encoding="utf-8"))


def record_iteration(
    layout: CampaignLayout,
    plan: Plan,
    *,
    score: float | None,
    losses: list[float] | None = None,
    benchmark: str = "aime25",
) -> None:
    """Write an earlier iteration's plan, training result and validation score."""
    write(layout.plan_file(plan.iteration, plan.repair_round), plan)
    history = [{"step": 10 * (i + 1), "loss": loss} for i, loss in enumerate(losses or [])]
    write(
        layout.train_dir(plan.iteration) / "result.json",
        TrainingResult(
            mode="full",
            ok=True,
            loss_history=history,
            final_loss=(losses or [None])[-1],
            steps=len(history) * 10,
        ),
    )
    if score is not None:
        write(
            layout.eval_file(plan.iteration, "validation"),
            EvaluationResult(
                split="validation",
                benchmark=benchmark,
                metric="accuracy",
                score=score,
                n_items=15,
                model="m",
                wrong_answers=[
                    {"index": 1, "prompt": "What is 2+2?", "expected": "4", "predicted": "5"}
                ],
            ),
        )
