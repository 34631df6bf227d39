"""The operator with nothing but the chart's RBAC, on the real kube-apiserver.

For each scope (namespace, cluster) the chart is rendered into a fresh namespace; its
ServiceAccount, Role/ClusterRole and bindings (and every other non-hook object except the
Deployment, which no controller here would run) are created for real. A token of that
ServiceAccount (TokenRequest API) goes into a kubeconfig, and the operator process runs with the
Deployment's own command and environment. It must take a campaign to Succeeded with the test
kubelet and the stand-in worker, post its Events, and log no permission error: a rule missing
from the chart fails this test. Then the chart's `helm test` check runs against it, and the
Argo CD health check reads the finished campaign.
"""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops.argo_health import health
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from ftapi import API_GROUP, API_VERSION, PLURAL
from harness.cluster import LocalCluster
from harness.kubelet import TestKubelet
from harness.operator import OperatorProcess, standin_runner

from .chart import Manifest, by_kind, is_hook, operator_container, render

pytestmark = pytest.mark.cluster

NAME = "demo"
# A bare "403" would also match log timestamps (",403]" milliseconds); a refused request
# always carries one of these words or the bracketed status code.
PERMISSION_ERRORS = ("Forbidden", "forbidden", "Not enough permissions", "(403)", "Unauthorized")


class ChartOperator(OperatorProcess):
    """:class:`OperatorProcess` running the chart Deployment's exact command and environment
    (only the liveness and metrics addresses are moved to free local ports)."""

    def __init__(self, kubeconfig: Path, namespace: str, log_file: Path, container: Manifest):
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        env.pop("FT_OPERATOR_METRICS_PORT")  # OperatorProcess picks a free port
        super().__init__(kubeconfig, namespace, log_file, env=env)
        command = list(container["command"])
        assert command[0] == "kopf"
        self.argv = [sys.executable, "-m", *command]
        self.argv = [
            f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz"
            if a.startswith("--liveness=")
            else a
            for a in self.argv
        ]

    def command(self) -> list[str]:
        return self.argv

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@dataclass
class Install:
    """The chart installed (RBAC for real) with the operator running on its token."""

    scope: str
    namespace: str
    objects: list[Manifest]
    api: client.ApiClient
    operator: ChartOperator
    kubelet: TestKubelet
    kubeconfig: Path
    token_of: Any

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def get(self) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, NAME
        )

    def jobs(self) -> list[str]:
        batch = client.BatchV1Api(self.api)
        return sorted(j.metadata.name for j in batch.list_namespaced_job(self.namespace).items)

    def wait_phase(self, phase: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.get()
            if (last.get("status") or {}).get("phase") == phase:
                return last
            time.sleep(0.3)
        raise AssertionError(
            f"[{self.scope}] timed out waiting for {phase}; "
            f"status={json.dumps(last.get('status'), indent=1)}\njobs={self.jobs()}\n"
            f"operator log:\n{self.operator.tail(80)}\nkubelet errors: {self.kubelet.errors()}"
        )


def _create(dyn: DynamicClient, obj: Manifest) -> None:
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    resource.create(body=obj, namespace=obj["metadata"].get("namespace"))


def _delete(dyn: DynamicClient, obj: Manifest) -> None:
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        resource.delete(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
    except ApiException as exc:
        if exc.status != 404:
            raise


def _token(core: client.CoreV1Api, namespace: str, service_account: str) -> str:
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    created = core.create_namespaced_service_account_token(service_account, namespace, request)
    return created.status.token


def _kubeconfig(cluster: LocalCluster, token: str, path: Path, namespace: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "envtest",
                        "cluster": {
                            "server": cluster.server,
                            "certificate-authority": str(cluster.ca_file),
                        },
                    }
                ],
                "users": [{"name": "ft-operator", "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "ft-operator",
                        "context": {
                            "cluster": "envtest",
                            "user": "ft-operator",
                            "namespace": namespace,
                        },
                    }
                ],
                "current-context": "ft-operator",
            }
        )
    )
    return path


