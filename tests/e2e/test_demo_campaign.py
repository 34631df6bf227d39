"""The README's first command end to end: ``ftctl run`` on the demo campaign (tiny local model,
toy benchmark) with the real agent, real LLaMA-Factory training and real OpenCompass
evaluation on CPU — killed in the middle of training and resumed."""

from __future__ import annotations

import pytest

from ftapi.campaign import IterationPhase, Phase
from ftapi.results import EvaluationResult, TrainingResult
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.local import job_records
from harness.demo_run import DemoRun, load_state

pytestmark = pytest.mark.e2e


def test_demo_campaign_end_to_end_with_a_kill_and_resume(demo_run: DemoRun) -> None:
    cache, workdir, state = demo_run.cache, demo_run.workdir, demo_run.state
    interrupted, finished_before = demo_run.interrupted, demo_run.finished_before
    assert interrupted["demo-train-0-0"]["exit_code"] is None
    assert "demo-baseline-0" in finished_before and "demo-smoke-0-r0-0" in finished_before
    assert "ftctl ui" in demo_run.output  # the run ends with the dashboard hint

    final = load_state(state)
    assert final is not None
    status = final.status
    assert status.phase is Phase.SUCCEEDED

    # At least two iterations completed, with their artifacts on disk.
    done = [it for it in status.iterations if it.phase is IterationPhase.SUCCEEDED]
    assert len(done) >= 2
    layout = CampaignLayout(
        MountPaths(
            models=str(cache / "models"),
            datasets=str(cache / "datasets"),
            workspace=str(workdir / "workspace"),
        ),
        "local",
        "demo",
    )
    for it in done:
        assert layout.plan_file(it.index, it.repair_rounds).exists()
        train = TrainingResult.model_validate_json(
            (layout.train_dir(it.index) / "result.json").read_text()
        )
        assert train.ok and train.loss_history
        evaluation = EvaluationResult.model_validate_json(
            layout.eval_file(it.index, "validation").read_text()
        )
        assert evaluation.score == it.validation and evaluation.n_items == 20

    # The best beats the baseline on validation; the test split was scored once, on the best.
    assert status.best.iteration is not None
    assert status.best.validation > status.baseline.validation
    records = job_records(state)
    finals = [r for r in records if r["request"]["step"] == "final" and r["exit_code"] == 0]
    assert len(finals) == 1 and finals[0]["request"]["iteration"] == status.best.iteration
    assert not any(
        "test" in r["request"].get("splits", [])
        for r in records
        if r["request"]["step"] in ("eval",)
    )
    test_files = list((workdir / "workspace").rglob("test.json"))
    assert sorted(p.parent.parent.name for p in test_files) == ["baseline", "final"]

    # Resumed without repeating finished steps: each ran once, the interrupted one was retried.
    names = [r["name"] for r in records]
    assert len(names) == len(set(names))
    for name, started in finished_before.items():
        assert (state / "jobs" / name / "started").read_text() == started
    assert "demo-train-0-1" in names

    # The report.
    report = (state / "report.md").read_text()
    assert "| 0 |" in report and "| 1 |" in report and (state / "report.png").stat().st_size > 0
