"""The README's demo campaign as the end-to-end tests run it: ``ftctl run`` on the demo
manifest (2 iterations), killed while iteration 0 trains, then resumed by the same command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ftapi.campaign import FineTuneCampaign, IterationPhase
from ftoperator.demo import build_demo_assets, write_demo_manifest
from ftoperator.local import job_records


def ftctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "ftoperator.cli", *args]


def load_state(state: Path) -> FineTuneCampaign | None:
    path = state / "campaign.json"
    if not path.exists():
        return None
    return FineTuneCampaign.model_validate_json(path.read_text())


@dataclass(frozen=True)
class DemoRun:
    cache: Path
    workdir: Path
    state: Path
    interrupted: dict[str, dict]
    """The job records when the first run was killed."""
    finished_before: dict[str, str]
    """Steps finished before the kill: their start stamps."""
    output: str
    """What the resuming run printed."""


def run_demo_with_a_kill(root: Path) -> DemoRun:
    cache, workdir = root / "cache", root / "work"
    build_demo_assets(cache)
    workdir.mkdir()
    manifest = write_demo_manifest(workdir / "demo.yaml", iterations=2)
    state = workdir / "runs" / "demo"
    command = ftctl(
        "run", str(manifest), "--cache", str(cache), "--workdir", str(workdir), "--quiet"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # First run: killed while iteration 0 trains.
    log = (root / "first.log").open("w")
    first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        campaign = load_state(state)
        if campaign and any(
            it.phase is IterationPhase.TRAINING and it.job for it in campaign.status.iterations
        ):
            break
        assert first.poll() is None, (root / "first.log").read_text()
        time.sleep(0.5)
    else:
        raise AssertionError("iteration 0 never reached training")
    time.sleep(2)  # let the training process get going
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 130
    interrupted = {r["name"]: r for r in job_records(state)}
    finished_before = {
        name: (state / "jobs" / name / "started").read_text()
        for name, r in interrupted.items()
        if r["exit_code"] is not None
    }

    # Second run: the same command resumes and finishes.
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return DemoRun(cache, workdir, state, interrupted, finished_before, second.stdout)
