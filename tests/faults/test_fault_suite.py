"""The fault suite: campaigns on the real kube-apiserver under the real operator, each disturbed
by one fault, must end exactly as an undisturbed run of the same campaign does.

Faults: the operator SIGKILLed at every step boundary (when each kind of Job appears), killed
between creating a Job and patching the status (the operator's ``crash_after_creating``
injection point), killed mid-round with parallel candidates; a training pod evicted; an
evaluation Job deleted; kube-apiserver killed and restarted with etcd's data kept; the Hub
failing transiently (429 with Retry-After, 503, a reset connection, a cut-short body) under the
real prepare worker; the LLM endpoint failing transiently (503, 429, 500) under the real agent.

Workers: prepare is the real worker against a local fake Hub (real huggingface_hub); the agent
is the real worker too in the LLM-planner campaigns (with its ``scripts`` container); the other
steps are scripted stand-ins (``harness/standin.py``), so the campaigns are fast and their
outcome is known. For each campaign: no step has two successful Jobs (duplicate Jobs), and the
final status equals the undisturbed run's (lost results: every field that differs). The module
ends with ``faults injected N, campaigns completed N, duplicate Jobs 0, lost results 0``
(``scripts/fault-suite.sh`` runs just this).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agent.llm_server import ScriptedLlmServer
from kubernetes import client

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.steps import StepKind
from fttrainer.tiny_model import build_tiny_model
from harness.cluster import LocalCluster
from harness.fake_hub import FakeHub, Fault
from harness.kubelet import Command, PodSpecView, TestKubelet
from harness.operator import OperatorProcess, operator_world, standin_runner
from harness.realworkers import RealWorkers

pytestmark = pytest.mark.cluster

NAME = "demo"
TIMEOUT = 240


@dataclass
class Outcome:
    fault: str
    completed: bool
    duplicates: int
    lost: int
    detail: str = ""


OUTCOMES: list[Outcome] = []
REFERENCES: dict[str, dict[str, Any]] = {}


# ---------------------------------------------------------------------- one campaign


def stable(status: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on timing or faults."""
    return {
        "phase": status.get("phase"),
        "baseline": status.get("baseline"),
        "best": {k: v for k, v in (status.get("best") or {}).items() if k != "modelSha256"},
        "iterationsStarted": status.get("iterationsStarted"),
        "evaluationSet": (status.get("evaluationSet") or {}).get("splitSha256"),
        "iterations": [
            {
                k: it.get(k)
                for k in (
                    "index",
                    "round",
                    "candidate",
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


def differences(got: Any, want: Any, where: str = "") -> list[str]:
    """Every leaf where ``got`` differs from ``want`` (a lost or changed result)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(want) | set(got)):
            out += differences(got.get(key), want.get(key), f"{where}.{key}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        out = []
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            out += differences(g, w, f"{where}[{i}]")
        return out
    return [] if got == want else [f"{where}: {got!r} != {want!r}"]


@dataclass
class Run:
    cluster: LocalCluster
    namespace: str
    api: client.ApiClient
    kubelet: TestKubelet
    operator: OperatorProcess
    scenario: Path
    llm: ScriptedLlmServer
    extra: list[Callable[[], None]] = field(default_factory=list)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    def create(self, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "FineTuneCampaign",
            "metadata": {"name": NAME},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, body
        )

    def status(self) -> dict[str, Any]:
        try:
            body = self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, PLURAL, NAME
            )
        except Exception:  # the API server may be restarting
            return {}
        return body.get("status") or {}

    def jobs(self) -> list[dict[str, Any]]:
        return [
            self.batch.api_client.sanitize_for_serialization(j)
            for j in self.batch.list_namespaced_job(self.namespace).items
        ]

    def job_names(self) -> list[str]:
        try:
            return [j["metadata"]["name"] for j in self.jobs()]
        except Exception:  # the API server may be restarting
            return []

    def wait_job(self, glob: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in self.job_names():
                if fnmatch.fnmatchcase(name, glob):
                    return name
            time.sleep(0.1)
        raise AssertionError(f"no Job {glob} within {timeout} s; jobs={self.job_names()}")

    def wait_done(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("phase") in ("Succeeded", "Failed"):
                return status
            if self.operator.proc is not None and self.operator.proc.poll() is not None:
                self.operator.start()  # a crash-point exit: the Deployment would restart it
            time.sleep(0.3)
        raise AssertionError(
            f"campaign not done in {timeout} s: {json.dumps(status)[:3000]}\n"
            f"jobs={self.job_names()}\n{self.operator.tail(60)}"
        )

    def duplicate_jobs(self) -> int:
        """Steps (a Job name without its attempt) with more than one successful Job."""
        succeeded = Counter(
            j["metadata"]["name"].rsplit("-", 1)[0]
            for j in self.jobs()
            if any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in (j.get("status") or {}).get("conditions") or []
            )
        )
        return sum(n - 1 for n in succeeded.values() if n > 1)


def tiny_hub(folder: Path) -> FakeHub:
    """The fake Hub with a real tiny model, DeepScaleR and AIME 2025 in their layouts."""
    hub = FakeHub()
    model = folder / "tiny"
    build_tiny_model(model)
    hub.add("model", "org/tiny", {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()})
    rows = [
        {"problem": f"What is {i} plus {i}?", "solution": f"{2 * i}", "answer": str(2 * i)}
        for i in range(40)
    ]
    deepscaler = {"deepscaler.json": json.dumps(rows)}
    hub.add("dataset", "agentica-org/DeepScaleR-Preview-Dataset", deepscaler)
    hub.add(
        "dataset",
        "opencompass/AIME2025",
        {
            name: "\n".join(
                json.dumps({"question": f"Compute {i} times {i + 3}.", "answer": str(i)})
                for i in range(k, k + 15)
            )
            for name, k in (("aime2025-I.jsonl", 0), ("aime2025-II.jsonl", 15))
        },
    )
    return hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    fake = tiny_hub(tmp_path_factory.mktemp("hub"))
    with fake:
        yield fake


@contextlib.contextmanager
def campaign_world(
    cluster: LocalCluster, hub: FakeHub, tmp_path: Path, operator_env: dict[str, str] | None
) -> Iterator[Run]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"*": {"sleep": 0.2}}))
    root = Path(tempfile.mkdtemp(prefix="fs-", dir="/tmp"))
    real = RealWorkers.on_default_claims(
        root,
        tmp_path / "pv",
        extra_env={"HF_ENDPOINT": hub.endpoint, "FT_PREPARE_RETRY_BASE_SECONDS": "0.05"},
    )
    standin = standin_runner(scenario)

    def runner(pod: PodSpecView) -> Command:
        step = pod.labels.get("ftagent.dev/step")
        llm = "FT_SCRIPT_RUNNER_DIR" in pod.env or pod.container_name == "scripts"
        if step == StepKind.PREPARE or (step == StepKind.AGENT and llm):
            return real(pod)
        return standin(pod)

    llm = ScriptedLlmServer().start()
    world = operator_world(cluster, tmp_path, runner, prefix="ft", operator_env=operator_env)
    try:
        with world as (namespace, api, kubelet, operator):
            key = base64.b64encode(b"sk-fault-suite").decode()
            client.CoreV1Api(api).create_namespaced_secret(
                namespace,
                {"metadata": {"name": "llm-credentials"}, "data": {"api-key": key}},
            )
            yield Run(cluster, namespace, api, kubelet, operator, scenario, llm)
    finally:
        llm.stop()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------- campaigns and faults

PROPOSAL = json.dumps(
    {
        "hypothesis": "Short worked answers in the boxed format help.",
        "method": "lora",
        "data": {"strategy": "builtin", "sample_size": 16},
        "training_config": {"learning_rate": 1e-4},
    }
)


def spec_of(kind: str, llm: ScriptedLlmServer) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "baseModel": "org/tiny",
        "benchmark": "aime25",
        "budget": {"maxIterations": 2, "maxRepairRounds": 1, "upperDataSizeLimit": 16},
        "evaluation": {"validationLimit": 10, "testLimit": 10},
    }
    if kind == "parallel":
        spec["parallelism"] = 3
        spec["budget"]["maxIterations"] = 3
    if kind == "llm":
        spec["planner"] = {
            "type": "llm",
            "llm": {
                "strongModels": ["openai/gpt-4o-mini"],
                "apiBase": llm.base_url,
                "apiKeySecretRef": {"name": "llm-credentials", "key": "api-key"},
            },
        }
    return spec


@dataclass(frozen=True)
class FaultCase:
    name: str
    kind: str = "search"
    """search | parallel | llm: which campaign it disturbs."""
    kill_operator_at: tuple[str, ...] = ()
    """Job name globs: SIGKILL the operator when each appears, start it again 1 s later."""
    crash_after_creating: str | None = None
    evict_at: str | None = None
    delete_job_at: str | None = None
    restart_apiserver_at: str | None = None
    hub_faults: tuple[tuple[str, dict[str, Any]], ...] = ()
    llm_failures: tuple[int, ...] = ()


CASES = [
    *(
        FaultCase(
            f"operator killed when the {glob.split('-')[1]} Job appears", kill_operator_at=(glob,)
        )
        for glob in (
            "demo-prepare-*",
            "demo-baseline-*",
            "demo-agent-0-*",
            "demo-smoke-0-*",
            "demo-train-0-*",
            "demo-eval-0-*",
            "demo-final-*",
        )
    ),
    FaultCase("operator killed when iteration 1 starts", kill_operator_at=("demo-agent-1-*",)),
    FaultCase(
        "operator crashes between creating the baseline Job and the status patch",
        crash_after_creating="demo-baseline-*",
    ),
    FaultCase(
        "operator crashes between creating a training Job and the status patch",
        crash_after_creating="demo-train-1-*",
    ),
    FaultCase(
        "operator killed mid-round with parallel candidates",
        kind="parallel",
        kill_operator_at=("demo-agent-2-*", "demo-eval-1-*"),
    ),
    FaultCase("training pod evicted", evict_at="demo-train-0-*"),
    FaultCase("evaluation Job deleted while it runs", delete_job_at="demo-eval-1-*"),
    FaultCase(
        "kube-apiserver restarted (etcd kept) during the agent step",
        restart_apiserver_at="demo-agent-0-*",
    ),
    FaultCase(
        "the Hub fails transiently in prepare (429, 503, reset, cut-short body)",
        hub_faults=(
            ("/api/models/org/tiny", {"times": 2, "status": 429, "retry_after": 1}),
            ("/api/datasets/opencompass", {"times": 1, "status": 503}),
            ("aime2025-I.jsonl", {"times": 1, "truncate": True}),
            ("deepscaler.json", {"times": 1, "reset": True}),
        ),
    ),
    FaultCase(
        "the LLM endpoint fails transiently (503, 429, 500)",
        kind="llm",
        llm_failures=(503, 429, 500),
    ),
]


def run_campaign(
    cluster: LocalCluster, hub: FakeHub, tmp_path: Path, case: FaultCase | None, kind: str
) -> tuple[dict[str, Any], int]:
    env = {}
    if case is not None and case.crash_after_creating:
        env["FT_OPERATOR_CRASH_AFTER_CREATING"] = case.crash_after_creating
    with campaign_world(cluster, hub, tmp_path, env) as run:
        run.llm.responder = lambda _body: PROPOSAL
        if case is not None:
            for path, fault in case.hub_faults:
                hub.faults.append(Fault(path, **fault))
            run.llm.fail_next(*case.llm_failures)
        run.create(spec_of(kind, run.llm))
        if case is not None:
            for glob in case.kill_operator_at:
                run.wait_job(glob)
                run.operator.kill()
                time.sleep(1)
                run.operator.start()
            if case.evict_at:
                name = run.wait_job(case.evict_at)
                pod = run.kubelet.wait_for_pod(
                    lambda p: (
                        p["metadata"]["labels"].get("job-name") == name
                        and p["status"]["phase"] == "Running"
                    ),
                    timeout=TIMEOUT,
                )
                run.kubelet.evict(run.namespace, pod["metadata"]["name"])
            if case.delete_job_at:
                name = run.wait_job(case.delete_job_at)
                run.kubelet.wait_for_pod(
                    lambda p: (
                        p["metadata"]["labels"].get("job-name") == name
                        and p["status"]["phase"] == "Running"
                    ),
                    timeout=TIMEOUT,
                )
                run.batch.delete_namespaced_job(
                    name, run.namespace, propagation_policy="Background"
                )
            if case.restart_apiserver_at:
                run.wait_job(case.restart_apiserver_at)
                cluster.restart_apiserver()
        status = run.wait_done()
        if case is not None and case.hub_faults:
            assert all(f.times == 0 for f in hub.faults), "a Hub fault was never met"
            hub.faults.clear()
        if case is not None and case.llm_failures:
            assert not run.llm.failures, "an LLM failure was never met"
        return status, run.duplicate_jobs()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_disturbed_campaign_ends_as_an_undisturbed_one(
    case: FaultCase, cluster: LocalCluster, hub: FakeHub, tmp_path: Path
) -> None:
    if case.kind not in REFERENCES:
        reference, _ = run_campaign(cluster, hub, tmp_path / "reference", None, case.kind)
        assert reference.get("phase") == "Succeeded", json.dumps(reference)[:3000]
        REFERENCES[case.kind] = stable(reference)
    status, duplicates = run_campaign(cluster, hub, tmp_path / "faulted", case, case.kind)
    lost = differences(stable(status), REFERENCES[case.kind])
    OUTCOMES.append(
        Outcome(
            case.name, status.get("phase") == "Succeeded", duplicates, len(lost), "; ".join(lost)
        )
    )
    assert status.get("phase") == "Succeeded", json.dumps(status)[:3000]
    assert duplicates == 0
    assert not lost, lost


def test_fault_suite_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """The figures of the suite (the README shows them)."""
    completed = sum(o.completed for o in OUTCOMES)
    duplicates = sum(o.duplicates for o in OUTCOMES)
    lost = sum(o.lost for o in OUTCOMES)
    line = (
        f"faults injected {len(OUTCOMES)}, campaigns completed {completed}, "
        f"duplicate Jobs {duplicates}, lost results {lost}"
    )
    with capsys.disabled():
        print(f"\n{line}")
    assert len(OUTCOMES) == len(CASES) >= 10
    assert completed == len(OUTCOMES) and duplicates == 0 and lost == 0
