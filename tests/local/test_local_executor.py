"""``ftctl run``'s local executor driving the real lifecycle with stand-in workers: a whole
campaign, a failure path, and a run killed mid-way that resumes without redoing steps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ftapi.campaign import FineTuneCampaign, IterationPhase, Phase
from ftapi.steps import StepRequest
from ftoperator.local import LocalPaths, LocalRun, job_records

HARNESS = Path(__file__).resolve().parents[1] / "harness" / "standin.py"


def campaign(iterations: int = 2) -> FineTuneCampaign:
    return FineTuneCampaign.model_validate(
        {
            "apiVersion": "ftagent.dev/v1alpha1",
            "kind": "FineTuneCampaign",
            "metadata": {"name": "local-demo"},
            "spec": {
                "baseModel": "tiny-qwen",
                "benchmark": "aime25",
                "budget": {"maxIterations": iterations},
            },
        }
    )


def make_run(tmp_path: Path, scenario: dict, iterations: int = 2) -> LocalRun:
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(scenario))
    paths = LocalPaths(
        cache=tmp_path / "cache", workspace=tmp_path / "ws", state=tmp_path / "state"
    )

    def command(request: StepRequest) -> list[str]:
        return [sys.executable, str(HARNESS)]

    run = LocalRun.resume_or_start(
        campaign(iterations), paths, command_for=command, poll_seconds=0.05
    )
    run.extra_env = {"FT_TEST_SCENARIO": str(scenario_file)}
    return run


def test_whole_campaign_with_stand_in_workers(tmp_path):
    final = make_run(tmp_path, {}).run()
    assert final.status.phase is Phase.SUCCEEDED
    assert final.status.best.iteration == 1 and final.status.best.test == 21.0
    names = [r["name"] for r in job_records(tmp_path / "state")]
    assert sorted(names) == sorted(
        [
            "local-demo-prepare-0",
            "local-demo-baseline-0",
            "local-demo-agent-0-r0-0",
            "local-demo-smoke-0-r0-0",
            "local-demo-train-0-0",
            "local-demo-eval-0-0",
            "local-demo-agent-1-r0-0",
            "local-demo-smoke-1-r0-0",
            "local-demo-train-1-0",
            "local-demo-eval-1-0",
            "local-demo-final-1-0",
        ]
    )
    saved = FineTuneCampaign.model_validate_json((tmp_path / "state" / "campaign.json").read_text())
    assert saved.status == final.status


def test_a_crashing_worker_fails_its_iteration_with_a_clear_message(tmp_path):
    run = make_run(tmp_path, {"*": {"exit": 3}}, iterations=1)
    # every step crashes: prepare fails permanently and the campaign says why
    final = run.run()
    assert final.status.phase is Phase.FAILED
    assert "exit code 3" in final.status.message


def test_killed_run_resumes_without_repeating_finished_steps(tmp_path):
    slow = {"*-train-0-*": {"sleep": 30}}
    run = make_run(tmp_path, slow)
    stopped = run.run(
        until=lambda c: any(it.phase is IterationPhase.TRAINING for it in c.status.iterations)
    )
    assert stopped.status.phase is Phase.RUNNING
    before = {r["name"]: r["exit_code"] for r in job_records(tmp_path / "state")}
    assert before["local-demo-train-0-0"] is None  # killed while running

    (tmp_path / "scenario.json").write_text("{}")
    resumed = make_run(tmp_path, {})
    final = resumed.run()
    assert final.status.phase is Phase.SUCCEEDED
    after = job_records(tmp_path / "state")
    names = [r["name"] for r in after]
    assert names.count("local-demo-prepare-0") == 1
    assert "local-demo-train-0-1" in names  # the interrupted step, retried
    for name, code in before.items():
        if code is not None:  # finished before the kill: not run again
            again = next(r for r in after if r["name"] == name)
            assert again["exit_code"] == code
    assert final.status.iterations[0].phase is IterationPhase.SUCCEEDED


def test_a_failed_run_retries_only_its_failed_step_when_asked(tmp_path):
    """The final test evaluation fails (an OOM, a full disk); `ftctl run --retry-failed`
    retries it alone, keeping the caches, the baseline and every iteration."""
    failing = {"local-demo-final-1-0": {"exit": 3}}
    failed = make_run(tmp_path, failing).run()
    assert failed.status.phase is Phase.FAILED
    assert failed.status.failed_phase is Phase.FINALIZING
    before = {r["name"] for r in job_records(tmp_path / "state")}
    again = make_run(tmp_path, failing).run()  # without the flag: stays Failed, runs nothing
    assert again.status.phase is Phase.FAILED
    assert {r["name"] for r in job_records(tmp_path / "state")} == before

    run = make_run(tmp_path, failing)
    resumed = LocalRun.resume_or_start(run.campaign, run.paths, retry_failed=True)
    resumed.command_for, resumed.poll_seconds = run.command_for, run.poll_seconds
    resumed.extra_env = run.extra_env
    final = resumed.run()
    assert final.status.phase is Phase.SUCCEEDED and final.status.resumes == 1
    assert final.status.best.iteration == 1 and final.status.best.test == 21.0
    after = {r["name"] for r in job_records(tmp_path / "state")}
    assert after - before == {"local-demo-final-1-x1-0"}  # nothing finished is redone
