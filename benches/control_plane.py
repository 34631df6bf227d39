"""Control-plane benchmark: N concurrent campaigns with instant steps on the real kube-apiserver.

Starts the local control plane (etcd, kube-apiserver, kube-controller-manager with the Job
controller), the real operator process, and an *instant* kubelet that binds every step's Pod
and immediately reports it Succeeded with the stand-in worker's default result (no process
runs). Prints, per N:

- p50/p99 latency from a Job being seen Complete to the campaign's next Job being seen created
  (both observed on one watch of Jobs, so the clock is the same);
- Kubernetes API requests the reconciler made per iteration (creates, status patches, gets,
  events; from the operator's ``ftagent_api_requests_total``);
- the operator's peak RSS (``VmHWM``).

Usage: ``.venv/bin/python benches/control_plane.py [N ...]`` (default: 50 200).
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kubernetes import client, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

from ftapi import API_GROUP, API_VERSION, PLURAL  # noqa: E402
from ftapi.results import StepResult  # noqa: E402
from ftapi.steps import STEP_REQUEST_ENV, StepRequest  # noqa: E402
from harness.cluster import LocalCluster  # noqa: E402
from harness.operator import OperatorProcess  # noqa: E402
from harness.standin import default_result  # noqa: E402

ITERATIONS = 2
JOBS_PER_CAMPAIGN = 3 + 4 * ITERATIONS  # prepare, baseline, final + 4 per iteration
NAMESPACE = "bench"


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class InstantKubelet:
    """Binds Pods to a node and reports them Succeeded at once with a valid result."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "bench-node"},
            "status": {
                "capacity": {
                    "cpu": "1000",
                    "memory": "10Ti",
                    "pods": "10000",
                    "nvidia.com/gpu": "1000",
                },
                "allocatable": {
                    "cpu": "1000",
                    "memory": "10Ti",
                    "pods": "10000",
                    "nvidia.com/gpu": "1000",
                },
            },
        }
        try:
            self.core.create_node(node)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.thread.start()

    def loop(self) -> None:
        while not self.stop.is_set():
            w = watch.Watch()
            try:
                for event in w.stream(self.core.list_namespaced_pod, NAMESPACE, timeout_seconds=60):
                    if self.stop.is_set():
                        break
                    pod = event["object"]
                    if event["type"] == "ADDED" and not pod.spec.node_name:
                        self.run(pod)
            except Exception as exc:  # watch hiccups: reconnect
                print("kubelet watch:", exc, file=sys.stderr)
                time.sleep(0.2)

    def run(self, pod: client.V1Pod) -> None:
        name = pod.metadata.name
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "bench-node"},
        }
        self.core.create_namespaced_pod_binding(name, NAMESPACE, binding, _preload_content=False)
        env = {e.name: e.value for e in pod.spec.containers[0].env or []}
        request = StepRequest.model_validate_json(env[STEP_REQUEST_ENV])
        result = StepResult(step=request.step, ok=True, **default_result(request))
        stamp = now()
        self.core.patch_namespaced_pod_status(
            name,
            NAMESPACE,
            {
                "status": {
                    "phase": "Succeeded",
                    "startTime": stamp,
                    "containerStatuses": [
                        {
                            "name": pod.spec.containers[0].name,
                            "ready": False,
                            "restartCount": 0,
                            "image": pod.spec.containers[0].image,
                            "imageID": "",
                            "containerID": "bench://1",
                            "state": {
                                "terminated": {
                                    "exitCode": 0,
                                    "reason": "Completed",
                                    "message": result.dump_message(),
                                    "startedAt": stamp,
                                    "finishedAt": stamp,
                                }
                            },
                        }
                    ],
                }
            },
        )


