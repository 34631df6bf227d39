"""The fake kubelet against a real API server: Jobs run, and the Job controller sees them finish.

The module starts its own :class:`LocalCluster` with kube-controller-manager's ``job``
controller, so Kubernetes itself creates each Job's Pod and sets the Job's conditions from the
Pod's phase; :class:`TestKubelet` binds the Pod, runs its ``python -c`` command locally and
writes the Pod status. No mocks.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness.cluster import LocalCluster
from harness.kubelet import Command, PodSpecView, TestKubelet, VolumeMount

pytestmark = pytest.mark.cluster

SHARED_MOUNT = "/shared"
JOB_TIMEOUT = 60.0


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """The local folder behind the pods' ``/shared`` mount."""
    return tmp_path / "shared"


def _child_pids() -> set[int]:
    me = str(os.getpid())
    pids: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # fields: state, ppid, ...
            pids.add(int(stat.parent.name))
    return pids


def _kubelet_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kubelet-")]


def _python_runner(
    shared: Path, views: list[PodSpecView] | None = None
) -> Callable[[PodSpecView], Command]:
    """Run the container's ``python ...`` command with this interpreter; map ``/shared``."""

    def runner(pod: PodSpecView) -> Command:
        if views is not None:
            views.append(pod)
        argv = [*pod.command, *pod.args]
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        return Command(argv=argv, env=pod.env, path_map={SHARED_MOUNT: shared})

    return runner


def _start_kubelet(
    cluster: LocalCluster,
    namespace: str,
    tmp_path: Path,
    shared: Path,
    views: list[PodSpecView] | None = None,
    **kwargs: Any,
) -> TestKubelet:
    kubelet = TestKubelet(
        cluster.api_client,
        runner=_python_runner(shared, views),
        workdir=tmp_path / "kubelet",
        namespaces=[namespace],
        **kwargs,
    )
    kubelet.start()
    return kubelet


@pytest.fixture
def views() -> list[PodSpecView]:
    """Every PodSpecView the runner was given, in order."""
    return []


@pytest.fixture
def kubelet(
    cluster: LocalCluster,
    namespace: str,
    tmp_path: Path,
    shared_dir: Path,
    views: list[PodSpecView],
) -> Iterator[TestKubelet]:
    """A fake node for this test's namespace; afterwards: no errors, no leftovers."""
    before = _child_pids()
    kubelet = _start_kubelet(cluster, namespace, tmp_path, shared_dir, views)
    try:
        yield kubelet
    finally:
        kubelet.stop()
    assert kubelet.errors() == []
    assert _child_pids() - before == set(), "processes left behind by the kubelet"
    assert _kubelet_threads() == [], "threads left behind by the kubelet"


# ---------------------------------------------------------------------- helpers


def _job(
    name: str,
    script: str,
    *,
    env: list[dict[str, Any]] | None = None,
    active_deadline: int | None = None,
    container: dict[str, Any] | None = None,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "main",
                "image": "python:3.11-slim",
                "command": ["python", "-c", script],
                "env": [{"name": "SHARED", "value": SHARED_MOUNT}, *(env or [])],
                "volumeMounts": [{"name": "shared", "mountPath": SHARED_MOUNT}],
                **(container or {}),
            }
        ],
        "volumes": [{"name": "shared", "emptyDir": {}}],
    }
    if active_deadline is not None:
        pod_spec["activeDeadlineSeconds"] = active_deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}},
    }


def _create_job(api: client.ApiClient, namespace: str, job: dict[str, Any]) -> str:
    client.BatchV1Api(api).create_namespaced_job(namespace, job, _preload_content=False)
    return str(job["metadata"]["name"])


