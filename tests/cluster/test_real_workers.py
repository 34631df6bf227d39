"""The real workers under the real operator: a campaign applied to the kube-apiserver runs
prepare, the agent, LLaMA-Factory training and OpenCompass evaluation as the Jobs' pods
(the test kubelet starts each container's own command, :mod:`harness.realworkers`), on the
demo's tiny model and toy benchmark, and reaches ``Succeeded`` with the scores the workers
wrote. A second campaign uses the LLM planner against the local OpenAI-compatible test
server: its agent pods run LLM-written scripts in their ``scripts`` container, with the key
from a Secret, which must end up in no status, Event, log or file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.results import EvaluationResult, TrainingResult
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.demo import build_demo_assets, demo_manifest
from harness.cluster import LocalCluster
from harness.kubelet import TestKubelet
from harness.operator import OperatorProcess, operator_world
from harness.realworkers import RealWorkers

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

CAMPAIGN_TIMEOUT = 540


@dataclass
class RealWorld:
    namespace: str
    api: client.ApiClient
    kubelet: TestKubelet
    operator: OperatorProcess
    workers: RealWorkers
    cache: Path

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, manifest
        )

    def get(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, name
        )

    def wait_done(self, name: str, timeout: float = CAMPAIGN_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.get(name)
            if (last.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return last
            time.sleep(1)
        raise AssertionError(
            f"campaign {name} not done in {timeout} s: {json.dumps(last.get('status'))}\n"
            f"{self.operator.tail(60)}\nkubelet errors: {self.kubelet.errors()}"
        )

    def layout(self, campaign: dict[str, Any]) -> CampaignLayout:
        meta = campaign["metadata"]
        paths = MountPaths(
            models=str(self.cache / "models"),
            datasets=str(self.cache / "datasets"),
            workspace=str(self.cache / "workspace"),
        )
        return CampaignLayout(paths, meta["namespace"], meta["name"], meta["uid"])

    def pod_logs(self) -> dict[str, str]:
        """Every container log the kubelet kept for this namespace's pods."""
        core = client.CoreV1Api(self.api)
        logs = {}
        for pod in core.list_namespaced_pod(self.namespace).items:
            name = pod.metadata.name
            for container in pod.spec.containers:
                first = container.name == pod.spec.containers[0].name
                with contextlib.suppress(KeyError):
                    logs[f"{name}/{container.name}"] = self.kubelet.logs(
                        self.namespace, name, None if first else container.name
                    )
        return logs


@pytest.fixture
def real(cluster: LocalCluster, tmp_path: Path) -> Iterator[RealWorld]:
    cache = tmp_path / "pv"
    build_demo_assets(cache)
    root = Path(tempfile.mkdtemp(prefix="rw-", dir="/tmp"))  # short: Unix sockets below it
    workers = RealWorkers.on_default_claims(root, cache)
    try:
        with operator_world(cluster, tmp_path, workers, prefix="rw") as (ns, api, kubelet, op):
            yield RealWorld(ns, api, kubelet, op, workers, cache)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def assert_scores_are_the_workers(world: RealWorld, campaign: dict[str, Any]) -> None:
    status = campaign["status"]
    layout = world.layout(campaign)
    baseline = EvaluationResult.model_validate_json(
        layout.eval_file(None, "validation").read_text()
    )
    assert status["baseline"]["validation"] == baseline.score
    done = [it for it in status["iterations"] if it["phase"] == "Succeeded"]
    assert done, json.dumps(status["iterations"], indent=1)
    for it in done:
        train = TrainingResult.model_validate_json(
            (layout.train_dir(it["index"]) / "result.json").read_text()
        )
        assert train.ok and train.loss_history
        evaluation = EvaluationResult.model_validate_json(
            layout.eval_file(it["index"], "validation").read_text()
        )
        assert it["validation"] == evaluation.score
    best = status["best"]
    if best.get("iteration") is not None:
        final = EvaluationResult.model_validate_json(
            layout.eval_file(best["iteration"], "test", final=True).read_text()
        )
        assert best["test"] == final.score


def test_the_real_workers_run_a_campaign_to_succeeded(real: RealWorld) -> None:
    manifest = demo_manifest(name="demo", iterations=1)
    real.apply(manifest)

    campaign = real.wait_done("demo")

    status = campaign["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert_scores_are_the_workers(real, campaign)
    commands = {c for _, _, c in real.workers.commands}
    for module in ("ftoperator.prepare", "ftagent", "fttrainer", "fteval"):
        assert ("python", "-m", module) in commands, commands
    # The workspace holds this campaign's folder only, named with its uid.
    (folder,) = (real.cache / "workspace" / real.namespace).iterdir()
    assert folder.name.startswith("demo-") and campaign["metadata"]["uid"][:8] in folder.name


def test_an_llm_planner_campaign_runs_its_scripts_in_the_script_container(
    real: RealWorld, llm_server
) -> None:
    key = "sk-CANARY-" + secrets.token_hex(12)
    client.CoreV1Api(real.api).create_namespaced_secret(
        real.namespace,
        {
            "metadata": {"name": "llm-credentials"},
            "data": {"api-key": base64.b64encode(key.encode()).decode()},
        },
    )
    proposal = {
        "hypothesis": "Worked answers in the boxed format help.",
        "method": "lora",
        "data": {"strategy": "script", "sample_size": 32, "instructions": "Convert the rows."},
        "training_config": {"learning_rate": 1e-4, "num_train_epochs": 1},
    }
    script = (
        "```python\n"
        "import json, os\n"
        "with open('input.jsonl') as src, open('output.jsonl', 'w') as out:\n"
        "    for line in src:\n"
        "        row = json.loads(line)['row']\n"
        "        out.write(json.dumps({'instruction': row['problem'], 'input': '',\n"
        "                              'output': 'The answer is \\\\boxed{' + row['answer'] + '}'})"
        " + '\\n')\n"
        "print('converted in', os.getcwd(), 'as uid', os.getuid())\n"
        "```\n"
    )
    llm_server.reply(json.dumps(proposal))
    llm_server.reply(script)
    manifest = demo_manifest(name="llm", iterations=1)
    manifest["spec"]["planner"] = {
        "type": "llm",
        "llm": {
            "strongModels": ["openai/gpt-4o-mini"],
            "apiBase": llm_server.base_url,
            "apiKeySecretRef": {"name": "llm-credentials", "key": "api-key"},
        },
    }
    real.apply(manifest)

    campaign = real.wait_done("llm")

    status = campaign["status"]
    assert status["phase"] == "Succeeded", json.dumps(status, indent=1)
    assert_scores_are_the_workers(real, campaign)
    # The agent pod ran its script container, which ran the script.
    started = [(pod, c, cmd) for pod, c, cmd in real.workers.commands if c == "scripts"]
    assert started and started[0][2] == ("python", "-m", "ftagent.script_runner")
    logs = real.pod_logs()
    script_logs = "".join(v for k, v in logs.items() if k.endswith("/scripts"))
    assert "agent connected" in script_logs and "script " in script_logs
    # The endpoint got the key from the Secret...
    assert llm_server.authorizations and all(key in a for a in llm_server.authorizations)
    # ... and it is nowhere else: status, Events, pod logs, the workspace.
    assert key not in json.dumps(campaign)
    events = client.CoreV1Api(real.api).list_namespaced_event(real.namespace).items
    assert events and key not in json.dumps([e.to_dict() for e in events], default=str)
    for name, text in logs.items():
        assert key not in text, f"the key leaked into the log of {name}"
    for path in (real.cache / "workspace").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"
