"""The generated CRD on the real kube-apiserver: established, defaults applied, and bad
campaigns rejected by the server itself with messages that name the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.campaign import FineTuneCampaign
from ftapi.crd import CRD_NAME

pytestmark = pytest.mark.cluster

VALID: dict[str, Any] = {
    "apiVersion": f"{API_GROUP}/{API_VERSION}",
    "kind": "FineTuneCampaign",
    "metadata": {"name": "qwen-aime25"},
    "spec": {"baseModel": "Qwen/Qwen2.5-7B-Instruct", "benchmark": "aime25"},
}


def _create(cluster, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    with cluster.api_client() as api:
        return client.CustomObjectsApi(api).create_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, body
        )


def test_crd_is_established_with_printer_columns(cluster):
    with cluster.api_client() as api:
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD_NAME)
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd.spec.names.short_names == ["ftc"]
    assert "ftagent" in crd.spec.names.categories
    version = crd.spec.versions[0]
    assert version.subresources.status is not None
    assert [c.name for c in version.additional_printer_columns] == [
        "Benchmark",
        "Phase",
        "Iteration",
        "Baseline",
        "Best",
        "Age",
    ]


def test_valid_campaign_is_accepted_with_defaults(cluster, namespace):
    created = _create(cluster, namespace, VALID)
    spec = created["spec"]
    assert spec["budget"] == {
        "maxIterations": 3,
        "timeout": "12h",
        "upperDataSizeLimit": 2000,
        "maxRepairRounds": 3,
    }
    assert spec["planner"] == {"type": "search"}
    assert spec["training"]["gpus"] == 1
    assert spec["training"]["allowedMethods"] == ["lora", "full"]
    assert spec["evaluation"] == {
        "gpus": 1,
        "validationLimit": 100,
        "testLimit": 100,
        "samplesPerItem": 1,
        "confidence": 0.9,
    }
    assert spec["parallelism"] == 1
    assert spec["storage"]["workspace"] == {"claimName": "ft-workspace"}
    assert spec["suspend"] is False
    # What the server stored parses back into the models, with the same defaults.
    parsed = FineTuneCampaign.from_body(created)
    assert parsed.spec.budget.timeout_seconds == 12 * 3600
    assert parsed.spec.resolved_datasets() == ["deepscaler"]


def test_nested_defaults_fill_a_partial_object(cluster, namespace):
    body = copy.deepcopy(VALID)
    body["spec"]["budget"] = {"maxIterations": 7}
    body["spec"]["training"] = {"gpus": 4, "queueName": "gpu-queue"}
    created = _create(cluster, namespace, body)
    assert created["spec"]["budget"]["maxIterations"] == 7
    assert created["spec"]["budget"]["timeout"] == "12h"
    assert created["spec"]["training"]["allowedMethods"] == ["lora", "full"]


def test_status_subresource_keeps_declared_fields(cluster, namespace):
    _create(cluster, namespace, VALID)
    status = {
        "phase": "Running",
        "observedGeneration": 1,
        "currentIteration": 0,
        "baseline": {"validation": 13.3, "test": 10.0},
        "iterations": [{"index": 0, "phase": "Training", "method": "lora"}],
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Running",
                "message": "iteration 0 training",
                "lastTransitionTime": "2026-11-24T10:00:00Z",
            }
        ],
    }
    with cluster.api_client() as api:
        objects = client.CustomObjectsApi(api)
        patched = objects.patch_namespaced_custom_object_status(
            API_GROUP,
            API_VERSION,
            namespace,
            PLURAL,
            VALID["metadata"]["name"],
            {"status": status},
        )
    assert patched["status"]["baseline"] == {"validation": 13.3, "test": 10.0}
    assert patched["status"]["iterations"][0]["method"] == "lora"
    parsed = FineTuneCampaign.from_body(patched)
    assert parsed.status.phase == "Running"


def _spec_with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    node = body["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(leaf)
    else:
        node[leaf] = value
    return body


_DELETE = object()

# (field path in spec, bad value, text the server's message must contain)
MALFORMED = [
    ("benchmark", "aime2025", "spec.benchmark"),
    ("baseModel", _DELETE, "spec.baseModel"),
    ("baseModel", "", "spec.baseModel"),
    ("budget.maxIterations", 0, "spec.budget.maxIterations"),
    ("budget.maxIterations", 1001, "spec.budget.maxIterations"),
    ("budget.timeout", "12 hours", "spec.budget.timeout"),
    ("budget.upperDataSizeLimit", -5, "spec.budget.upperDataSizeLimit"),
    ("datasets", ["deepscaler", "imagenet"], "spec.datasets"),
    ("datasets", [], "spec.datasets"),
    ("planner.type", "gpt", "spec.planner.type"),
    ("planner.type", "llm", "spec.planner"),
    ("training.gpus", -1, "spec.training.gpus"),
    ("training.allowedMethods", ["dpo"], "spec.training.allowedMethods"),
    ("training.queueName", "Bad_Queue", "spec.training.queueName"),
    ("training.resources", {"limits": {"memory": "lots"}}, "spec.training.resources.limits"),
    ("training.tolerations", [{"operator": "Sometimes"}], "spec.training.tolerations"),
    ("evaluation.validationLimit", 0, "spec.evaluation.validationLimit"),
    ("evaluation.samplesPerItem", 65, "spec.evaluation.samplesPerItem"),
    ("storage.workspace", {"claimName": "Not A Name"}, "spec.storage.workspace.claimName"),
    ("hfTokenSecretRef", {"name": "hf-token"}, "spec.hfTokenSecretRef.key"),
    ("suspend", "yes", "spec.suspend"),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_campaign_is_rejected_naming_the_field(cluster, namespace, path, value, field):
    with pytest.raises(ApiException) as info:
        _create(cluster, namespace, _spec_with(path, value))
    assert info.value.status == 422, info.value.body
    assert field in info.value.body, info.value.body