def _read_job(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    resp = client.BatchV1Api(api).read_namespaced_job_status(
        name, namespace, _preload_content=False
    )
    return dict(json.loads(resp.data))


def _wait_job(
    api: client.ApiClient, namespace: str, name: str, timeout: float = JOB_TIMEOUT
) -> tuple[str, dict[str, Any]]:
    """Wait until the Job has condition Complete or Failed; (that type, the Job)."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = _read_job(api, namespace, name)
        for cond in job.get("status", {}).get("conditions") or []:
            if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                return cond["type"], job
        time.sleep(0.2)
    raise AssertionError(f"job {name} not finished in {timeout:g} s: {job.get('status')}")


def _job_pods(api: client.ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    resp = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"job-name={name}", _preload_content=False
    )
    return list(json.loads(resp.data)["items"])


def _only_pod(api: client.ApiClient, namespace: str, job: str) -> dict[str, Any]:
    pods = _job_pods(api, namespace, job)
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])


def _running_pod_of(kubelet: TestKubelet, job: str) -> dict[str, Any]:
    return kubelet.wait_for_pod(
        lambda p: (
            p["metadata"]["labels"].get("job-name") == job and p["status"]["phase"] == "Running"
        ),
        timeout=JOB_TIMEOUT,
    )


def _heartbeat(api: client.ApiClient) -> str:
    node = json.loads(client.CoreV1Api(api).read_node("test-node", _preload_content=False).data)
    [ready] = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "True"
    return str(ready["lastHeartbeatTime"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} not written within {timeout:g} s")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


WRITE_PID = (
    "import os, time; "
    "open(os.path.join(os.environ['SHARED'], os.environ['HOSTNAME'] + '.pid'), 'w')"
    ".write(str(os.getpid())); "
)


# ---------------------------------------------------------------------- tests


def test_job_completes_with_the_termination_message(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, views: list[PodSpecView]
) -> None:
    message = {"step": "prepare", "ok": True, "values": [1, 2, 3]}
    script = (
        "import json, os; print('hi'); "
        f"open(os.environ['FT_TERMINATION_LOG'], 'w').write(json.dumps({message!r}))"
    )
    name = _create_job(api, namespace, _job(_name("ok"), script))

    outcome, job = _wait_job(api, namespace, name)

    assert outcome == "Complete", job["status"]
    assert job["status"].get("succeeded") == 1
    pod = _only_pod(api, namespace, name)
    assert pod["spec"]["nodeName"] == "test-node"
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["podIP"] == "127.0.0.1"
    assert pod["status"]["startTime"]
    terminated = _terminated(pod)
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert json.loads(terminated["message"]) == message
    assert terminated["startedAt"] and terminated["finishedAt"]
    assert kubelet.started_pods() == [pod["metadata"]["name"]]
    [view] = views
    assert (view.namespace, view.name) == (namespace, pod["metadata"]["name"])
    assert view.labels["job-name"] == name
    assert view.image == "python:3.11-slim"
    assert view.command == ("python", "-c", script)
    assert view.termination_message_path == "/dev/termination-log"
    assert view.volume_mounts == (VolumeMount(SHARED_MOUNT, "shared", False),)
    assert view.volumes == {"shared": {"emptyDir": {}}}
    assert "hi" in kubelet.logs(namespace, view.name)
    node = client.CoreV1Api(api).read_node("test-node", _preload_content=False)
    status = json.loads(node.data)["status"]
    assert status["capacity"]["nvidia.com/gpu"] == "8"
    ready = {c["type"]: c["status"] for c in status["conditions"]}["Ready"]
    assert ready == "True"


def test_failing_command_fails_the_job_with_its_exit_code(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    name = _create_job(api, namespace, _job(_name("fail"), "import sys; sys.exit(3)"))

    outcome, job = _wait_job(api, namespace, name)

    assert outcome == "Failed", job["status"]
    assert job["status"].get("failed") == 1
    pod = _only_pod(api, namespace, name)
    assert pod["status"]["phase"] == "Failed"
    terminated = _terminated(pod)
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert "message" not in terminated  # the termination-log file stayed empty


def test_fallback_to_logs_on_error_uses_the_log_tail(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    script = "import sys; print('line one', flush=True); sys.exit('fatal: no GPU')"
    policy = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    name = _create_job(api, namespace, _job(_name("logs"), script, container=policy))

    outcome, job = _wait_job(api, namespace, name)

    assert outcome == "Failed", job["status"]
    terminated = _terminated(_only_pod(api, namespace, name))
    assert terminated["exitCode"] == 1
    assert terminated["message"] == "line one\nfatal: no GPU\n"


def test_env_from_secret_config_map_and_fields_reaches_the_process(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, shared_dir: Path
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="creds"), string_data={"token": "s3cr3t"}
        ),
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "fast"}),
    )
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {
            "name": "MISSING_OPTIONAL",
            "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": True}},
        },
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "GREETING", "value": "hi-$(MODE)"},
        {"name": "LITERAL", "value": "$$(MODE)-$(UNDEFINED)"},
    ]
    keys = [
        "TOKEN", "MODE", "MISSING_OPTIONAL", "POD_NS", "POD_NAME", "GREETING", "LITERAL",
        "SHARED", "FT_PATH_MAP", "KUBECONFIG",
    ]  # fmt: skip
    script = (
        "import json, os; "
        f"open(os.environ['FT_TERMINATION_LOG'], 'w').write(json.dumps("
        f"{{k: os.environ.get(k) for k in {keys!r}}}))"
    )
    name = _create_job(api, namespace, _job(_name("env"), script, env=env))

    outcome, job = _wait_job(api, namespace, name)

    assert outcome == "Complete", job["status"]
    pod = _only_pod(api, namespace, name)
    seen = json.loads(_terminated(pod)["message"])
    assert seen == {
        "TOKEN": "s3cr3t",
        "MODE": "fast",
        "MISSING_OPTIONAL": None,
        "POD_NS": namespace,
        "POD_NAME": pod["metadata"]["name"],
        "GREETING": "hi-fast",
        "LITERAL": "$(MODE)-$(UNDEFINED)",
        "FT_PATH_MAP": json.dumps({SHARED_MOUNT: str(shared_dir)}),
        "KUBECONFIG": None,  # only PATH, HOME, locale ... of the test process are inherited
        "SHARED": str(shared_dir),  # the mount path /shared, rewritten by the path map
    }


def test_missing_secret_is_a_create_container_config_error_until_it_exists(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "later", "key": "token"}}}]
    script = "import os; open(os.environ['FT_TERMINATION_LOG'], 'w').write(os.environ['TOKEN'])"
    name = _create_job(api, namespace, _job(_name("cfg"), script, env=env))

    def config_error(p: dict[str, Any]) -> bool:
        waiting = p["status"]["containerStatuses"][0]["state"].get("waiting") or {}
        return waiting.get("reason") == "CreateContainerConfigError"

    pod = kubelet.wait_for_pod(config_error, timeout=JOB_TIMEOUT)
    assert pod["status"]["phase"] == "Pending"
    assert 'secret "later" not found' in pod["status"]["containerStatuses"][0]["state"][
        "waiting"
    ].get("message", "")
    assert kubelet.started_pods() == []

    client.CoreV1Api(api).create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="later"), string_data={"token": "t"}),
    )
    outcome, job = _wait_job(api, namespace, name)
    assert outcome == "Complete", job["status"]
    assert _terminated(_only_pod(api, namespace, name))["message"] == "t"


def test_active_deadline_kills_a_sleeping_pod(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, shared_dir: Path
) -> None:
    script = WRITE_PID + "time.sleep(120)"
    job = _create_job(api, namespace, _job(_name("slow"), script, active_deadline=2))

    outcome, status = _wait_job(api, namespace, job)

    assert outcome == "Failed", status["status"]
    pod = _only_pod(api, namespace, job)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert "deadline" in pod["status"]["message"]
    assert _terminated(pod)["exitCode"] != 0
    pid = int((shared_dir / f"{pod['metadata']['name']}.pid").read_text())
    assert not _alive(pid)


def test_evict_fails_the_pod_and_the_job(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, shared_dir: Path
) -> None:
    job = _create_job(api, namespace, _job(_name("evict"), WRITE_PID + "time.sleep(120)"))
    pod_name = _running_pod_of(kubelet, job)["metadata"]["name"]
    pid = int(_wait_for_file(shared_dir / f"{pod_name}.pid"))

    kubelet.evict(namespace, pod_name)

    assert not _alive(pid)
    outcome, status = _wait_job(api, namespace, job)
    assert outcome == "Failed", status["status"]
    pod = _only_pod(api, namespace, job)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "Evicted"
    assert pod["status"]["message"] == "The node was low on resource: memory."


def test_oom_kill_reports_oomkilled(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    job = _create_job(api, namespace, _job(_name("oom"), "import time; time.sleep(120)"))
    pod_name = _running_pod_of(kubelet, job)["metadata"]["name"]

    kubelet.oom_kill(namespace, pod_name)

    outcome, status = _wait_job(api, namespace, job)
    assert outcome == "Failed", status["status"]
    terminated = _terminated(_only_pod(api, namespace, job))
    assert terminated["reason"] == "OOMKilled"
    assert terminated["exitCode"] == 137


def test_two_jobs_run_at_the_same_time(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    # Each process creates its own file, then waits for the other's: both must be running.
    script = (
        "import os, sys, time; "
        "d = os.environ['SHARED']; me, other = os.environ['ME'], os.environ['OTHER']; "
        "open(os.path.join(d, me), 'w').write('x'); "
        "end = time.monotonic() + 30; "
        "ok = False\n"
        "while time.monotonic() < end:\n"
        "    if os.path.exists(os.path.join(d, other)):\n"
        "        ok = True\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "sys.exit(0 if ok else 7)"
    )
    names = [_name("a"), _name("b")]
    for me, other in (("a", "b"), ("b", "a")):
        env = [{"name": "ME", "value": me}, {"name": "OTHER", "value": other}]
        job = _job(names[0] if me == "a" else names[1], script, env=env)
        _create_job(api, namespace, job)

    for name in names:
        outcome, job = _wait_job(api, namespace, name)
        assert outcome == "Complete", job["status"]
    assert len(kubelet.started_pods()) == 2


def test_deleting_the_job_kills_its_running_pod(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, shared_dir: Path
) -> None:
    job = _create_job(api, namespace, _job(_name("del"), WRITE_PID + "time.sleep(120)"))
    pod_name = _running_pod_of(kubelet, job)["metadata"]["name"]
    pid = int(_wait_for_file(shared_dir / f"{pod_name}.pid"))

    client.BatchV1Api(api).delete_namespaced_job(
        job, namespace, propagation_policy="Background", _preload_content=False
    )

    # The garbage collector deletes the pod gracefully; the kubelet kills and finalizes it.
    deadline = time.monotonic() + JOB_TIMEOUT
    while _job_pods(api, namespace, job):
        assert time.monotonic() < deadline, "pod not deleted"
        time.sleep(0.2)
    assert not _alive(pid)


def test_pause_keeps_pods_pending_until_resume(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    kubelet.pause()
    job = _create_job(api, namespace, _job(_name("paused"), "pass"))
    pod = kubelet.wait_for_pod(lambda p: p["metadata"]["labels"].get("job-name") == job)
    time.sleep(1.0)
    pod = _only_pod(api, namespace, job)
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    assert kubelet.started_pods() == []

    kubelet.resume()

    outcome, status = _wait_job(api, namespace, job)
    assert outcome == "Complete", status["status"]


def test_watch_reconnects_and_the_node_heartbeats(
    cluster: LocalCluster, api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    before = _child_pids()
    kubelet = _start_kubelet(
        cluster, namespace, tmp_path, tmp_path / "shared", watch_timeout=1, heartbeat_interval=1
    )
    try:
        beat = _heartbeat(api)
        time.sleep(3.0)  # several watch requests end and are reopened; the node heartbeats
        assert _heartbeat(api) > beat
        job = _create_job(api, namespace, _job(_name("rewatch"), "pass"))
        outcome, status = _wait_job(api, namespace, job)
        assert outcome == "Complete", status["status"]
    finally:
        kubelet.stop()
    assert kubelet.errors() == []
    assert _child_pids() - before == set()
    assert _kubelet_threads() == []


def _with_companion(job: dict[str, Any], script: str) -> dict[str, Any]:
    spec = job["spec"]["template"]["spec"]
    main = spec["containers"][0]
    spec["containers"].append({**main, "name": "side", "command": ["python", "-c", script]})
    return job


def _statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod["status"]["containerStatuses"]}


def test_a_pods_further_containers_run_beside_the_first_and_end_it_with_it(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, shared_dir: Path
) -> None:
    main = "import os; open(os.path.join(os.environ['SHARED'], 'main.done'), 'w').write('1')"
    side = (
        "import os, time\n"
        "path = os.path.join(os.environ['SHARED'], 'main.done')\n"
        "while not os.path.exists(path): time.sleep(0.05)\n"
        "time.sleep(1)\n"
        "print('side saw main finish')\n"
        "open(os.path.join(os.environ['SHARED'], 'side.done'), 'w').write('1')\n"
    )
    job = _create_job(api, namespace, _with_companion(_job(_name("two"), main), side))

    outcome, status = _wait_job(api, namespace, job)

    assert outcome == "Complete", status["status"]
    assert (shared_dir / "side.done").exists()  # the pod ended only after its second container
    pod = _only_pod(api, namespace, job)
    statuses = _statuses(pod)
    assert statuses["main"]["state"]["terminated"]["exitCode"] == 0
    assert statuses["side"]["state"]["terminated"]["exitCode"] == 0
    logs = kubelet.logs(namespace, pod["metadata"]["name"], container="side")
    assert "side saw main finish" in logs


def test_a_failing_further_container_fails_the_pod(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet
) -> None:
    job = _create_job(
        api, namespace, _with_companion(_job(_name("side-fails"), "pass"), "raise SystemExit(3)")
    )

    outcome, status = _wait_job(api, namespace, job)

    assert outcome == "Failed", status["status"]
    statuses = _statuses(_only_pod(api, namespace, job))
    assert statuses["main"]["state"]["terminated"]["exitCode"] == 0
    assert statuses["side"]["state"]["terminated"]["exitCode"] == 3


def test_evicting_a_pod_kills_its_further_containers(
    api: client.ApiClient, namespace: str, kubelet: TestKubelet, shared_dir: Path
) -> None:
    side = (
        "import os, time; "
        "open(os.path.join(os.environ['SHARED'], 'side.pid'), 'w').write(str(os.getpid())); "
        "time.sleep(120)"
    )
    job = _create_job(
        api,
        namespace,
        _with_companion(_job(_name("evict2"), WRITE_PID + "time.sleep(120)"), side),
    )
    pod_name = _running_pod_of(kubelet, job)["metadata"]["name"]
    side_pid = int(_wait_for_file(shared_dir / "side.pid"))

    kubelet.evict(namespace, pod_name)

    outcome, _ = _wait_job(api, namespace, job)
    assert outcome == "Failed"
    assert not _alive(side_pid)
