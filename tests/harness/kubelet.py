"""A fake kubelet for the real-cluster tests: the Pods of Jobs run as local processes.

With ``LocalCluster(controllers=(..., "job"))`` Kubernetes' own Job controller creates the Pods
of a Job and keeps the Job's status from the Pods' phases. :class:`TestKubelet` plays the
scheduler and the node: it registers a Node (Ready, ``nvidia.com/gpu: 8``), watches Pods, binds
each unscheduled Pending Pod to its node (``pods/binding``), turns the Pod into a local command
with a test-supplied ``runner`` and writes the Pod's status through ``pods/status`` the way a
kubelet does (Running, then Succeeded or Failed with the container's exit code and termination
message)::

    def runner(pod: PodSpecView) -> Command:
        return Command(argv=[sys.executable, "-c", pod.args[0]], env=pod.env)

    with TestKubelet(cluster.api_client, runner=runner, workdir=tmp_path) as kubelet:
        ...  # create Jobs; they really run

What a container sees: the environment resolved from the Pod spec (literal values, Secret and
ConfigMap keys, a few ``fieldRef`` paths, ``envFrom``; ``$(VAR)`` references expanded), some
variables of the test process (``PATH``, ``HOME``, locale; see ``DEFAULT_INHERITED_ENV``),
``HOSTNAME`` (the pod name) and ``FT_TERMINATION_LOG``, a local file that stands in for the
container's ``terminationMessagePath``. ``Command.path_map`` maps mount paths of the Pod to
local folders: the folders are created, mount paths in the arguments (not in argv[0], the
program on this machine) and in env values are rewritten (where they start a path, e.g.
``/workspace/x``, ``--out=/workspace``, inside JSON) and the map is exported as
``FT_PATH_MAP`` (JSON). Stdout and stderr go to a log (:meth:`logs`).

Like the real kubelet it enforces the Pod's ``activeDeadlineSeconds`` (reason
``DeadlineExceeded``), reports missing Secrets/ConfigMaps as ``CreateContainerConfigError``
(the Pod stays Pending and is retried), restarts containers for ``restartPolicy: OnFailure``,
and completes graceful deletions (kill, then delete with grace period 0). Faults for tests:
:meth:`evict`, :meth:`oom_kill`, :meth:`pause` / :meth:`resume`.

Further containers of a Pod (e.g. the agent pod's ``scripts`` container) run beside the first
one, each through the ``runner`` (``PodSpecView.container_name`` tells them apart), with its own
log (:meth:`logs` with ``container=``); the Pod ends when all have exited, and is Failed when
any failed. They are not restarted and have no termination message.

Limits: init containers do not run, companions are not restarted, images are ignored (the
runner decides what runs), resources are not enforced, node selectors, taints and affinity are
ignored, and probes do not exist.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from harness.cluster import _set_pdeathsig

log = logging.getLogger(__name__)

TERMINATION_LOG_ENV = "FT_TERMINATION_LOG"
"""The env var that points the process at its stand-in for ``terminationMessagePath``."""
PATH_MAP_ENV = "FT_PATH_MAP"
"""The env var holding ``Command.path_map`` as JSON ``{mount path: local folder}``."""
MAX_MESSAGE_BYTES = 4096
"""The kubelet keeps this many bytes of a termination message."""
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
"""``FallbackToLogsOnError``: the kubelet's tail of the log (lines, bytes)."""
HOST_IP = "127.0.0.1"

EVICTED_MESSAGE = "The node was low on resource: memory."
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"

DEFAULT_CAPACITY: Mapping[str, str] = {
    "cpu": "16",
    "memory": "128Gi",
    "pods": "110",
    "ephemeral-storage": "100Gi",
    "nvidia.com/gpu": "8",
}
DEFAULT_INHERITED_ENV: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
)
"""Variables of the test process a container gets too (``*`` ends a prefix)."""

# Why a container was (or is to be) killed.
_DELETED = "deleted"  # graceful deletion or the object is gone: no status is written
_STOPPED = "stopped"  # the kubelet stops: no status is written
_EVICTED = "evicted"
_OOM = "oom"
_DEADLINE = "deadline"


class KubeletError(RuntimeError):
    """The fake kubelet could not start or do what was asked."""


class VolumeMount(NamedTuple):
    """One volume mount of the container: ``(mount_path, name, read_only)``."""

    mount_path: str
    name: str
    read_only: bool


@dataclass(frozen=True)
class PodSpecView:
    """What a ``runner`` needs to know about a Pod and its (first) container."""

    namespace: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    image: str
    command: tuple[str, ...]
    """The container's ``command``, ``$(VAR)`` references expanded (empty: the image's)."""
    args: tuple[str, ...]
    """The container's ``args``, ``$(VAR)`` references expanded."""
    env: dict[str, str]
    """The container's environment as the kubelet resolves it (``envFrom``, then ``env``)."""
    termination_message_path: str
    volume_mounts: tuple[VolumeMount, ...]
    uid: str = ""
    container_name: str = ""
    working_dir: str | None = None
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The Pod's volumes by name, as in the Pod spec (e.g. ``{"persistentVolumeClaim": ...}``)."""
    resources: dict[str, Any] = field(default_factory=dict)
    """The container's ``resources`` (``limits``/``requests``) as in the Pod spec."""
    pod: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The whole Pod as JSON, for anything else."""


@dataclass(frozen=True)
class Command:
    """What to run for a Pod: argv, its environment, working folder and mount-path map."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    """Working folder; default: a fresh folder for the Pod under the kubelet's workdir."""
    path_map: Mapping[str, Path] = field(default_factory=dict)
    """In-pod mount path -> local folder (created; used to rewrite argv and env values)."""


class _ConfigError(Exception):
    """The container's configuration cannot be made (CreateContainerConfigError)."""


