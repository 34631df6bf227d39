"""Every example under examples/ is valid: campaigns pass ``ftctl validate`` (the API models
and the catalog) and the real kube-apiserver's validation (server-side dry run), the batch task
file renders campaigns that do too, and the Argo CD snippets are well formed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from typer.testing import CliRunner

from ftapi import API_GROUP, API_VERSION, KIND, PLURAL
from ftoperator.batch import render_batch
from ftoperator.cli import app
from ftoperator.manifest import load_campaign
from harness.cluster import LocalCluster

from .argo_health import HEALTH_LUA

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CAMPAIGN_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "tasks.yaml")


def _campaign_manifests() -> dict[str, dict[str, Any]]:
    """Every campaign the examples define: the files and the batch's rendered rows."""
    out = {p.name: yaml.safe_load(p.read_text()) for p in CAMPAIGN_FILES}
    for campaign in render_batch(yaml.safe_load((EXAMPLES / "tasks.yaml").read_text())):
        out[f"tasks.yaml:{campaign.name}"] = campaign.manifest
    return out


def test_the_expected_examples_exist():
    names = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.yaml")}
    assert names == {
        "campaign-minimal.yaml",
        "campaign-llm-planner.yaml",
        "campaign-multi-gpu-kueue.yaml",
        "tasks.yaml",
        "argocd/application.yaml",
        "argocd/argocd-cm.yaml",
    }
    for path in EXAMPLES.rglob("*.yaml"):
        assert path.read_text().startswith("#"), (
            f"{path.name}: start with a comment saying what it is"
        )


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=lambda p: p.name)
def test_campaign_examples_pass_ftctl_validate(path: Path):
    campaign = load_campaign(path)
    assert campaign.kind == KIND and campaign.metadata.name
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_examples_show_what_they_promise():
    llm = load_campaign(EXAMPLES / "campaign-llm-planner.yaml").spec
    assert llm.planner.type == "llm" and llm.planner.llm is not None
    assert llm.planner.llm.api_key_secret_ref is not None
    assert llm.planner.llm.api_key_secret_ref.name == "llm-credentials"  # the chart's default
    gpu = load_campaign(EXAMPLES / "campaign-multi-gpu-kueue.yaml").spec
    assert gpu.training.gpus > 1 and gpu.training.queue_name
    minimal = yaml.safe_load((EXAMPLES / "campaign-minimal.yaml").read_text())
    assert set(minimal["spec"]) == {"baseModel", "benchmark", "budget"}


def test_argocd_snippets():
    app_manifest = yaml.safe_load((EXAMPLES / "argocd" / "application.yaml").read_text())
    assert (app_manifest["apiVersion"], app_manifest["kind"]) == (
        "argoproj.io/v1alpha1",
        "Application",
    )
    assert app_manifest["spec"]["source"]["path"] and app_manifest["spec"]["destination"]
    cm = yaml.safe_load((EXAMPLES / "argocd" / "argocd-cm.yaml").read_text())
    assert (cm["kind"], cm["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    key = f"resource.customizations.health.{API_GROUP}_{KIND}"
    assert cm["data"] == {key: HEALTH_LUA.read_text()}


def _contains(served: Any, written: Any) -> bool:
    """``written`` survives in ``served``: same leaves, served may add defaulted fields."""
    if isinstance(written, dict):
        return isinstance(served, dict) and all(
            k in served and _contains(served[k], v) for k, v in written.items()
        )
    if isinstance(written, list):
        return (
            isinstance(served, list)
            and len(served) == len(written)
            and all(_contains(a, b) for a, b in zip(served, written, strict=True))
        )
    return served == written


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.mark.cluster
def test_examples_are_accepted_by_the_api_server(api: client.ApiClient, namespace: str):
    custom = client.CustomObjectsApi(api)
    manifests = _campaign_manifests()
    assert len(manifests) == len(CAMPAIGN_FILES) + 5
    for name, manifest in manifests.items():
        body = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
        created = custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, body, dry_run="All"
        )
        # Nothing the user wrote is pruned by the structural schema (defaults may be added).
        assert _contains(created["spec"], manifest["spec"]), name
    cm = yaml.safe_load((EXAMPLES / "argocd" / "argocd-cm.yaml").read_text())
    cm["metadata"]["namespace"] = namespace
    client.CoreV1Api(api).create_namespaced_config_map(namespace, cm, dry_run="All")
