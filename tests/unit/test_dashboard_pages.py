"""Dashboard pages from a local work folder, without a browser: what the LLM wrote (hypotheses,
reasoning, replies) is shown as text, never as markup; old campaigns without traces render;
only GET exists."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.dashboard.app import create_app
from ftoperator.dashboard.sources import LocalSource

HOSTILE = '</script><script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def write_run(workdir: Path, hypothesis: str) -> CampaignLayout:
    state = workdir / "runs" / "demo"
    state.mkdir(parents=True)
    campaign = {
        "apiVersion": "ftagent.dev/v1alpha1",
        "kind": "FineTuneCampaign",
        "metadata": {"name": "demo", "namespace": "local"},
        "spec": {"baseModel": "tiny-qwen", "benchmark": "aime25"},
        "status": {
            "phase": "Running",
            "baseline": {"validation": 10.0},
            "iterations": [
                {"index": 0, "phase": "Succeeded", "hypothesis": hypothesis, "validation": 20.0}
            ],
        },
    }
    (state / "campaign.json").write_text(json.dumps(campaign))
    paths = MountPaths(models="", datasets="", workspace=str(workdir / "workspace"))
    return CampaignLayout(paths, "local", "demo")


def test_llm_written_text_is_never_markup(tmp_path: Path) -> None:
    layout = write_run(tmp_path, HOSTILE)
    calls = layout.round_dir(0, 0) / "llm_calls.jsonl"
    calls.parent.mkdir(parents=True)
    calls.write_text(
        json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": HOSTILE}], "response": HOSTILE}
        )
        + "\n"
    )
    web = TestClient(create_app(LocalSource(tmp_path)))
    for url in ("/", "/campaigns/local/demo", "/campaigns/local/demo/iterations/0"):
        page = web.get(url)
        assert page.status_code == 200, url
        assert "<script>document.title" not in page.text, url
        assert "<img src=x" not in page.text, url
    iteration = web.get("/campaigns/local/demo/iterations/0").text
    assert "&lt;/script&gt;&lt;script&gt;document.title" in iteration  # shown, as text
    campaign = web.get("/campaigns/local/demo").text
    assert "\\u003c/script\\u003e" in campaign  # inside the chart's JSON, escaped


def test_a_campaign_without_traces_shows_its_status(tmp_path: Path) -> None:
    write_run(tmp_path, "boxed answers")
    web = TestClient(create_app(LocalSource(tmp_path)))
    view = web.get("/api/campaigns/local/demo/iterations/0").json()
    assert view["hypothesis"] == "boxed answers" and view["validation"] == "20.00"
    assert view["rounds"][0]["plan"] is None and view["evaluation"] is None
    assert "No plan recorded" in web.get("/campaigns/local/demo/iterations/0").text
    assert web.get("/campaigns/local/other").status_code == 404


def test_nothing_but_get(tmp_path: Path) -> None:
    write_run(tmp_path, "h")
    web = TestClient(create_app(LocalSource(tmp_path)))
    for method in ("post", "put", "delete", "patch"):
        assert getattr(web, method)("/campaigns/local/demo").status_code == 405