@dataclass(eq=False)
class _Companion:
    """A further container of the Pod (a sidecar such as the agent pod's ``scripts``)."""

    name: str
    image: str
    popen: subprocess.Popen[bytes]
    started_at: str
    exit_code: int | None = None
    finished_at: str | None = None

    def status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.exit_code is None:
            state = {"running": {"startedAt": self.started_at}}
        else:
            state = {
                "terminated": {
                    "exitCode": self.exit_code,
                    "reason": "Completed" if self.exit_code == 0 else "Error",
                    "startedAt": self.started_at,
                    "finishedAt": self.finished_at,
                    "containerID": f"test://{self.popen.pid}",
                }
            }
        return {
            "name": self.name,
            "image": self.image,
            "imageID": f"test://{self.image}",
            "ready": self.exit_code is None,
            "started": self.exit_code is None,
            "restartCount": 0,
            "state": state,
            "lastState": {},
            "containerID": f"test://{self.popen.pid}",
        }


@dataclass(eq=False)
class _PodRun:
    namespace: str
    name: str
    uid: str
    pod: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    popen: subprocess.Popen[bytes] | None = None
    kill_reason: str | None = None
    kill_grace: float = 0.0
    no_status: bool = False  # deleted or stopped: write no more status
    finalize_delete: bool = False  # graceful deletion pending: delete with grace period 0
    gone: bool = False  # the object is deleted
    wake: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    pod_dir: Path | None = None
    companions: list[_Companion] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand_vars(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR_REF.sub(sub, value)


def _path_rewriter(path_map: Mapping[str, Path]) -> Callable[[str], str]:
    if not path_map:
        return lambda value: value
    mounts: dict[str, str] = {}
    for mount, local in path_map.items():
        key = mount.rstrip("/")
        if not key.startswith("/"):
            raise ValueError(f"path_map: mount path {mount!r} is not absolute (or is /)")
        mounts[key] = str(local)
    alternatives = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.\-/])(?:{alternatives})(?![\w.\-])")
    return lambda value: pattern.sub(lambda m: mounts[m.group(0)], value)


