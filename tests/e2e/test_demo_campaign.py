"""The README's first command end to end: ``ftctl run`` on the demo campaign (tiny local model,
toy benchmark) with the real agent, real LLaMA-Factory training and real OpenCompass
evaluation on CPU — killed in the middle of training and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftapi.campaign import FineTuneCampaign, IterationPhase, Phase
from ftapi.results import EvaluationResult, TrainingResult
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.demo import build_demo_assets, write_demo_manifest
from ftoperator.local import job_records

pytestmark = pytest.mark.e2e


def ftctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "ftoperator.cli", *args]


def load_state(state: Path) -> FineTuneCampaign | None:
    path = state / "campaign.json"
    if not path.exists():
        return None
    return FineTuneCampaign.model_validate_json(path.read_text())


def test_demo_campaign_end_to_end_with_a_kill_and_resume(tmp_path: Path) -> None:
    cache, workdir = tmp_path / "cache", tmp_path / "work"
    build_demo_assets(cache)
    workdir.mkdir()
    manifest = write_demo_manifest(workdir / "demo.yaml", iterations=2)
    state = workdir / "runs" / "demo"
    command = ftctl(
        "run", str(manifest), "--cache", str(cache), "--workdir", str(workdir), "--quiet"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # First run: killed while iteration 0 trains.
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        campaign = load_state(state)
        if campaign and any(
            it.phase is IterationPhase.TRAINING and it.job for it in campaign.status.iterations
        ):
            break
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        time.sleep(0.5)
    else:
        raise AssertionError("iteration 0 never reached training")
    time.sleep(2)  # let the training process get going
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 130
    interrupted = {r["name"]: r for r in job_records(state)}
    assert interrupted["demo-train-0-0"]["exit_code"] is None
    finished_before = {
        name: (state / "jobs" / name / "started").read_text()
        for name, r in interrupted.items()
        if r["exit_code"] is not None
    }
    assert "demo-baseline-0" in finished_before and "demo-smoke-0-r0-0" in finished_before

    # Second run: the same command resumes and finishes.
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
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
