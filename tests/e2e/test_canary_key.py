"""A whole local campaign with the LLM planner and a canary API key: the key is used (the LLM
endpoint receives it) and appears in no file the campaign wrote, no log and no status field.

Issue 12, item 9. Real agent (LLM planner through litellm against the local scripted
OpenAI-compatible server), real LLaMA-Factory training and real OpenCompass evaluation on the
demo's tiny model; only the LLM endpoint is a stand-in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from agent.llm_server import ScriptedLlmServer

from ftapi.campaign import FineTuneCampaign, Phase, PlannerType
from ftoperator.demo import build_demo_assets, demo_manifest

pytestmark = pytest.mark.e2e

CANARY = "sk-canary-7f3e9d2b41c6a8e05d1f"

PROPOSAL = {
    "hypothesis": "Train on boxed answers for a few epochs.",
    "method": "full",
    "data": {"strategy": "builtin", "sample_size": 32},
    "training_config": {"num_train_epochs": 3, "learning_rate": 0.003},
}


@pytest.fixture
def llm() -> Iterator[ScriptedLlmServer]:
    server = ScriptedLlmServer().start()
    server.responder = lambda body: json.dumps(PROPOSAL)
    try:
        yield server
    finally:
        server.stop()


def files_holding(root: Path, needle: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_the_api_key_is_used_and_never_written_anywhere(
    tmp_path: Path, llm: ScriptedLlmServer
) -> None:
    cache, workdir = tmp_path / "cache", tmp_path / "work"
    build_demo_assets(cache)
    workdir.mkdir()
    manifest = demo_manifest(iterations=1)
    manifest["spec"]["planner"] = {
        "type": "llm",
        "llm": {"strongModels": ["openai/gpt-4o-mini"], "apiBase": llm.base_url},
    }
    path = workdir / "canary.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    run = subprocess.run(
        [sys.executable, "-m", "ftoperator.cli", "run", str(path), "--cache", str(cache),
         "--workdir", str(workdir), "--quiet"],
        env={**os.environ, "FT_LLM_API_KEY": CANARY, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=1500,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    campaign = FineTuneCampaign.model_validate_json(
        (workdir / "runs" / "demo" / "campaign.json").read_text()
    )
    assert campaign.status.phase is Phase.SUCCEEDED
    plan_files = list((workdir / "workspace").rglob("plan.json"))
    assert plan_files and all(
        json.loads(p.read_text())["planner"] == PlannerType.LLM.value for p in plan_files
    )
    # The key was really used: the endpoint received it (so the scan below is not vacuous).
    assert llm.authorizations and all(CANARY in a for a in llm.authorizations)
    assert campaign.status.llm_cost > 0
    needle = CANARY.encode()
    assert files_holding(workdir, needle) == []
    assert files_holding(cache, needle) == []
    assert CANARY not in run.stdout and CANARY not in run.stderr
    assert CANARY not in campaign.model_dump_json()
