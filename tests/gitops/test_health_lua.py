"""The Argo CD health check (operator/ftoperator/gitops/health.lua), run by a Lua 5.1
interpreter on real statuses: those the operator's own lifecycle (``decide``) writes through
whole campaigns, and the same objects after a round trip through the real kube-apiserver's
status subresource (structural pruning included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.campaign import FineTuneCampaign, Phase
from ftapi.results import FailureKind, StepResult
from ftapi.steps import StepKind
from ftoperator.lifecycle import CreateJob, JobState, ObservedJob, Settings, decide
from harness.cluster import LocalCluster

from .argo_health import HEALTH_LUA, REPO_ROOT, health

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETTINGS = Settings(max_infra_retries=1, backoff_base=1, backoff_max=2)
Outcome = Callable[[CreateJob], StepResult | None]


def _ok(create: CreateJob) -> StepResult:
    req = create.request
    step, it = req.step, req.iteration or 0
    fields: dict[str, Any] = {}
    if step is StepKind.BASELINE:
        fields = {"scores": {"validation": 10.0, "test": 8.0}}
    elif step is StepKind.AGENT:
        fields = {"hypothesis": f"h{it}", "method": "lora"}
    elif step is StepKind.TRAIN:
        fields = {"train_loss": 1.0}
    elif step is StepKind.EVAL:
        fields = {"scores": {"validation": 10.0 + 5 * (it + 1)}}
    elif step is StepKind.FINAL:
        fields = {"scores": {"test": 30.0}}
    return StepResult(step=step, ok=True, **fields)


@dataclass
class Run:
    """Drives ``decide`` like the operator does; each Job finishes one tick after creation.
    ``bodies`` holds the campaign as the API server would serve it after every decision."""

    campaign: FineTuneCampaign
    outcome: Outcome
    jobs: dict[str, ObservedJob]
    now: datetime
    bodies: list[dict[str, Any]]

    @classmethod
    def start(cls, outcome: Outcome | None = None, **spec: Any) -> Run:
        campaign = FineTuneCampaign.model_validate(
            {
                "metadata": {"name": "demo", "namespace": "ns", "generation": 1},
                "spec": {"baseModel": "Qwen/Qwen2.5-0.5B", "benchmark": "aime25", **spec},
            }
        )
        return cls(campaign, outcome or (lambda c: None), {}, T0, [])

    def body(self) -> dict[str, Any]:
        return self.campaign.model_dump(mode="json", by_alias=True, exclude_none=True)

    def tick(self) -> dict[str, Any]:
        decision = decide(self.campaign, self.jobs, self.now, SETTINGS)
        self.campaign = self.campaign.model_copy(update={"status": decision.status})
        for create in decision.create:
            result = self.outcome(create) or _ok(create)
            state = JobState.SUCCEEDED if result.ok else JobState.FAILED
            self.jobs[create.name] = ObservedJob(
                create.name, state, result=result, started_at=self.now, finished_at=self.now
            )
        self.now += timedelta(seconds=1)
        self.bodies.append(self.body())
        return self.bodies[-1]

    def until(self, phase: Phase, ticks: int = 100) -> dict[str, Any]:
        for _ in range(ticks):
            body = self.tick()
            if body["status"]["phase"] == phase:
                return body
        raise AssertionError(f"never reached {phase}: {self.campaign.status.phase}")

    def edit_spec(self, **spec: Any) -> dict[str, Any]:
        """A user's edit: new spec, generation + 1, status not yet observed."""
        body = self.body()
        body["spec"].update(spec)
        body["metadata"]["generation"] += 1
        self.campaign = FineTuneCampaign.model_validate(body)
        self.bodies.append(self.body())
        return self.bodies[-1]


def _phases(run: Run) -> dict[str, dict[str, Any]]:
    """The first body of each phase the campaign went through."""
    seen: dict[str, dict[str, Any]] = {}
    for body in run.bodies:
        seen.setdefault(body["status"]["phase"], body)
    return seen


