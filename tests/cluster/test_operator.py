"""The operator on the real kube-apiserver: the real kopf operator process, Kubernetes' own Job
controller, and the test kubelet running each Job's pod as a stand-in worker process
(``harness/standin.py``, scripted per test)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from ftapi import API_GROUP, API_VERSION, PLURAL
from harness.cluster import LocalCluster
from harness.kubelet import TestKubelet
from harness.operator import OperatorProcess, operator_world, standin_runner

pytestmark = pytest.mark.cluster

NAME = "demo"


@dataclass
class World:
    cluster: LocalCluster
    namespace: str
    kubelet: TestKubelet
    operator: OperatorProcess
    scenario: Path
    api: client.ApiClient

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    def script(self, scenario: dict[str, Any]) -> None:
        self.scenario.write_text(json.dumps(scenario))

    def create(self, **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "FineTuneCampaign",
            "metadata": {"name": NAME},
            "spec": {
                "baseModel": "Qwen/Qwen2.5-0.5B-Instruct",
                "benchmark": "aime25",
                "budget": {"maxIterations": 2, "maxRepairRounds": 2},
                **spec,
            },
        }
        return self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, body
        )

    def get(self) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, NAME
        )

    def patch_spec(self, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, NAME, {"spec": spec}
        )

    def status(self) -> dict[str, Any]:
        return self.get().get("status") or {}

    def jobs(self) -> list[str]:
        return sorted(j.metadata.name for j in self.batch.list_namespaced_job(self.namespace).items)

    def wait(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 120,
        what: str = "condition",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.get()
            except ApiException as exc:
                if exc.status != 404:
                    raise
            if last and predicate(last):
                return last
            time.sleep(0.3)
        raise AssertionError(
            f"timed out waiting for {what}; status={json.dumps(last.get('status'), indent=1)}\n"
            f"jobs={self.jobs()}\noperator log:\n{self.operator.tail(60)}\n"
            f"kubelet errors: {self.kubelet.errors()}"
        )

    def wait_phase(self, phase: str, timeout: float = 120) -> dict[str, Any]:
        return self.wait(
            lambda c: (c.get("status") or {}).get("phase") == phase, timeout, f"phase {phase}"
        )

    def wait_job(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name in self.jobs():
                return
            time.sleep(0.2)
        raise AssertionError(
            f"Job {name} never appeared; jobs={self.jobs()}\n{self.operator.tail(40)}"
        )

    def events(self) -> list[str]:
        items = client.CoreV1Api(self.api).list_namespaced_event(self.namespace).items
        return [
            f"{e.reason}: {e.message}"
            for e in items
            if e.involved_object.kind == "FineTuneCampaign"
        ]


@pytest.fixture
def world(cluster: LocalCluster, tmp_path: Path) -> Iterator[World]:
    scenario = tmp_path / "scenario.json"
    scenario.write_text("{}")
    runner = standin_runner(scenario)
    with operator_world(cluster, tmp_path, runner, prefix="op") as (namespace, api, kubelet, op):
        yield World(cluster, namespace, kubelet, op, scenario, api)


def stable(status: dict[str, Any]) -> dict[str, Any]:
    """The parts of a status that must not depend on timing."""
    return {
        "phase": status.get("phase"),
        "baseline": status.get("baseline"),
        "best": status.get("best"),
        "iterationsStarted": status.get("iterationsStarted"),
        "iterations": [
            {
                k: it.get(k)
                for k in (
                    "index",
                    "phase",
                    "hypothesis",
                    "method",
                    "validation",
                    "accepted",
                    "trainLoss",
                    "repairRounds",
                )
            }
            for it in status.get("iterations", [])
        ],
    }


EXPECTED_JOBS = sorted(
    [
        "demo-prepare-0",
        "demo-baseline-0",
        "demo-agent-0-r0-0",
        "demo-smoke-0-r0-0",
        "demo-train-0-0",
        "demo-eval-0-0",
        "demo-agent-1-r0-0",
        "demo-smoke-1-r0-0",
        "demo-train-1-0",
        "demo-eval-1-0",
        "demo-final-1-0",
    ]
)

EXPECTED_STABLE = {
    "phase": "Succeeded",
    "baseline": {"validation": 10.0, "test": 8.0},
    "best": {"iteration": 1, "validation": 15.0, "test": 21.0},
    "iterationsStarted": 2,
    "iterations": [
        {
            "index": 0,
            "phase": "Succeeded",
            "hypothesis": "hypothesis 0.0",
            "method": "lora",
            "validation": 10.0,
            "accepted": False,
            "trainLoss": 1.0,
            "repairRounds": 0,
        },
        {
            "index": 1,
            "phase": "Succeeded",
            "hypothesis": "hypothesis 1.0",
            "method": "lora",
            "validation": 15.0,
            "accepted": True,
            "trainLoss": 0.5,
            "repairRounds": 0,
        },
    ],
}


def test_full_campaign_reaches_succeeded_with_scores(world: World):
    created = world.create()
    final = world.wait_phase("Succeeded")
    status = final["status"]
    assert stable(status) == EXPECTED_STABLE
    assert world.jobs() == EXPECTED_JOBS
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Ready"] == ("True", "Succeeded")
    assert conditions["Succeeded"][0] == "True"
    assert conditions["Reconciling"][0] == "False" and conditions["Failed"][0] == "False"
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert status["startTime"] and status["completionTime"]
    assert status["gpuSeconds"] >= 0
    assert final["spec"] == world.get()["spec"] == created["spec"]  # no spec drift
    for job in world.batch.list_namespaced_job(world.namespace).items:
        owner = job.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.controller) == ("FineTuneCampaign", NAME, True)
    events = world.events()
    assert any(e.startswith("NewBest") for e in events)
    assert any(e.startswith("PhaseSucceeded") for e in events)
    metrics = world.operator.metrics()
    assert 'ftagent_iterations_total{outcome="accepted"} 1.0' in metrics
    for step in ("prepare", "baseline", "agent", "smoke", "train", "eval", "final"):
        assert f'ftagent_step_duration_seconds_count{{step="{step}"}}' in metrics, step
    assert 'step="unknown"' not in metrics


def test_smoke_failure_goes_to_repair_and_succeeds(world: World):
    world.script(
        {
            "demo-smoke-0-r0-*": {
                "ok": False,
                "failure": "config",
                "message": "ValueError: bad lora_rank",
            }
        }
    )
    world.create(budget={"maxIterations": 1, "maxRepairRounds": 2})
    status = world.wait_phase("Succeeded")["status"]
    it = status["iterations"][0]
    assert it["phase"] == "Succeeded" and it["repairRounds"] == 1
    assert "demo-agent-0-r1-0" in world.jobs() and "demo-smoke-0-r1-0" in world.jobs()
    assert any("bad lora_rank" in e for e in world.events())


def test_repeated_smoke_failures_fail_the_iteration_only(world: World):
    world.script({"demo-smoke-0-*": {"ok": False, "failure": "data", "message": "empty output"}})
    world.create(budget={"maxIterations": 2, "maxRepairRounds": 1})
    status = world.wait_phase("Succeeded")["status"]
    first, second = status["iterations"]
    assert first["phase"] == "Failed" and first["repairRounds"] == 1
    assert "no repair rounds left" in first["message"]
    assert second["phase"] == "Succeeded" and status["best"]["iteration"] == 1


def test_failed_training_run_is_recorded(world: World):
    world.script(
        {"demo-train-0-*": {"ok": False, "failure": "oom", "message": "CUDA out of memory"}}
    )
    world.create()
    status = world.wait_phase("Succeeded")["status"]
    assert status["iterations"][0]["phase"] == "Failed"
    assert "CUDA out of memory" in status["iterations"][0]["message"]
    assert status["iterations"][1]["phase"] == "Succeeded"


def test_malformed_result_fails_the_step_clearly(world: World):
    world.script({"demo-eval-0-*": {"raw": "scores: lots"}})
    world.create(budget={"maxIterations": 1})
    status = world.wait_phase("Succeeded")["status"]
    message = status["iterations"][0]["message"]
    assert status["iterations"][0]["phase"] == "Failed"
    assert "malformed result" in message and "not JSON" in message


def test_evicted_pod_is_retried(world: World):
    world.script({"demo-train-0-0": {"sleep": 30}})
    world.create(budget={"maxIterations": 1})
    world.wait_job("demo-train-0-0")
    pod = world.kubelet.wait_for_pod(
        lambda p: (
            p["metadata"]["labels"].get("job-name") == "demo-train-0-0"
            and (p.get("status") or {}).get("phase") == "Running"
        ),
        timeout=60,
    )
    world.kubelet.evict(world.namespace, pod["metadata"]["name"])
    status = world.wait_phase("Succeeded")["status"]
    assert "demo-train-0-1" in world.jobs()
    assert status["iterations"][0]["phase"] == "Succeeded"
    assert any(e.startswith("StepRetry") and "evicted" in e for e in world.events())
    assert 'ftagent_step_retries_total{step="train"} 1.0' in world.operator.metrics()


def test_deleted_job_is_retried(world: World):
    world.script({"demo-agent-0-r0-0": {"sleep": 30}})
    world.create(budget={"maxIterations": 1})
    world.wait(
        lambda c: (
            [it.get("job") for it in (c.get("status") or {}).get("iterations", [])]
            == ["demo-agent-0-r0-0"]
        ),
        what="agent job recorded",
    )
    world.batch.delete_namespaced_job(
        "demo-agent-0-r0-0", world.namespace, propagation_policy="Background"
    )
    world.wait_phase("Succeeded")
    assert "demo-agent-0-r0-1" in world.jobs()


def test_timeout_finalizes_with_the_best_so_far(world: World):
    world.script({"demo-train-1-*": {"sleep": 300}})
    world.create(budget={"maxIterations": 5, "timeout": "25s"})
    status = world.wait_phase("Succeeded", timeout=180)["status"]
    last = status["iterations"][-1]
    assert last["phase"] == "Failed" and "timeout" in last["message"]
    world_jobs = world.jobs()
    deadline = time.monotonic() + 30
    while "demo-train-1-0" in world_jobs and time.monotonic() < deadline:
        time.sleep(0.5)
        world_jobs = world.jobs()
    assert "demo-train-1-0" not in world_jobs  # the running step was stopped
    assert status["iterationsStarted"] == 2


def test_suspend_waits_for_the_running_step_and_resumes(world: World):
    world.script({"demo-agent-0-r0-0": {"sleep": 4}})
    world.create(budget={"maxIterations": 1})
    world.wait_job("demo-agent-0-r0-0")
    world.patch_spec({"suspend": True})
    suspended = world.wait_phase("Suspended")["status"]
    assert suspended["iterations"][0]["phase"] == "Smoke"  # the agent's result was kept
    conditions = {c["type"]: c["status"] for c in suspended["conditions"]}
    assert conditions["Suspended"] == "True"
    time.sleep(3)
    assert not [j for j in world.jobs() if "smoke" in j]
    world.patch_spec({"suspend": False})
    world.wait_phase("Succeeded")
    assert "demo-smoke-0-r0-0" in world.jobs()


def test_immutable_field_change_stalls_naming_the_field(world: World):
    world.script({"demo-agent-0-r0-0": {"sleep": 30}})
    world.create(budget={"maxIterations": 1})
    world.wait_job("demo-agent-0-r0-0")
    world.patch_spec({"baseModel": "Qwen/Qwen2.5-7B-Instruct"})

    def stalled(c: dict[str, Any]) -> bool:
        return any(
            x["type"] == "Stalled" and x["status"] == "True"
            for x in (c.get("status") or {}).get("conditions", [])
        )

    campaign = world.wait(stalled, what="Stalled")
    condition = next(x for x in campaign["status"]["conditions"] if x["type"] == "Stalled")
    assert condition["reason"] == "ImmutableFieldChanged"
    assert "spec.baseModel" in condition["message"]


def test_raising_max_iterations_continues_a_finished_campaign(world: World):
    world.create(budget={"maxIterations": 1})
    world.wait_phase("Succeeded")
    world.patch_spec({"budget": {"maxIterations": 2}})
    world.wait(
        lambda c: (
            (c.get("status") or {}).get("iterationsStarted") == 2
            and c["status"]["phase"] == "Succeeded"
        ),
        what="second iteration",
    )
    assert world.status()["best"]["iteration"] == 1


def test_deletion_removes_the_jobs(world: World):
    world.script({"demo-train-0-*": {"sleep": 60}})
    world.create(budget={"maxIterations": 1})
    world.wait_job("demo-train-0-0")
    world.custom.delete_namespaced_custom_object(
        API_GROUP, API_VERSION, world.namespace, PLURAL, NAME
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (world.jobs() or _exists(world)):
        time.sleep(0.5)
    assert world.jobs() == [] and not _exists(world)


def _exists(world: World) -> bool:
    try:
        world.get()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _max_concurrent_agents(world: World, until: Callable[[], bool], timeout: float) -> int:
    """Polls the Jobs until ``until()``: the most agent Jobs active at once."""
    peak = 0
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        jobs = world.batch.list_namespaced_job(world.namespace).items
        running = [
            j
            for j in jobs
            if "-agent-" in j.metadata.name
            and not any(
                c.type in ("Complete", "Failed") and c.status == "True"
                for c in (j.status.conditions or [])
            )
        ]
        peak = max(peak, len(running))
        time.sleep(0.2)
    return peak


def test_parallel_round_runs_its_candidates_concurrently_and_never_more(world: World):
    world.script({"demo-agent-*": {"sleep": 3}})
    world.create(parallelism=3, budget={"maxIterations": 5})
    peak = _max_concurrent_agents(
        world, lambda: world.status().get("phase") == "Succeeded", timeout=180
    )
    status = world.wait_phase("Succeeded")["status"]
    assert peak == 3
    assert [it["round"] for it in status["iterations"]] == [0, 0, 0, 1, 1]
    assert [it["candidate"] for it in status["iterations"]] == [0, 1, 2, 0, 1]
    assert sum(1 for j in world.jobs() if "-agent-" in j) == 5


def test_failing_candidate_does_not_stop_its_siblings(world: World):
    world.script({"demo-train-0-*": {"ok": False, "failure": "oom", "message": "OOM"}})
    world.create(parallelism=2, budget={"maxIterations": 2})
    status = world.wait_phase("Succeeded")["status"]
    first, second = status["iterations"]
    assert first["phase"] == "Failed" and first["accepted"] is False
    assert second["phase"] == "Succeeded" and second["accepted"] is True
    assert status["best"]["iteration"] == 1


def test_operator_restarted_mid_round_resumes_every_candidate(world: World):
    world.script({"demo-agent-*": {"sleep": 2}, "*": {"sleep": 0.5}})
    world.create(parallelism=3, budget={"maxIterations": 3})
    for job in ("demo-agent-2-r0-0", "demo-smoke-1-r0-0"):
        world.wait_job(job)
        world.operator.kill()
        time.sleep(1)
        world.operator.start()
    status = world.wait_phase("Succeeded", timeout=180)["status"]
    names = world.jobs()
    for i in range(3):
        for step in ("agent", "smoke"):
            assert f"demo-{step}-{i}-r0-0" in names
        for step in ("train", "eval"):
            assert f"demo-{step}-{i}-0" in names
    assert len(names) == 2 + 3 * 4 + 1  # prepare, baseline, 3 candidates, final
    assert [it["phase"] for it in status["iterations"]] == ["Succeeded"] * 3


def test_a_failed_campaign_resumes_on_the_annotation_without_redoing_finished_steps(
    world: World,
):
    """The final test evaluation fails for good (out of memory); annotating the campaign
    with a new ftagent.dev/resume value retries only that step."""
    world.script({"demo-final-1-0": {"ok": False, "failure": "oom", "message": "OOM in eval"}})
    world.create()
    failed = world.wait_phase("Failed")["status"]
    assert failed["failedPhase"] == "Finalizing" and "OOM in eval" in failed["message"]
    before = world.jobs()
    world.custom.patch_namespaced_custom_object(
        API_GROUP,
        API_VERSION,
        world.namespace,
        PLURAL,
        "demo",
        {"metadata": {"annotations": {"ftagent.dev/resume": "1"}}},
    )
    status = world.wait_phase("Succeeded")["status"]
    assert status["resumes"] == 1
    assert stable(status) == EXPECTED_STABLE  # the same result as an undisturbed run
    assert sorted(set(world.jobs()) - set(before)) == ["demo-final-1-x1-0"]
