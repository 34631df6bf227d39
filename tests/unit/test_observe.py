"""Reading a step's outcome from its Job and Pod (ftoperator.observe)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ftapi.results import FailureKind, StepResult
from ftoperator.lifecycle import JobState
from ftoperator.observe import observe, summarize_job, summarize_pod

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def job(conditions=(), active=0, suspend=False, step="train"):
    return summarize_job(
        {
            "metadata": {"name": "c-train-0-0", "labels": {"ftagent.dev/step": step}},
            "spec": {
                "suspend": suspend,
                "template": {
                    "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 2}}}]}
                },
            },
            "status": {
                "active": active,
                "startTime": "2026-11-24T11:00:00Z",
                "conditions": [
                    {
                        "type": t,
                        "status": "True",
                        "reason": r,
                        "lastTransitionTime": "2026-11-24T11:30:00Z",
                    }
                    for t, r in conditions
                ],
            },
        }
    )


def pod(phase="Succeeded", terminated=None, reason=None, waiting=None):
    state = (
        {"terminated": terminated}
        if terminated
        else ({"waiting": {"reason": waiting}} if waiting else {"running": {}})
    )
    return summarize_pod(
        {
            "metadata": {"name": "c-train-0-0-abcde", "labels": {"job-name": "c-train-0-0"}},
            "status": {"phase": phase, "reason": reason, "containerStatuses": [{"state": state}]},
        }
    )


def ok_message(**fields):
    return StepResult(step="train", ok=True, train_loss=0.5, **fields).dump_message()


def test_running_and_pending():
    assert observe(job(active=1), [], NOW).state is JobState.RUNNING
    assert observe(job(), [], NOW).state is JobState.PENDING
    assert observe(job(suspend=True), [], NOW).state is JobState.SUSPENDED


def test_success_carries_the_parsed_result_and_timing():
    seen = observe(
        job([("Complete", None)]),
        [pod(terminated={"exitCode": 0, "reason": "Completed", "message": ok_message()})],
        NOW,
    )
    assert seen.state is JobState.SUCCEEDED
    assert seen.result.train_loss == 0.5
    assert seen.gpus == 2 and seen.finished_at - seen.started_at == timedelta(minutes=30)


def test_reported_failure_keeps_its_kind():
    message = StepResult(
        step="train", ok=False, failure="config", message="unknown key"
    ).dump_message()
    seen = observe(
        job([("Failed", "BackoffLimitExceeded")]),
        [pod("Failed", {"exitCode": 1, "reason": "Error", "message": message})],
        NOW,
    )
    assert seen.state is JobState.FAILED and seen.result.failure is FailureKind.CONFIG


def test_eviction_is_an_infrastructure_failure():
    seen = observe(
        job([("Failed", "BackoffLimitExceeded")]), [pod("Failed", reason="Evicted")], NOW
    )
    assert seen.failure is FailureKind.INFRASTRUCTURE and "evicted" in seen.message


def test_vanished_pod_is_an_infrastructure_failure():
    seen = observe(job([("Failed", "BackoffLimitExceeded")]), [], NOW)
    assert seen.failure is FailureKind.INFRASTRUCTURE


def test_deadline_is_a_timeout():
    seen = observe(job([("Failed", "DeadlineExceeded")]), [], NOW)
    assert seen.failure is FailureKind.TIMEOUT


def test_oom_killed():
    seen = observe(
        job([("Failed", "BackoffLimitExceeded")]),
        [pod("Failed", {"exitCode": 137, "reason": "OOMKilled"})],
        NOW,
    )
    assert seen.failure is FailureKind.OOM


def test_crash_without_a_result_is_internal_with_the_exit_code():
    seen = observe(
        job([("Failed", "BackoffLimitExceeded")]),
        [pod("Failed", {"exitCode": 2, "reason": "Error"})],
        NOW,
    )
    assert seen.failure is FailureKind.INTERNAL and "exit code 2" in seen.message


def test_malformed_result_fails_the_step_clearly():
    seen = observe(
        job([("Complete", None)]),
        [
            pod(
                terminated={
                    "exitCode": 0,
                    "reason": "Completed",
                    "message": '{"v": 1, "step": "train"}',
                }
            )
        ],
        NOW,
    )
    assert seen.state is JobState.FAILED and seen.failure is FailureKind.INTERNAL
    assert "malformed result" in seen.message and "ok" in seen.message


def test_complete_job_waits_for_its_pod_then_gives_up():
    early = observe(job([("Complete", None)]), [], datetime(2026, 11, 24, 11, 30, 5, tzinfo=UTC))
    assert early.state is JobState.RUNNING
    late = observe(job([("Complete", None)]), [], NOW)
    assert late.state is JobState.FAILED and "no pod reported" in late.message


def test_missing_secret_fails_fast_as_environment():
    seen = observe(job(), [pod("Pending", waiting="CreateContainerConfigError")], NOW)
    assert seen.state is JobState.FAILED and seen.failure is FailureKind.ENVIRONMENT


def test_reconciler_reads_a_pod_only_for_a_finished_job_without_one():
    from ftoperator.reconcile import Reconciler

    finished = job([("Complete", None)])
    assert Reconciler.awaits_pod(finished, [])
    done_pod = pod(terminated={"exitCode": 0, "reason": "Completed", "message": ok_message()})
    assert not Reconciler.awaits_pod(finished, [done_pod])
    assert not Reconciler.awaits_pod(job(active=1), [])
    assert not Reconciler.awaits_pod(
        job([("Failed", "BackoffLimitExceeded")]), [pod("Failed", reason="Evicted")]
    )


def test_an_agent_pods_result_is_its_agent_containers_not_its_script_containers():
    pod = {
        "metadata": {"name": "p", "labels": {}},
        "spec": {"containers": [{"name": "agent"}, {"name": "scripts"}]},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "agent", "state": {"terminated": {"exitCode": 0, "message": "RESULT"}}},
                {"name": "scripts", "state": {"terminated": {"exitCode": 0, "message": "logs"}}},
            ],
        },
    }
    assert summarize_pod(pod)["terminated"]["message"] == "RESULT"
    pod["status"]["containerStatuses"].reverse()
    assert summarize_pod(pod)["terminated"]["message"] == "RESULT"