@contextlib.contextmanager
def chart_install(
    cluster: LocalCluster,
    tmp_path: Path,
    scope: str,
    without: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[Install]:
    """Install the chart's objects for ``scope`` in a fresh namespace and run the operator on
    its ServiceAccount's token; ``without`` drops matching rules (negative controls only)."""
    suffix = uuid.uuid4().hex[:8]
    namespace = f"rbac-{suffix}"
    release = f"r{suffix}"
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    dyn = DynamicClient(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    objects = render({"scope": scope}, tmp_path, release=release, namespace=namespace)
    # Everything but the Deployment and the test Pod (both run below as local processes); the
    # hook's ServiceAccount is created for its token.
    installed = [
        copy.deepcopy(o)
        for o in objects
        if o["kind"] != "Deployment" and not (is_hook(o) and o["kind"] == "Pod")
    ]
    if without is not None:
        for role in installed:
            if role["kind"] in ("Role", "ClusterRole"):
                role["rules"] = [r for r in role["rules"] if not without(r)]
    for obj in installed:
        _create(dyn, obj)
    container = operator_container(objects)
    deployment = by_kind(objects, "Deployment")[0]
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert service_account in {o["metadata"]["name"] for o in by_kind(installed, "ServiceAccount")}
    scenario = tmp_path / "scenario.json"
    # Iteration 0 beats the baseline (10.0), so the final test evaluation runs too.
    scenario.write_text(json.dumps({f"{NAME}-eval-0-*": {"scores": {"validation": 15.0}}}))
    kubeconfig = _kubeconfig(
        cluster, _token(core, namespace, service_account), tmp_path / "kubeconfig", namespace
    )

    kubelet = TestKubelet(
        cluster.api_client,
        runner=standin_runner(scenario),
        workdir=tmp_path / "kubelet",
        namespaces=[namespace],
        node_name=f"node-{namespace}",
    )
    operator = ChartOperator(kubeconfig, namespace, tmp_path / "operator.log", container)
    try:
        with kubelet:
            operator.start()
            try:
                yield Install(
                    scope,
                    namespace,
                    objects,
                    api,
                    operator,
                    kubelet,
                    kubeconfig,
                    lambda sa: _token(core, namespace, sa),
                )
            finally:
                _delete_campaign(api, namespace)
                operator.stop()
    finally:
        for obj in installed:
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                _delete(dyn, obj)
        core.delete_namespace(namespace)
        api.close()


def _delete_campaign(api: client.ApiClient, namespace: str, timeout: float = 30) -> None:
    """Delete the campaign while the operator runs, so kopf removes its finalizer (and the
    namespace can go)."""
    custom = client.CustomObjectsApi(api)
    try:
        custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, NAME)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, NAME)
            time.sleep(0.3)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(params=["namespace", "cluster"])
def install(
    request: pytest.FixtureRequest, cluster: LocalCluster, tmp_path: Path
) -> Iterator[Install]:
    with chart_install(cluster, tmp_path, request.param) as installed:
        yield installed


def _create_campaign(install: Install) -> dict[str, Any]:
    return install.custom.create_namespaced_custom_object(
        API_GROUP,
        API_VERSION,
        install.namespace,
        PLURAL,
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "FineTuneCampaign",
            "metadata": {"name": NAME},
            "spec": {
                "baseModel": "Qwen/Qwen2.5-0.5B-Instruct",
                "benchmark": "aime25",
                "budget": {"maxIterations": 1},
            },
        },
    )


def permission_errors(log: str) -> list[str]:
    """Log lines of refused requests (kopf logs 403s; the kubernetes client raises them)."""
    return [line for line in log.splitlines() if any(p in line for p in PERMISSION_ERRORS)] + [
        line for line in log.splitlines() if "Failed to post an event" in line
    ]


def _events(api: client.ApiClient, namespace: str) -> list[str]:
    items = client.CoreV1Api(api).list_namespaced_event(namespace).items
    return [
        f"{e.reason}: {e.message}" for e in items if e.involved_object.kind == "FineTuneCampaign"
    ]