def _inherited_env(names: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in names:
        if spec.endswith("*"):
            out.update({k: v for k, v in os.environ.items() if k.startswith(spec[:-1])})
        elif spec in os.environ:
            out[spec] = os.environ[spec]
    return out


class TestKubelet:
    """A thread-based fake node: binds Pending Pods to itself and runs them locally.

    ``api_client_factory`` makes ``kubernetes.client.ApiClient`` objects (e.g.
    ``LocalCluster.api_client``); ``runner`` maps a :class:`PodSpecView` to the
    :class:`Command` to run; ``workdir`` receives a folder per Pod (log, termination
    message, default working folder). ``namespaces``: watch only these (default: all).
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        api_client_factory: Callable[[], client.ApiClient],
        *,
        runner: Callable[[PodSpecView], Command],
        workdir: Path,
        node_name: str = "test-node",
        namespaces: Iterable[str] | None = None,
        capacity: Mapping[str, str] | None = None,
        node_labels: Mapping[str, str] | None = None,
        max_workers: int = 16,
        heartbeat_interval: float = 10.0,
        kill_grace: float = 2.0,
        restart_delay: float = 1.0,
        config_retry_interval: float = 1.0,
        inherit_env: Iterable[str] = DEFAULT_INHERITED_ENV,
        request_timeout: float = 30.0,
        watch_timeout: int = 300,
    ) -> None:
        self.api_client_factory = api_client_factory
        self.runner = runner
        self.workdir = Path(workdir)
        self.node_name = node_name
        self.namespaces: tuple[str, ...] | None = (
            tuple(namespaces) if namespaces is not None else None
        )
        if self.namespaces is not None and not self.namespaces:
            raise ValueError("namespaces: give at least one, or None for all")
        self.capacity = dict(DEFAULT_CAPACITY if capacity is None else capacity)
        self.node_labels = dict(node_labels or {})
        self.max_workers = max_workers
        self.heartbeat_interval = heartbeat_interval
        self.kill_grace = kill_grace
        self.restart_delay = restart_delay
        self.config_retry_interval = config_retry_interval
        self.inherit_env = tuple(inherit_env)
        self.request_timeout = request_timeout
        self.watch_timeout = watch_timeout

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._paused = False
        self._started = False
        self._stopped = False
        self._cache: dict[str, dict[str, Any]] = {}  # uid -> latest Pod seen
        self._history: deque[tuple[int, dict[str, Any]]] = deque(maxlen=10_000)
        self._seq = 0
        self._runs: dict[str, _PodRun] = {}  # uid -> run (kept after it ends)
        self._finalizing: set[str] = set()
        self._started_names: list[str] = []
        self._errors: list[str] = []
        self._clients: list[client.ApiClient] = []
        self._api: client.ApiClient | None = None
        self._responses: set[Any] = set()
        self._threads: list[threading.Thread] = []
        self._synced: dict[str, threading.Event] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._housekeeping: ThreadPoolExecutor | None = None
        self._node_transition = _now()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        """Register the Node, start watching Pods; return once the first list is done."""
        if self._started:
            raise KubeletError("TestKubelet can be started only once")
        self._started = True
        atexit.register(self.stop)
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._api = self._new_client()
            self._executor = ThreadPoolExecutor(
                self.max_workers, thread_name_prefix=f"kubelet-{self.node_name}-pod"
            )
            self._housekeeping = ThreadPoolExecutor(
                2, thread_name_prefix=f"kubelet-{self.node_name}-gc"
            )
            self._register_node()
            scopes: list[str] = list(self.namespaces) if self.namespaces is not None else [""]
            for scope in scopes:
                self._synced[scope] = threading.Event()
                self._spawn_thread(f"watch-{scope or 'all'}", self._watch_loop, scope)
            self._spawn_thread("heartbeat", self._heartbeat_loop)
            deadline = time.monotonic() + timeout
            for scope, synced in self._synced.items():
                if not synced.wait(max(0.0, deadline - time.monotonic())):
                    raise KubeletError(
                        f"pod watch ({scope or 'all namespaces'}) not synced within"
                        f" {timeout:g} s; errors: {self.errors() or 'none'}"
                    )
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Kill every process, stop all threads and close the API clients (no status writes)."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._stop.set()
        with self._lock:
            self._paused = True
            runs = [r for r in self._runs.values() if not r.done.is_set()]
            responses = list(self._responses)
        for run in runs:
            self._request_kill(run, _STOPPED, grace=0.0)
        for resp in responses:
            self._shutdown_response(resp)
        deadline = time.monotonic() + timeout
        for executor in (self._executor, self._housekeeping):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        for run in runs:  # queued but never started: nothing waits on them any more
            run.done.set()
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            if thread.is_alive():
                self._error(f"thread {thread.name} did not stop within {timeout:g} s")
        for api in self._clients:
            with contextlib.suppress(Exception):
                api.close()
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ public helpers

    def pause(self) -> None:
        """Stop picking up new Pods (they stay Pending and unbound); running ones go on."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Pick up Pods again, including those that arrived while paused."""
        with self._lock:
            if self._stop.is_set():
                raise KubeletError("TestKubelet is stopped")
            self._paused = False
            for pod in list(self._cache.values()):
                self._consider(pod)

    @property
    def paused(self) -> bool:
        return self._paused

    def started_pods(self) -> list[str]:
        """Names of the Pods whose process was started, in start order."""
        with self._lock:
            return list(self._started_names)

    def errors(self) -> list[str]:
        """Internal errors so far (also logged): an empty list in a healthy run."""
        with self._lock:
            return list(self._errors)

    def logs(self, namespace: str, pod_name: str, container: str | None = None) -> str:
        """Stdout and stderr of the Pod's first container (of all its restarts), or of the
        named further container."""
        run = self._find_run(namespace, pod_name, active_only=False)
        if run is None or run.pod_dir is None:
            raise KeyError(f"pod {namespace}/{pod_name} was not run by {self.node_name}")
        path = run.pod_dir / ("container.log" if container is None else f"{container}.log")
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def wait_for_pod(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first Pod (JSON, as watched) for which ``predicate`` holds, now or later.

        Every watched version of every Pod counts, so a short-lived state is not missed.
        ``KeyError``/``IndexError`` in the predicate count as False. Raises ``TimeoutError``.
        """
        deadline = time.monotonic() + timeout
        last_exc: BaseException | None = None

        def check(pod: dict[str, Any]) -> bool:
            nonlocal last_exc
            try:
                return bool(predicate(pod))
            except (KeyError, IndexError) as e:
                last_exc = e
                return False

        with self._cond:
            seq = self._seq
            for pod in list(self._cache.values()):
                if check(pod):
                    return pod
            while True:
                oldest = self._history[0][0] if self._history else self._seq + 1
                if oldest > seq + 1:  # history overflowed: fall back to the latest versions
                    for pod in list(self._cache.values()):
                        if check(pod):
                            return pod
                for s, pod in list(self._history):
                    if s > seq:
                        seq = s
                        if check(pod):
                            return pod
                seq = max(seq, self._seq)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no pod matched within {timeout:g} s"
                        + (f" (last predicate error: {last_exc!r})" if last_exc else "")
                        + (f"; kubelet errors: {self._errors}" if self._errors else "")
                    )
                self._cond.wait(min(remaining, 1.0))

    def evict(self, namespace: str, pod_name: str, timeout: float = 30.0) -> None:
        """Kill the Pod's process and mark it Failed/Evicted, as the eviction manager does."""
        self._fault(namespace, pod_name, _EVICTED, timeout)

    def oom_kill(self, namespace: str, pod_name: str, timeout: float = 30.0) -> None:
        """SIGKILL the Pod's process and report the container as OOMKilled (exit code 137)."""
        self._fault(namespace, pod_name, _OOM, timeout)

    # ------------------------------------------------------------------ faults

    def _fault(self, namespace: str, pod_name: str, reason: str, timeout: float) -> None:
        run = self._find_run(namespace, pod_name, active_only=True)
        if run is not None:
            self._request_kill(run, reason, grace=0.0)
            if not run.done.wait(timeout):
                raise TimeoutError(f"pod {namespace}/{pod_name}: not finished in {timeout:g} s")
            return
        # Not running here (e.g. Pending while paused): write the status directly.
        pod = self._call(client.CoreV1Api(self._api).read_namespaced_pod, pod_name, namespace)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise KubeletError(f"pod {namespace}/{pod_name} has finished already ({phase})")
        container = self._first_container(pod)
        now = _now()
        terminated = {"exitCode": 137, "reason": "OOMKilled" if reason == _OOM else "Error"}
        terminated |= {"startedAt": now, "finishedAt": now}
        status = self._status(
            pod,
            container,
            phase="Failed",
            state={"terminated": terminated},
            ready=False,
            reason="Evicted" if reason == _EVICTED else None,
            message=EVICTED_MESSAGE if reason == _EVICTED else None,
            start_time=(pod.get("status") or {}).get("startTime") or now,
        )
        self._patch_status(namespace, pod_name, status)

    def _find_run(self, namespace: str, pod_name: str, *, active_only: bool) -> _PodRun | None:
        with self._lock:
            found = [
                r
                for r in self._runs.values()
                if r.namespace == namespace
                and r.name == pod_name
                and not (active_only and r.done.is_set())
            ]
        return found[-1] if found else None

    def _request_kill(self, run: _PodRun, reason: str, grace: float) -> None:
        with run.lock:
            if reason in (_DELETED, _STOPPED):
                run.no_status = True
            if run.kill_reason is None:
                run.kill_reason = reason
                run.kill_grace = grace
            else:
                run.kill_grace = min(run.kill_grace, grace)
        run.wake.set()

    # ------------------------------------------------------------------ API plumbing

    def _new_client(self) -> client.ApiClient:
        api = self.api_client_factory()
        with self._lock:
            self._clients.append(api)
        return api

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a client method without model deserialisation; the JSON body (or None)."""
        kwargs.setdefault("_request_timeout", self.request_timeout)
        resp = fn(*args, _preload_content=False, **kwargs)
        try:
            data = resp.data
        finally:
            with contextlib.suppress(Exception):
                resp.release_conn()
        return json.loads(data) if data else None

    def _error(self, message: str) -> None:
        log.error("TestKubelet %s: %s", self.node_name, message)
        with self._cond:
            self._errors.append(message)
            self._cond.notify_all()

    def _spawn_thread(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def main() -> None:
            try:
                target(*args)
            except Exception as e:  # a dead loop must be visible, not a silent hang
                log.exception("TestKubelet %s: thread %s died", self.node_name, name)
                self._error(f"thread {name} died: {e!r}")

        thread = threading.Thread(target=main, name=f"kubelet-{self.node_name}-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    @staticmethod
    def _shutdown_response(resp: Any) -> None:
        shutdown = getattr(resp, "shutdown", None)  # urllib3 >= 2.3: unblocks a reader
        with contextlib.suppress(Exception):
            if shutdown is not None:
                shutdown()
            else:
                resp.close()

    # ------------------------------------------------------------------ node

    def _node_status(self) -> dict[str, Any]:
        now = _now()
        t0 = self._node_transition

        def cond(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": t0,
            }

        return {
            "capacity": dict(self.capacity),
            "allocatable": dict(self.capacity),
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "sufficient memory"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "sufficient PID"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": HOST_IP},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "test",
                "systemUUID": "test",
                "bootID": "test",
                "kernelVersion": os.uname().release,
                "osImage": "TestKubelet",
                "containerRuntimeVersion": "test://1",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def _register_node(self) -> None:
        core = client.CoreV1Api(self._api)
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **self.node_labels,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node_name, "labels": labels},
            "spec": {},
        }
        try:
            self._call(core.create_node, body)
        except ApiException as e:
            if e.status != 409:
                raise
            self._call(
                core.patch_node,
                self.node_name,
                {"metadata": {"labels": labels}, "spec": {"unschedulable": None, "taints": None}},
                _content_type="application/merge-patch+json",
            )
        self._patch_node_status()

    def _patch_node_status(self) -> None:
        self._call(
            client.CoreV1Api(self._api).patch_node_status,
            self.node_name,
            {"status": self._node_status()},
            _content_type="application/merge-patch+json",
        )

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            try:
                self._patch_node_status()
            except Exception as e:
                if self._stop.is_set():
                    return
                log.exception("TestKubelet %s: node heartbeat failed", self.node_name)
                self._error(f"node heartbeat failed: {e!r}")

    # ------------------------------------------------------------------ watch

    def _watch_loop(self, scope: str) -> None:
        api = self._new_client()
        core = client.CoreV1Api(api)
        resource_version: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    if scope:
                        listed = self._call(core.list_namespaced_pod, scope)
                    else:
                        listed = self._call(core.list_pod_for_all_namespaces)
                    resource_version = listed["metadata"]["resourceVersion"]
                    self._relist(scope, listed.get("items") or [])
                    self._synced[scope].set()
                resource_version = self._watch_once(core, scope, resource_version)
                failures = 0
            except Exception as e:
                if self._stop.is_set():
                    return
                if isinstance(e, ApiException) and e.status == 410:
                    resource_version = None  # expired: list again
                    continue
                failures += 1
                log.warning("TestKubelet %s: pod watch (%s) failed: %r", self.node_name, scope, e)
                if failures >= 3:
                    self._error(f"pod watch ({scope or 'all'}) failed {failures} times: {e!r}")
                resource_version = None
                self._stop.wait(min(5.0, 0.2 * 2**failures))

    def _watch_once(self, core: client.CoreV1Api, scope: str, rv: str) -> str | None:
        """Follow one watch request; the resourceVersion to go on from (None: list again)."""
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": rv,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self.watch_timeout,
            "_preload_content": False,
            "_request_timeout": (10, self.watch_timeout + 30),
        }
        if scope:
            resp = core.list_namespaced_pod(scope, **kwargs)
        else:
            resp = core.list_pod_for_all_namespaces(**kwargs)
        with self._lock:
            self._responses.add(resp)
        try:
            if self._stop.is_set():
                return rv
            for line in iter_resp_lines(resp):
                if self._stop.is_set():
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise KubeletError(f"watch error: {obj}")
                rv = obj.get("metadata", {}).get("resourceVersion") or rv
                if kind == "BOOKMARK":
                    continue
                self._on_event(kind, obj)
            return rv
        finally:
            with self._lock:
                self._responses.discard(resp)
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _relist(self, scope: str, items: list[dict[str, Any]]) -> None:
        listed = {p["metadata"]["uid"] for p in items}
        with self._lock:
            vanished = [
                pod
                for uid, pod in self._cache.items()
                if uid not in listed and (not scope or pod["metadata"]["namespace"] == scope)
            ]
        for pod in vanished:
            self._on_event("DELETED", pod)
        for pod in items:
            self._on_event("MODIFIED", pod)

    def _on_event(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self._cond:
            if kind == "DELETED":
                self._cache.pop(uid, None)
            else:
                self._cache[uid] = pod
            self._seq += 1
            self._history.append((self._seq, pod))
            self._cond.notify_all()
            run = self._runs.get(uid)
            if run is not None and kind != "DELETED":
                run.pod = pod
            if kind == "DELETED":
                if run is not None and not run.done.is_set():
                    with run.lock:
                        run.gone = True
                    self._request_kill(run, _DELETED, grace=0.0)
                return
            self._consider(pod)

    def _consider(self, pod: dict[str, Any]) -> None:
        """Decide what to do about a Pod (called with ``self._lock`` held)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        node = spec.get("nodeName") or ""
        run = self._runs.get(uid)
        if self._stop.is_set():
            return
        if meta.get("deletionTimestamp"):
            if run is not None and not run.done.is_set():
                grace = float(meta.get("deletionGracePeriodSeconds") or 0)
                with run.lock:
                    run.finalize_delete = True
                self._request_kill(run, _DELETED, grace=min(grace, self.kill_grace))
            elif node == self.node_name and uid not in self._finalizing:
                # Bound here but not running here (any more): complete the deletion.
                self._finalizing.add(uid)
                assert self._housekeeping is not None
                self._housekeeping.submit(
                    self._guarded, "finalize", self._finalize, meta["namespace"], meta["name"], uid
                )
            return
        if run is not None or self._paused:
            return
        if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
            return
        if node not in ("", self.node_name):
            return
        if not spec.get("containers"):
            return
        run = _PodRun(meta["namespace"], meta["name"], uid, pod)
        self._runs[uid] = run
        assert self._executor is not None
        self._executor.submit(self._run_pod, run)

    def _guarded(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as e:
            if self._stop.is_set():
                return
            log.exception("TestKubelet %s: %s failed", self.node_name, what)
            self._error(f"{what} {args}: {e!r}")

    def _finalize(self, namespace: str, name: str, uid: str) -> None:
        """Delete the Pod with grace period 0, as a kubelet does once its containers are gone."""
        try:
            self._call(
                client.CoreV1Api(self._api).delete_namespaced_pod,
                name,
                namespace,
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
            )
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    # ------------------------------------------------------------------ running a pod

    def _run_pod(self, run: _PodRun) -> None:
        try:
            self._run_pod_inner(run)
        except Exception as e:
            log.exception("TestKubelet %s: pod %s/%s", self.node_name, run.namespace, run.name)
            self._error(f"pod {run.namespace}/{run.name}: {e!r}")
            if not run.no_status and not self._stop.is_set():
                # Fail the pod visibly rather than leave it hanging.
                with contextlib.suppress(Exception):
                    self._write_terminal(
                        run,
                        {"exitCode": 128, "reason": "StartError", "message": f"TestKubelet: {e!r}"},
                        _now(),
                        _now(),
                        0,
                        None,
                    )
        finally:
            for companion in run.companions:
                _killpg(companion.popen.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    companion.popen.wait(5)
            popen = run.popen
            if popen is not None:
                _killpg(popen.pid, signal.SIGKILL)
                if popen.poll() is None:
                    popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(5)
            with run.lock:
                finalize = run.finalize_delete and not run.gone
            if finalize and not self._stop.is_set():
                self._guarded("finalize", self._finalize, run.namespace, run.name, run.uid)
            run.done.set()
            with self._cond:
                self._cond.notify_all()

    def _bind(self, run: _PodRun) -> bool:
        """Bind the Pod to this node; False when it is gone or bound elsewhere."""
        core = client.CoreV1Api(self._api)
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": run.name, "uid": run.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            self._call(core.create_namespaced_pod_binding, run.name, run.namespace, body)
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            if e.status != 409:
                raise
        try:  # 409: bound already (by us on a retry, or by someone else)
            pod = self._call(core.read_namespaced_pod, run.name, run.namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        if pod["metadata"]["uid"] != run.uid:
            return False
        run.pod = pod
        return (pod.get("spec") or {}).get("nodeName") == self.node_name

    def _run_pod_inner(self, run: _PodRun) -> None:
        if not (run.pod.get("spec") or {}).get("nodeName") and not self._bind(run):
            return
        pod = run.pod
        spec = pod.get("spec") or {}
        container = self._first_container(pod)
        if spec.get("initContainers"):
            log.warning(
                "TestKubelet %s: pod %s/%s: init containers do not run",
                self.node_name,
                run.namespace,
                run.name,
            )
        run.pod_dir = self.workdir / "pods" / f"{run.namespace}_{run.name}_{run.uid[:8]}"
        run.pod_dir.mkdir(parents=True, exist_ok=True)
        start_time = (pod.get("status") or {}).get("startTime") or _now()
        t0 = time.monotonic()
        deadline_s = spec.get("activeDeadlineSeconds")
        deadline = t0 + float(deadline_s) if deadline_s is not None else None
        restart_policy = spec.get("restartPolicy") or "Always"

        # Resolve the container's configuration; retry while Secrets/ConfigMaps are missing.
        last_error = ""
        while True:
            if self._check_deadline(run, deadline) or run.kill_reason is not None:
                self._finish_unstarted(run, container, start_time)
                return
            try:
                view = self._view(run.pod, container)
                break
            except _ConfigError as e:
                if str(e) != last_error:
                    last_error = str(e)
                    waiting = {"reason": "CreateContainerConfigError", "message": last_error}
                    self._write_status(
                        run,
                        self._status(
                            run.pod,
                            container,
                            phase="Pending",
                            state={"waiting": waiting},
                            ready=False,
                            start_time=start_time,
                        ),
                    )
                self._sleep(run, self.config_retry_interval, deadline)

        try:
            command = self.runner(view)
            argv, env, cwd = self._prepare(run, view, command)
            self._start_companions(run, spec)
        except Exception as e:
            log.exception("TestKubelet %s: runner failed for %s", self.node_name, run.name)
            now = _now()
            terminated = {"exitCode": 128, "reason": "StartError", "message": f"runner: {e!r}"}
            self._write_terminal(run, terminated, now, now, 0, None, start_time=start_time)
            return

        term_log = run.pod_dir / "termination-log"
        log_path = run.pod_dir / "container.log"
        restart_count = 0
        last_state: dict[str, Any] | None = None
        policy = container.get("terminationMessagePolicy") or "File"
        while True:
            term_log.write_bytes(b"")
            env[TERMINATION_LOG_ENV] = str(term_log)
            popen: subprocess.Popen[bytes] | None = None
            start_error: OSError | None = None
            with run.lock:  # a kill request either precedes the start or sees the process
                if run.kill_reason is None:
                    try:
                        popen = self._spawn(argv, env, cwd, log_path)
                    except OSError as e:
                        start_error = e
                    run.popen = popen
            if start_error is not None:
                now = _now()
                terminated = {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": f"exec {argv[0]!r}: {start_error}",
                }
                self._write_terminal(
                    run, terminated, now, now, restart_count, last_state, start_time=start_time
                )
                return
            if popen is None:
                self._finish_unstarted(run, container, start_time)
                return
            started_at = _now()
            with self._lock:
                if restart_count == 0:
                    self._started_names.append(run.name)
            running = {
                "running": {"startedAt": started_at},
            }
            self._write_status(
                run,
                self._status(
                    run.pod,
                    container,
                    phase="Running",
                    state=running,
                    ready=True,
                    start_time=start_time,
                    restart_count=restart_count,
                    last_state=last_state,
                    container_id=f"test://{popen.pid}",
                ),
            )
            rc = self._wait_process(run, popen, deadline)
            finished_at = _now()
            _killpg(popen.pid, signal.SIGKILL)  # leftovers of the container's process group
            with run.lock:
                reason = run.kill_reason
                no_status = run.no_status
            if no_status:
                return
            exit_code = rc if rc >= 0 else 128 - rc
            message = self._termination_message(term_log, log_path, policy, exit_code)
            terminated = {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": started_at,
                "finishedAt": finished_at,
                "containerID": f"test://{popen.pid}",
            }
            if reason == _OOM:
                terminated |= {"exitCode": 137, "reason": "OOMKilled"}
                exit_code = 137
            if message:
                terminated["message"] = message
            if reason in (_EVICTED, _DEADLINE):
                self._write_terminal(
                    run,
                    terminated,
                    started_at,
                    finished_at,
                    restart_count,
                    last_state,
                    start_time=start_time,
                    pod_reason=reason,
                )
                return
            if restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0):
                with run.lock:
                    if run.kill_reason == _OOM:
                        run.kill_reason = None
                        run.wake.clear()
                restart_count += 1
                last_state = {"terminated": terminated}
                waiting = {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {container['name']}",
                }
                self._write_status(
                    run,
                    self._status(
                        run.pod,
                        container,
                        phase="Running",
                        state={"waiting": waiting},
                        ready=False,
                        start_time=start_time,
                        restart_count=restart_count,
                        last_state=last_state,
                    ),
                )
                self._sleep(run, self.restart_delay, deadline)
                if run.kill_reason is not None:
                    if not run.no_status:
                        self._write_terminal(
                            run,
                            terminated,
                            started_at,
                            finished_at,
                            restart_count - 1,
                            None,
                            start_time=start_time,
                            pod_reason=run.kill_reason,
                        )
                    return
                continue
            self._write_terminal(
                run,
                terminated,
                started_at,
                finished_at,
                restart_count,
                last_state,
                start_time=start_time,
            )
            return

    @staticmethod
    def _spawn(
        argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
    ) -> subprocess.Popen[bytes]:
        """Start one container's process: its own process group (killed whole), stdout and
        stderr appended to its log, killed with the kubelet (``PR_SET_PDEATHSIG``)."""
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_set_pdeathsig,
            )

    def _start_companions(self, run: _PodRun, spec: dict[str, Any]) -> None:
        """Start the Pod's further containers (each through the runner, each its own process
        group and log)."""
        assert run.pod_dir is not None
        for container in (spec.get("containers") or [])[1:]:
            view = self._view(run.pod, container)
            command = self.runner(view)
            name = container["name"]
            argv, env, cwd = self._prepare(run, view, command, default_cwd=f"cwd-{name}")
            popen = self._spawn(argv, env, cwd, run.pod_dir / f"{name}.log")
            run.companions.append(
                _Companion(name, container.get("image") or "", popen, started_at=_now())
            )

    def _finish_companions(self, run: _PodRun, *, kill: bool) -> None:
        """Wait for the further containers to exit (killed at once when the Pod is being
        killed, on the Pod's deadline, or when ``kill``)."""
        for companion in run.companions:
            if companion.exit_code is not None:
                continue
            if kill:
                _killpg(companion.popen.pid, signal.SIGKILL)
            rc = self._wait_process(run, companion.popen, None)
            _killpg(companion.popen.pid, signal.SIGKILL)
            companion.exit_code = rc if rc >= 0 else 128 - rc
            companion.finished_at = _now()

    def _check_deadline(self, run: _PodRun, deadline: float | None) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            self._request_kill(run, _DEADLINE, grace=self.kill_grace)
            return True
        return False

    def _sleep(self, run: _PodRun, seconds: float, deadline: float | None) -> None:
        end = time.monotonic() + seconds
        while not self._check_deadline(run, deadline) and run.kill_reason is None:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            run.wake.wait(min(remaining, 0.2))

    def _wait_process(
        self, run: _PodRun, popen: subprocess.Popen[bytes], deadline: float | None
    ) -> int:
        """Wait for the process; apply kill requests and the deadline (SIGTERM, then SIGKILL)."""
        signalled_at: float | None = None
        killed = False
        while True:
            try:
                return popen.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
            self._check_deadline(run, deadline)
            with run.lock:
                reason, grace = run.kill_reason, run.kill_grace
            if reason is None:
                continue
            now = time.monotonic()
            if signalled_at is None:
                signalled_at = now
                killed = grace <= 0
                _killpg(popen.pid, signal.SIGKILL if killed else signal.SIGTERM)
            elif not killed and now - signalled_at >= grace:
                killed = True
                _killpg(popen.pid, signal.SIGKILL)

    @staticmethod
    def _termination_message(term_log: Path, log_path: Path, policy: str, exit_code: int) -> str:
        message = ""
        if term_log.exists():
            with open(term_log, "rb") as fh:
                message = fh.read(MAX_MESSAGE_BYTES).decode("utf-8", "replace")
        if not message and policy == "FallbackToLogsOnError" and exit_code != 0:
            with contextlib.suppress(OSError):
                lines = log_path.read_bytes().splitlines(keepends=True)[-FALLBACK_LOG_LINES:]
                message = b"".join(lines)[-FALLBACK_LOG_BYTES:].decode("utf-8", "replace")
        return message

    def _finish_unstarted(self, run: _PodRun, container: dict[str, Any], start_time: str) -> None:
        """A kill request came before the process started."""
        with run.lock:
            reason, no_status = run.kill_reason, run.no_status
        if no_status or reason is None:
            return
        now = _now()
        terminated = {"exitCode": 137, "reason": "OOMKilled" if reason == _OOM else "Error"}
        self._write_terminal(
            run,
            terminated,
            now,
            now,
            0,
            None,
            start_time=start_time,
            pod_reason=reason if reason in (_EVICTED, _DEADLINE) else None,
        )

    def _write_terminal(
        self,
        run: _PodRun,
        terminated: dict[str, Any],
        started_at: str,
        finished_at: str,
        restart_count: int,
        last_state: dict[str, Any] | None,
        *,
        start_time: str | None = None,
        pod_reason: str | None = None,
    ) -> None:
        terminated = {"startedAt": started_at, "finishedAt": finished_at, **terminated}
        reason = message = None
        if pod_reason == _EVICTED:
            reason, message = "Evicted", EVICTED_MESSAGE
        elif pod_reason == _DEADLINE:
            reason, message = "DeadlineExceeded", DEADLINE_MESSAGE
        self._finish_companions(run, kill=pod_reason is not None or terminated["exitCode"] != 0)
        failed = any(c.exit_code != 0 for c in run.companions)
        phase = (
            "Succeeded"
            if terminated["exitCode"] == 0 and reason is None and not failed
            else "Failed"
        )
        container = self._first_container(run.pod)
        self._write_status(
            run,
            self._status(
                run.pod,
                container,
                phase=phase,
                state={"terminated": terminated},
                ready=False,
                reason=reason,
                message=message,
                start_time=start_time or _now(),
                restart_count=restart_count,
                last_state=last_state,
                container_id=terminated.get("containerID"),
            ),
        )

    # ------------------------------------------------------------------ status

    @staticmethod
    def _first_container(pod: dict[str, Any]) -> dict[str, Any]:
        containers = (pod.get("spec") or {}).get("containers") or []
        if not containers:
            raise KubeletError(f"pod {pod['metadata']['name']} has no containers")
        return containers[0]

    def _status(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        *,
        phase: str,
        state: dict[str, Any],
        ready: bool,
        start_time: str,
        reason: str | None = None,
        message: str | None = None,
        restart_count: int = 0,
        last_state: dict[str, Any] | None = None,
        container_id: str | None = None,
    ) -> dict[str, Any]:
        """A full Pod status as a kubelet computes it (sent as a JSON merge patch)."""
        now = _now()
        previous = {c.get("type"): c for c in ((pod.get("status") or {}).get("conditions") or [])}

        def cond(type_: str, status: str, why: str | None = None, msg: str | None = None) -> Any:
            old = previous.get(type_) or {}
            out: dict[str, Any] = {
                "type": type_,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": old.get("lastTransitionTime")
                if old.get("status") == status
                else now,
            }
            if why:
                out["reason"] = why
            if msg:
                out["message"] = msg
            return out

        if ready:
            ready_conds = [cond("Ready", "True"), cond("ContainersReady", "True")]
        elif phase == "Succeeded":
            ready_conds = [
                cond("Ready", "False", "PodCompleted"),
                cond("ContainersReady", "False", "PodCompleted"),
            ]
        else:
            msg = f"containers with unready status: [{container['name']}]"
            ready_conds = [
                cond("Ready", "False", "ContainersNotReady", msg),
                cond("ContainersReady", "False", "ContainersNotReady", msg),
            ]
        image = container.get("image") or ""
        container_status: dict[str, Any] = {
            "name": container["name"],
            "image": image,
            "imageID": f"test://{image}",
            "ready": ready,
            "started": "running" in state,
            "restartCount": restart_count,
            "state": state,
            "lastState": last_state or {},
        }
        if container_id:
            container_status["containerID"] = container_id
        return {
            "phase": phase,
            "reason": reason,
            "message": message,
            "hostIP": HOST_IP,
            "podIP": HOST_IP,
            "podIPs": [{"ip": HOST_IP}],
            "startTime": start_time,
            "conditions": [
                cond("Initialized", "True"),
                *ready_conds,
                cond("PodScheduled", "True"),
            ],
            "containerStatuses": [container_status],
        }

    def _write_status(self, run: _PodRun, status: dict[str, Any]) -> None:
        with run.lock:
            if run.no_status:
                return
        if run.companions:
            status["containerStatuses"] = [
                *status["containerStatuses"],
                *(c.status() for c in run.companions),
            ]
        self._patch_status(run.namespace, run.name, status, uid=run.uid)

    def _patch_status(
        self, namespace: str, name: str, status: dict[str, Any], uid: str | None = None
    ) -> None:
        body: dict[str, Any] = {"status": status}
        if uid:
            body["metadata"] = {"uid": uid}  # a precondition: not a new pod of the same name
        core = client.CoreV1Api(self._api)
        for attempt in range(4):
            try:
                self._call(
                    core.patch_namespaced_pod_status,
                    name,
                    namespace,
                    body,
                    _content_type="application/merge-patch+json",
                )
                return
            except ApiException as e:
                if e.status in (404, 409) and uid:
                    log.info("TestKubelet: pod %s/%s gone, status not written", namespace, name)
                    return
                if attempt == 3 or (e.status and e.status < 500 and e.status != 429):
                    raise
            except Exception:
                if attempt == 3 or self._stop.is_set():
                    raise
            time.sleep(0.2 * 2**attempt)

    # ------------------------------------------------------------------ container config

    def _view(self, pod: dict[str, Any], container: dict[str, Any]) -> PodSpecView:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        env = self._resolve_env(pod, container)
        mounts = tuple(
            VolumeMount(m["mountPath"], m["name"], bool(m.get("readOnly", False)))
            for m in container.get("volumeMounts") or []
        )
        volumes = {
            v["name"]: {k: val for k, val in v.items() if k != "name"}
            for v in spec.get("volumes") or []
        }
        return PodSpecView(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            container_name=container["name"],
            image=container.get("image") or "",
            command=tuple(expand_vars(c, env) for c in container.get("command") or []),
            args=tuple(expand_vars(a, env) for a in container.get("args") or []),
            env=env,
            termination_message_path=container.get("terminationMessagePath")
            or "/dev/termination-log",
            volume_mounts=mounts,
            working_dir=container.get("workingDir") or None,
            volumes=volumes,
            resources=dict(container.get("resources") or {}),
            pod=pod,
        )

    def _read_source(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """The decoded data of a Secret or ConfigMap; None when it does not exist."""
        core = client.CoreV1Api(self._api)
        read = core.read_namespaced_secret if kind == "Secret" else core.read_namespaced_config_map
        try:
            obj = self._call(read, name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        if kind == "Secret":
            return {
                k: base64.b64decode(v).decode("utf-8", "replace")
                for k, v in (obj.get("data") or {}).items()
            }
        data = dict(obj.get("data") or {})
        for k, v in (obj.get("binaryData") or {}).items():
            data[k] = base64.b64decode(v).decode("utf-8", "replace")
        return data

    def _key_ref(self, kind: str, namespace: str, ref: dict[str, Any]) -> str | None:
        name, key = ref.get("name") or "", ref["key"]
        optional = bool(ref.get("optional", False))
        data = self._read_source(kind, namespace, name)
        if data is None:
            if optional:
                return None
            raise _ConfigError(f'{kind.lower()} "{name}" not found')
        if key not in data:
            if optional:
                return None
            raise _ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return data[key]

    @staticmethod
    def _field_ref(pod: dict[str, Any], path: str) -> str:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
        if m:
            return (meta.get(m.group(1)) or {}).get(m.group(2), "")
        simple = {
            "metadata.name": meta.get("name"),
            "metadata.namespace": meta.get("namespace"),
            "metadata.uid": meta.get("uid"),
            "spec.nodeName": spec.get("nodeName"),
            "spec.serviceAccountName": spec.get("serviceAccountName"),
            "status.hostIP": HOST_IP,
            "status.podIP": HOST_IP,
            "status.podIPs": HOST_IP,
        }
        if path not in simple:
            raise _ConfigError(f"fieldRef {path!r} is not supported by TestKubelet")
        return simple[path] or ""

    def _resolve_env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                ref = source.get(key)
                if ref is None:
                    continue
                name = ref.get("name") or ""
                data = self._read_source(kind, namespace, name)
                if data is None:
                    if ref.get("optional"):
                        continue
                    raise _ConfigError(f'{kind.lower()} "{name}" not found')
                env.update({prefix + k: v for k, v in data.items()})
        for var in container.get("env") or []:
            name = var["name"]
            value_from = var.get("valueFrom")
            if value_from is None:
                env[name] = expand_vars(var.get("value") or "", env)
                continue
            value: str | None
            if "secretKeyRef" in value_from:
                value = self._key_ref("Secret", namespace, value_from["secretKeyRef"])
            elif "configMapKeyRef" in value_from:
                value = self._key_ref("ConfigMap", namespace, value_from["configMapKeyRef"])
            elif "fieldRef" in value_from:
                value = self._field_ref(pod, value_from["fieldRef"]["fieldPath"])
            else:
                raise _ConfigError(
                    f"env {name}: {sorted(value_from)} is not supported by TestKubelet"
                )
            if value is not None:
                env[name] = value
        return env

    def _prepare(
        self, run: _PodRun, view: PodSpecView, command: Command, default_cwd: str = "cwd"
    ) -> tuple[list[str], dict[str, str], Path]:
        """argv, the full environment and the working folder of the process (``command.cwd``,
        else ``default_cwd`` in the Pod's folder)."""
        if not isinstance(command, Command):
            raise TypeError(f"runner returned {type(command).__name__}, not Command")
        if not command.argv:
            raise ValueError("runner returned an empty argv")
        for local in command.path_map.values():
            Path(local).mkdir(parents=True, exist_ok=True)
        rewrite = _path_rewriter(command.path_map)
        env = _inherited_env(self.inherit_env)
        env["HOSTNAME"] = view.name
        env.update({k: rewrite(str(v)) for k, v in command.env.items()})
        if command.path_map:
            env[PATH_MAP_ENV] = json.dumps({k: str(v) for k, v in command.path_map.items()})
        # argv[0] is the program on this machine (e.g. sys.executable, which may itself lie
        # under a folder such as /tmp that a Pod mounts): only its arguments are rewritten.
        argv = [str(command.argv[0]), *(rewrite(str(a)) for a in command.argv[1:])]
        assert run.pod_dir is not None
        cwd = Path(command.cwd) if command.cwd is not None else run.pod_dir / default_cwd
        cwd.mkdir(parents=True, exist_ok=True)
        return argv, env, cwd
