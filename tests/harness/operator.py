"""Runs the real operator (``kopf run -m ftoperator.handlers``) as a subprocess against the
test cluster, so tests can kill it (SIGKILL) and start it again like a crashed pod."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ftapi.steps import SCRIPTS_CONTAINER
from harness.kubelet import Command, PodSpecView, TestKubelet

STANDIN = Path(__file__).resolve().parent / "standin.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def standin_runner(scenario: Path) -> Callable[[PodSpecView], Command]:
    """A test-kubelet runner that plays every step with ``standin.py`` following
    ``scenario`` (see that module)."""

    def runner(pod: PodSpecView) -> Command:
        if pod.container_name == SCRIPTS_CONTAINER:
            # The stand-in agent writes no script: its script container has nothing to do.
            return Command(argv=[sys.executable, "-c", "pass"])
        env = {
            **pod.env,
            "FT_TEST_SCENARIO": str(scenario),
            "FT_TEST_JOB": pod.labels.get("job-name", ""),
        }
        return Command(argv=[sys.executable, str(STANDIN)], env=env)

    return runner


class OperatorProcess:
    def __init__(
        self, kubeconfig: Path, namespace: str, log_file: Path, env: dict[str, str] | None = None
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_file = log_file
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()
        self.liveness_port = free_port()

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "FT_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "FT_OPERATOR_BACKOFF_BASE_SECONDS": "1",
            "FT_OPERATOR_BACKOFF_MAX_SECONDS": "2",
            "FT_OPERATOR_RESYNC_SECONDS": "5",
            "FT_OPERATOR_RESULT_GRACE_SECONDS": "10",
            **self.extra_env,
        }
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited: {self.tail()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=1
                ):
                    return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"operator not live after {timeout}s: {self.tail()}")

    def command(self) -> list[str]:
        """The operator's command line (the Helm chart's test runs the Deployment's own)."""
        return [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "-m",
            "ftoperator.handlers",
            f"--namespace={self.namespace}",
            f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
        ]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            return r.read().decode()

    def kill(self) -> None:
        """SIGKILL, like a crashed or evicted operator pod: no cleanup runs."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def release_campaigns(
    api: Any, namespace: str, operator: OperatorProcess | None = None, timeout: float = 20.0
) -> None:
    """Delete the namespace's campaigns and wait until they are gone: while the operator
    runs, so that kopf releases its finalizer (or the namespace would never finish
    deleting). Stops waiting early when the operator is not running."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from ftapi import API_GROUP, API_VERSION, PLURAL

    custom = client.CustomObjectsApi(api)
    with contextlib.suppress(ApiException):
        custom.delete_collection_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiException):
            if not custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL)[
                "items"
            ]:
                return
        if operator is not None and (operator.proc is None or operator.proc.poll() is not None):
            return
        time.sleep(0.3)


@contextlib.contextmanager
def operator_world(
    cluster: Any,
    tmp_path: Path,
    runner: Callable[[PodSpecView], Command],
    *,
    prefix: str,
    operator_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, Any, TestKubelet, OperatorProcess]]:
    """A fresh namespace ``<prefix>-<8 hex>`` with a test kubelet (``runner``) and the real
    operator watching it: ``(namespace, api client, kubelet, operator)``. Afterwards the
    campaigns are deleted while an operator runs (one is started again if a test left it
    dead), then the namespace."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    kubelet = TestKubelet(
        cluster.api_client,
        runner=runner,
        workdir=tmp_path / "kubelet",
        namespaces=[namespace],
        node_name=f"node-{namespace}",
    )
    log = tmp_path / "operator.log"
    operator = OperatorProcess(cluster.kubeconfig, namespace, log, env=operator_env)
    with kubelet:
        operator.start()
        try:
            yield namespace, api, kubelet, operator
        finally:
            with contextlib.suppress(Exception):
                if operator.proc is None or operator.proc.poll() is not None:
                    operator.start()
                release_campaigns(api, namespace, operator)
            operator.stop()
    with contextlib.suppress(ApiException):
        core.delete_namespace(namespace)
    api.close()