def test_operator_with_only_the_chart_rbac_runs_a_campaign_to_succeeded(install: Install):
    created = _create_campaign(install)
    final = install.wait_phase("Succeeded")
    status = final["status"]
    assert status["best"] == {"iteration": 0, "validation": 15.0, "test": 20.0}
    assert install.jobs() == sorted(
        f"{NAME}-{step}"
        for step in ("prepare-0", "baseline-0", "agent-0-r0-0", "smoke-0-r0-0", "train-0-0",
                     "eval-0-0", "final-0-0")
    )  # fmt: skip
    assert final["spec"] == created["spec"]  # no spec drift
    # kopf posts Events in the background: the last one may trail the status a little.
    deadline = time.monotonic() + 15
    events = _events(install.api, install.namespace)
    while not any(e.startswith("PhaseSucceeded") for e in events) and time.monotonic() < deadline:
        time.sleep(0.3)
        events = _events(install.api, install.namespace)
    assert any(e.startswith("PhaseSucceeded") for e in events), events

    # Nothing was refused: a missing rule shows up as a 403 in kopf's or the client's log.
    refused = permission_errors(install.operator.log())
    assert not refused, "operator hit RBAC limits:\n" + "\n".join(refused[:20])

    # The Argo CD health check on the live object.
    assert health(final)[0] == "Healthy"

    # The chart's `helm test` check, as its Pod runs it, against this operator.
    hook_pod = next(o for o in install.objects if is_hook(o) and o["kind"] == "Pod")
    (check,) = hook_pod["spec"]["containers"]
    token_file = install.kubeconfig.with_name("hook-token")
    token_file.write_text(install.token_of(hook_pod["spec"]["serviceAccountName"]))
    env = {
        "PATH": "/usr/bin:/bin",
        "FT_CHECK_API": install.api.configuration.host,
        "FT_CHECK_TOKEN_FILE": str(token_file),
        "FT_CHECK_CA_FILE": install.api.configuration.ssl_ca_cert,
        **{e["name"]: e["value"] for e in check["env"]},
        "FT_CHECK_HEALTH_URL": f"http://127.0.0.1:{install.operator.liveness_port}/healthz",
        "FT_CHECK_METRICS_URL": f"http://127.0.0.1:{install.operator.metrics_port}/metrics",
    }
    assert check["command"][0] == "python"
    result = subprocess.run(
        [sys.executable, *check["command"][1:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   CRD: ftagent.dev/v1alpha1 serves finetunecampaigns (short names ftc)" in (
        result.stdout
    )
    env["FT_CHECK_HEALTH_URL"] = "http://127.0.0.1:9/healthz"
    env["FT_CHECK_TIMEOUT"] = "0"
    failing = subprocess.run(
        [sys.executable, *check["command"][1:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert failing.returncode == 1 and "FAIL check_operator" in failing.stdout


def test_a_missing_rule_fails_the_check(cluster: LocalCluster, tmp_path: Path):
    """Negative control: without `events create` the campaign still finishes, but the refused
    Event posts are caught by the same log check."""

    def events(rule: dict[str, Any]) -> bool:
        return rule["resources"] == ["events"]

    with chart_install(cluster, tmp_path, "namespace", without=events) as install:
        _create_campaign(install)
        install.wait_phase("Succeeded")
        refused = permission_errors(install.operator.log())
        assert refused and any("events" in line for line in refused), install.operator.tail()


def test_permission_scan_flags_refusals_but_not_timestamps():
    ok = "[2026-11-24 21:44:52,403] kopf.objects [INFO] [ns/pod] Handler 'pod_event' succeeded."
    refused = "kubernetes.client.exceptions.ApiException: (403)\nReason: Forbidden"
    assert permission_errors(ok) == []
    assert permission_errors(refused) == [
        "kubernetes.client.exceptions.ApiException: (403)",
        "Reason: Forbidden",
    ]