class JobWatcher:
    """Records when each Job is first seen and first seen Complete."""

    def __init__(self, api: client.ApiClient) -> None:
        self.batch = client.BatchV1Api(api)
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stop.is_set():
            w = watch.Watch()
            try:
                for event in w.stream(
                    self.batch.list_namespaced_job, NAMESPACE, timeout_seconds=60
                ):
                    t = time.monotonic()
                    job = event["object"]
                    name = job.metadata.name
                    self.created.setdefault(name, t)
                    conditions = job.status.conditions or []
                    if any(c.type == "Complete" and c.status == "True" for c in conditions):
                        self.completed.setdefault(name, t)
            except Exception as exc:
                print("job watch:", exc, file=sys.stderr)
                time.sleep(0.2)


def latencies(watcher: JobWatcher) -> list[float]:
    """Per campaign, from each Job's completion to the next Job's creation."""
    by_campaign: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for name, t in watcher.created.items():
        campaign = name.split("-")[0]
        by_campaign[campaign].append((t, name))
    out = []
    for jobs in by_campaign.values():
        jobs.sort()
        for (_, previous), (t_next, _) in itertools.pairwise(jobs):
            done = watcher.completed.get(previous)
            if done is not None:
                out.append(max(0.0, t_next - done))
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def api_requests(metrics_text: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("ftagent_api_requests_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run(n: int, workdir: Path) -> dict[str, float]:
    crds = sorted((ROOT / "crds").glob("*.yaml"))
    with LocalCluster(controllers=("garbagecollector", "namespace", "job")) as cluster:
        cluster.install_crds(crds)
        api = cluster.api_client()
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
        kubelet = InstantKubelet(api)
        kubelet.start()
        watcher = JobWatcher(cluster.api_client())
        watcher.thread.start()
        operator = OperatorProcess(
            cluster.kubeconfig,
            NAMESPACE,
            workdir / f"operator-{n}.log",
            env={"FT_OPERATOR_RESYNC_SECONDS": "30"},
        )
        operator.start()
        custom = client.CustomObjectsApi(api)
        started = time.monotonic()
        for i in range(n):
            custom.create_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                NAMESPACE,
                PLURAL,
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": "FineTuneCampaign",
                    "metadata": {"name": f"c{i:04d}"},
                    "spec": {
                        "baseModel": "Qwen/Qwen2.5-0.5B",
                        "benchmark": "aime25",
                        "budget": {"maxIterations": ITERATIONS},
                    },
                },
            )
        deadline = started + 900
        done = 0
        while time.monotonic() < deadline:
            items = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, PLURAL)[
                "items"
            ]
            done = sum((c.get("status") or {}).get("phase") == "Succeeded" for c in items)
            if done == n:
                break
            time.sleep(1)
        wall = time.monotonic() - started
        metrics_text = operator.metrics()
        rss = peak_rss_mb(operator.proc.pid)  # type: ignore[union-attr]
        operator.stop()
        kubelet.stop.set()
        watcher.stop.set()
        lat = latencies(watcher)
        return {
            "campaigns": n,
            "succeeded": done,
            "wall_s": round(wall, 1),
            "jobs": len(watcher.created),
            "p50_ms": round(1000 * percentile(lat, 0.5), 1),
            "p99_ms": round(1000 * percentile(lat, 0.99), 1),
            "api_requests_per_iteration": round(api_requests(metrics_text) / (n * ITERATIONS), 1),
            "operator_peak_rss_mb": round(rss, 1),
        }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [50, 200]
    workdir = Path("/tmp/ft-bench")
    workdir.mkdir(exist_ok=True)
    print(
        f"{'campaigns':>9} {'done':>5} {'jobs':>6} {'wall s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'req/iter':>8} {'RSS MB':>7}"
    )
    for n in sizes:
        r = run(n, workdir)
        print(
            f"{r['campaigns']:>9} {r['succeeded']:>5} {r['jobs']:>6} {r['wall_s']:>7} "
            f"{r['p50_ms']:>7} {r['p99_ms']:>7} {r['api_requests_per_iteration']:>8} "
            f"{r['operator_peak_rss_mb']:>7}",
            flush=True,
        )
        print(json.dumps(r), file=sys.stderr)


if __name__ == "__main__":
    main()
