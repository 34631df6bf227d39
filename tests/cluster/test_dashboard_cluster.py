"""The dashboard's cluster source against the real kube-apiserver: campaigns, their Jobs and
Events as the operator leaves them, read with list/get only, served by the real app."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kubernetes import client

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.results import encode_item_scores
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator import labels as L
from ftoperator.dashboard.app import create_app
from ftoperator.dashboard.sources import ClusterSource
from harness.cluster import LocalCluster

pytestmark = pytest.mark.cluster


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


def _campaign(api: client.ApiClient, namespace: str) -> dict:
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "FineTuneCampaign",
        "metadata": {"name": "qwen-aime"},
        "spec": {"baseModel": "Qwen/Qwen2.5-0.5B-Instruct", "benchmark": "aime25"},
    }
    created = custom.create_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL, body
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": "Running",
        "observedGeneration": 1,
        "baseline": {"validation": 6.67, "test": 3.33},
        "best": {"iteration": 0, "validation": 40.0},
        "iterations": [
            {
                "index": 0,
                "phase": "Succeeded",
                "hypothesis": "boxed answers",
                "method": "lora",
                "validation": 40.0,
                "accepted": True,
                "itemScores": encode_item_scores([1.0, 0.0, 0.0, 1.0, 0.0] * 2),
                "startedAt": now,
                "finishedAt": now,
            }
        ],
    }
    custom.patch_namespaced_custom_object_status(
        API_GROUP, API_VERSION, namespace, PLURAL, "qwen-aime", {"status": status}
    )
    return created


def test_the_cluster_source_shows_campaigns_jobs_and_events(
    api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    campaign = _campaign(api, namespace)
    uid = campaign["metadata"]["uid"]
    labels = {L.CAMPAIGN_UID: uid, L.STEP: "train", L.ITERATION: "0", L.ATTEMPT: "1"}
    client.BatchV1Api(api).create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "qwen-aime-train-0-1", "labels": labels},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "trainer", "image": "busybox"}],
                    }
                }
            },
        },
    )
    client.CoreV1Api(api).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": f"qwen-aime.{uuid.uuid4().hex[:8]}"},
            "involvedObject": {
                "apiVersion": f"{API_GROUP}/{API_VERSION}",
                "kind": "FineTuneCampaign",
                "name": "qwen-aime",
                "namespace": namespace,
                "uid": uid,
            },
            "reason": "IterationAccepted",
            "message": "iteration 0 is the new best (40.00)",
            "type": "Normal",
            "lastTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    # The workspace claim, mounted read-only where the chart mounts it: a training result.
    paths = MountPaths(models="", datasets="", workspace=str(tmp_path))
    layout = CampaignLayout(paths, namespace, "qwen-aime", uid)
    layout.train_dir(0).mkdir(parents=True)
    (layout.train_dir(0) / "result.json").write_text(
        json.dumps(
            {
                "mode": "full",
                "ok": True,
                "loss_history": [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.25}],
            }
        )
    )

    evaluation = layout.eval_file(0, "validation")
    evaluation.parent.mkdir(parents=True)
    evaluation.write_text(
        json.dumps(
            {
                "split": "validation",
                "benchmark": "aime25",
                "metric": "accuracy",
                "score": 40.0,
                "n_items": 10,
                "model": "iter-000/train/output",
                "wrong_answers": [
                    {"index": 1, "prompt": "Q1", "expected": "7", "predicted": "\\boxed{8}"}
                ],
            }
        )
    )
    judged = {"model": "judge", "prompt_tokens": 90, "completion_tokens": 1, "cost_usd": 0.001}
    (evaluation.parent / "judge-calls.jsonl").write_text(
        json.dumps(judged | {"latency_s": 0.4, "verdict": True}) + "\n"
    )

    # Kubernetes' Job controller starts the Job (it creates its Pod; nothing runs it here).
    deadline = time.monotonic() + 60
    while (
        not client.BatchV1Api(api)
        .read_namespaced_job_status("qwen-aime-train-0-1", namespace)
        .status.start_time
    ):
        assert time.monotonic() < deadline, "the Job controller never started the Job"
        time.sleep(0.2)

    source = ClusterSource(api, namespaces=[namespace], workspace=tmp_path)
    (record,) = source.campaigns()
    assert record.name == "qwen-aime" and record.campaign.status.phase == "Running"
    detailed = source.campaign(namespace, "qwen-aime")
    assert detailed is not None
    assert [(j.name, j.step, j.iteration, j.attempt) for j in detailed.jobs] == [
        ("qwen-aime-train-0-1", "train", 0, 1)
    ]
    assert [e.reason for e in detailed.events] == ["IterationAccepted"]
    assert source.campaign("elsewhere", "qwen-aime") is None

    web = TestClient(create_app(source, where="cluster"))
    assert "qwen-aime" in web.get("/").text
    page = web.get(f"/campaigns/{namespace}/qwen-aime")
    assert page.status_code == 200
    assert "iteration 0 is the new best" in page.text and "qwen-aime-train-0-1" in page.text
    view = web.get(f"/api/campaigns/{namespace}/qwen-aime").json()
    scores = view["figures"]["scores"]["data"][0]
    assert scores["y"] == [40.0]
    low, high = view["iterations"][0]["interval"].strip("[]").split(", ")
    assert float(low) < 40.0 < float(high)  # 4 of 10 items right
    assert scores["error_y"]["array"][0] > 0 and scores["error_y"]["arrayminus"][0] > 0
    (bar,) = view["figures"]["timeline"]["data"]  # the Job controller started it (a Pod)
    assert bar["y"] == ["qwen-aime-train-0-1"] and bar["name"] == "running"
    assert bar["base"] == [0.0] and bar["x"][0] >= 0
    losses = view["figures"]["losses"]["data"][0]
    assert losses["y"] == [2.5, 1.25]
    iteration = web.get(f"/api/campaigns/{namespace}/qwen-aime/iterations/0").json()
    assert iteration["evaluation"]["wrong_answers"][0]["expected"] == "7"
    assert iteration["evaluation"]["judge_calls"][0]["verdict"] is True
    page = web.get(f"/campaigns/{namespace}/qwen-aime/iterations/0")
    assert "LLM judge calls (1)" in page.text and "boxed{8}" in page.text
    assert web.get(f"/campaigns/{namespace}/missing").status_code == 404
    # Read-only: no route takes anything but GET.
    assert web.post("/").status_code == 405