def scenarios() -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (live object, expected Argo CD health)."""
    out: dict[str, tuple[dict[str, Any], str]] = {}
    created = Run.start()
    out["created, no status"] = (
        {k: v for k, v in created.body().items() if k != "status"},
        "Progressing",
    )

    happy = Run.start(budget={"maxIterations": 2})
    happy.until(Phase.SUCCEEDED)
    phases = _phases(happy)
    assert list(phases) == ["Preparing", "Baseline", "Running", "Finalizing", "Succeeded"]
    for phase, body in phases.items():
        out[f"phase {phase}"] = (body, "Healthy" if phase == "Succeeded" else "Progressing")
    succeeded = phases["Succeeded"]
    raised = happy.edit_spec(budget={"maxIterations": 3})
    out["spec edited, not yet observed"] = (raised, "Progressing")
    out["continuing after maxIterations raised"] = (happy.tick(), "Progressing")

    def final_fails(create: CreateJob) -> StepResult | None:
        if create.request.step is StepKind.PREPARE:
            return StepResult(
                step=StepKind.PREPARE, ok=False, failure=FailureKind.ENVIRONMENT, message="no disk"
            )
        return None

    failed = Run.start(final_fails)
    out["phase Failed"] = (failed.until(Phase.FAILED), "Degraded")

    suspending = Run.start(budget={"maxIterations": 2})
    suspending.until(Phase.RUNNING)
    out["suspend requested"] = (suspending.edit_spec(suspend=True), "Suspended")
    out["suspend observed, step running"] = (suspending.tick(), "Suspended")
    out["phase Suspended"] = (suspending.until(Phase.SUSPENDED), "Suspended")
    out["resume requested"] = (suspending.edit_spec(suspend=False), "Progressing")
    out["resumed"] = (suspending.tick(), "Progressing")

    stalled = Run.start()
    stalled.until(Phase.RUNNING)
    stalled.edit_spec(baseModel="Qwen/Qwen2.5-7B")
    body = stalled.tick()
    assert any(
        c["type"] == "Stalled" and c["status"] == "True" for c in body["status"]["conditions"]
    )
    out["immutable field changed (Stalled)"] = (body, "Degraded")
    out["succeeded campaign sanity"] = (succeeded, "Healthy")
    return out


SCENARIOS = scenarios()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_health_of_lifecycle_statuses(name: str):
    obj, expected = SCENARIOS[name]
    status, message = health(obj)
    assert status == expected, f"{name}: {status} ({message})"
    assert message


def test_messages_explain_the_state():
    assert health(SCENARIOS["phase Running"][0])[1].startswith("Running (iteration 0")
    assert (
        "ImmutableFieldChanged: spec.baseModel"
        in health(SCENARIOS["immutable field changed (Stalled)"][0])[1]
    )
    assert "observe generation 2" in health(SCENARIOS["spec edited, not yet observed"][0])[1]
    assert "no disk" in health(SCENARIOS["phase Failed"][0])[1]
    assert health({"spec": {}, "status": {"phase": "Exploded", "observedGeneration": 1}}) == (
        "Unknown",
        "Unknown phase Exploded",
    )


def test_argocd_cm_example_carries_the_same_script():
    cm = yaml.safe_load((REPO_ROOT / "examples" / "argocd" / "argocd-cm.yaml").read_text())
    key = "resource.customizations.health.ftagent.dev_FineTuneCampaign"
    assert cm["data"][key] == HEALTH_LUA.read_text()


@pytest.fixture
def live(cluster: LocalCluster, namespace: str) -> Iterator[client.CustomObjectsApi]:
    with cluster.api_client() as api:
        yield client.CustomObjectsApi(api)


@pytest.mark.cluster
def test_health_after_a_round_trip_through_the_api_server(
    live: client.CustomObjectsApi, namespace: str, tmp_path: Path
):
    """Write each lifecycle status through the status subresource of a real campaign (what the
    operator does) and read the object back (what Argo CD sees)."""
    for index, (name, (obj, expected)) in enumerate(SCENARIOS.items()):
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "FineTuneCampaign",
            "metadata": {"name": f"c{index}"},
            "spec": obj["spec"],
        }
        created = live.create_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, body
        )
        generation = obj["metadata"]["generation"]
        # Bring the server's generation to the scenario's (each spec write bumps it).
        for bump_size in range(1000, 1000 + generation):
            if created["metadata"]["generation"] >= generation:
                break
            bump = {"spec": {"budget": {"upperDataSizeLimit": bump_size}}}
            created = live.patch_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURAL, f"c{index}", bump
            )
        if "status" in obj:
            live.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, PLURAL, f"c{index}", {"status": obj["status"]}
            )
        served = live.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, f"c{index}"
        )
        assert served["metadata"]["generation"] == generation, name
        assert served.get("status", {}) == obj.get("status", {}), f"{name}: status was pruned"
        assert health(served) == health(obj), name
        assert health(served)[0] == expected, name
