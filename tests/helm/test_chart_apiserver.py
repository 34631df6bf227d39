"""The chart's rendered manifests against the real kube-apiserver (Kubernetes 1.20): every object
of every value set is accepted (server-side dry run, so validation and admission run in full),
and helm itself renders NOTES.txt for an install against that server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from harness.cluster import LocalCluster

from .chart import CHART, VALUE_SETS, helm, render, values_args

pytestmark = pytest.mark.cluster

OPTIONAL_CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
"""Kinds that come from optional third-party CRDs (prometheus-operator): the only ones a
cluster may lack."""


@pytest.fixture(scope="module")
def dynamic(cluster: LocalCluster) -> Iterator[DynamicClient]:
    with cluster.api_client() as api:
        yield DynamicClient(api)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_is_accepted(
    name: str, dynamic: DynamicClient, namespace: str, tmp_path: Path
):
    values = dict(VALUE_SETS[name])
    objects = render(values, tmp_path, release="ft", namespace=namespace)
    skipped: set[tuple[str, str]] = set()
    accepted: list[str] = []
    for obj in objects:
        try:
            resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            skipped.add((obj["apiVersion"], obj["kind"]))
            continue
        created = resource.create(
            body=obj, namespace=obj["metadata"].get("namespace"), dry_run="All"
        )
        assert created.metadata.name == obj["metadata"]["name"]
        accepted.append(obj["kind"])
    wants_monitor = values.get("metrics", {}).get("serviceMonitor", {}).get("enabled", False)
    assert skipped == (OPTIONAL_CRD_KINDS if wants_monitor else set())
    assert {"Deployment", "ServiceAccount", "Service", "Pod"} <= set(accepted)


def test_install_dry_run_renders_notes(cluster: LocalCluster, namespace: str, tmp_path: Path):
    values = {"scope": "namespace", "networkPolicy": {"llmEndpoint": {"cidrs": ["10.1.0.0/16"]}}}
    result = helm(
        "install", "ft", str(CHART), "--dry-run", "--namespace", namespace,
        "--kubeconfig", str(cluster.kubeconfig), *values_args(values, tmp_path),
    )  # fmt: skip
    out = result.stdout
    notes = out[out.index("NOTES:") :]
    assert f"namespaces {namespace} (Role ft-ft-operator in each)" in notes
    assert f"kubectl get ftc -n {namespace} -w" in notes
    assert "ft-model-cache (created, 200Gi, kept on uninstall)" in notes
    assert "kubectl create secret generic llm-credentials" in notes
    assert "to DNS and the LLM endpoint 10.1.0.0/16" in notes
    # The campaign NOTES suggests is valid.
    lines = notes.splitlines()
    start = next(i for i, line in enumerate(lines) if "<<YAML" in line)
    end = lines.index("  YAML", start)
    campaign = yaml.safe_load("\n".join(line[2:] for line in lines[start + 1 : end]))
    assert campaign["kind"] == "FineTuneCampaign"
    with cluster.api_client() as api:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "ftagent.dev", "v1alpha1", namespace, "finetunecampaigns", campaign, dry_run="All"
        )


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
def test_the_dashboards_objects_are_accepted(
    scope: str, dynamic: DynamicClient, namespace: str, tmp_path: Path
):
    values = {"dashboard": {"enabled": True}, "scope": scope}
    objects = [
        o
        for o in render(values, tmp_path, release="ft", namespace=namespace)
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "dashboard"
    ]
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "ServiceAccount"}
    for obj in objects:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        created = resource.create(
            body=obj, namespace=obj["metadata"].get("namespace"), dry_run="All"
        )
        assert created.metadata.name == obj["metadata"]["name"]
