"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright through
its executable path (nothing downloads a browser), against ``ftctl ui`` serving the session's
real demo campaign (``ftctl run`` of the demo manifest, killed once and resumed; real
LLaMA-Factory training, real OpenCompass evaluation).

Every page renders, the charts hold the campaign's real points (read back from plotly's own
chart objects in the page), links and stable URLs work, and a page follows a running campaign
without a reload.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ftapi.campaign import FineTuneCampaign
from ftapi.results import TrainingResult
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.local import job_records
from harness.demo_run import DemoRun

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("FT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(demo_run: DemoRun) -> Path:
    """The session's demo campaign (2 iterations; killed while iteration 0 trained, then
    resumed): its ``ftctl`` work folder."""
    return demo_run.workdir


@pytest.fixture(scope="module")
def server(demo: Path) -> Iterator[str]:
    port = free_port()
    log = (demo.parent / "ui.log").open("wb")
    options = ["--port", str(port), "--refresh-ms", "500"]
    process = subprocess.Popen(
        [sys.executable, "-m", "ftoperator.cli", "ui", str(demo), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except OSError:
            assert process.poll() is None, (demo.parent / "ui.log").read_text()
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], errors  # no JavaScript error on any page


def campaign(demo: Path) -> FineTuneCampaign:
    return FineTuneCampaign.model_validate_json(
        (demo / "runs" / "demo" / "campaign.json").read_text()
    )


def chart(page: Page, element: str) -> list[dict[str, Any]]:
    """The traces plotly holds for a chart (its ``data``), as the page sees them."""
    page.wait_for_function(f"document.getElementById('{element}').data !== undefined")
    return page.evaluate(
        f"document.getElementById('{element}').data"
        ".map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}))"
    )


def test_the_campaigns_page_lists_and_filters(page: Page, server: str, demo: Path) -> None:
    page.goto(server + "/")
    row = page.locator('tr[data-campaign="local/demo"]')
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("tiny-qwen")
    expect(row).to_contain_text("aime25")
    status = campaign(demo).status
    assert status.best is not None and status.best.validation is not None
    expect(row).to_contain_text(f"{status.best.validation:.2f}")
    expect(page.locator("#grid")).to_contain_text("tiny-qwen")
    page.fill("#filter", "no-such-campaign")
    expect(row).to_be_hidden()
    page.fill("#filter", "aime25")
    expect(row).to_be_visible()


def test_the_campaign_page_charts_hold_the_real_points(page: Page, server: str, demo: Path) -> None:
    page.goto(server + "/")
    page.click('tr[data-campaign="local/demo"] a')
    expect(page).to_have_url(server + "/campaigns/local/demo")
    status = campaign(demo).status
    scored = [it for it in status.iterations if it.validation is not None]
    assert scored, "the demo scored no iteration"
    validation = chart(page, "scores")[0]
    assert validation["x"] == [it.index for it in scored]
    assert validation["y"] == pytest.approx([it.validation for it in scored])
    assert status.baseline is not None
    baseline = page.evaluate("document.getElementById('scores').layout.shapes[0].y0")
    assert baseline == pytest.approx(status.baseline.validation)
    layout = CampaignLayout(
        MountPaths(models="", datasets="", workspace=str(demo / "workspace")), "local", "demo"
    )
    train = TrainingResult.model_validate_json(
        (layout.train_dir(scored[0].index) / "result.json").read_text()
    )
    losses = chart(page, "losses")[0]
    assert losses["y"] == pytest.approx([p.loss for p in train.loss_history])
    assert losses["x"] == [p.step for p in train.loss_history]
    bars = chart(page, "timeline-chart")
    drawn = {
        name: seconds
        for trace in bars
        for name, seconds in zip(trace["y"], trace["x"], strict=True)
    }
    assert set(drawn) == {r["name"] for r in job_records(demo / "runs" / "demo")}
    assert all(seconds > 0 for seconds in drawn.values())
    # The attempt killed with the first run, and its retry.
    expect(page.locator("#timeline tr", has_text="demo-train-0-0")).to_contain_text("interrupted")
    expect(page.locator("#timeline tr", has_text="demo-train-0-1")).to_contain_text("(retry)")
    expect(page.locator("#timeline")).to_contain_text("succeeded")
    expect(page.locator("#conditions")).to_contain_text("Succeeded")


def test_the_iteration_page_shows_plan_data_and_evaluation(
    page: Page, server: str, demo: Path
) -> None:
    page.goto(server + "/campaigns/local/demo")
    page.click("#iterations a")
    expect(page).to_have_url(server + "/campaigns/local/demo/iterations/0")
    iteration = campaign(demo).status.iterations[0]
    expect(page.locator("#hypothesis")).to_contain_text(iteration.hypothesis or "")
    expect(page.locator("pre.config").first).to_contain_text("learning_rate")
    expect(page.locator("#verdict")).to_contain_text("accepted" if iteration.accepted else "")
    assert chart(page, "iteration-losses"), "no loss curve on the iteration page"
    # A stable URL: the same page opened directly.
    page.goto(server + "/campaigns/local/demo/iterations/0")
    expect(page.locator("#hypothesis")).to_contain_text(iteration.hypothesis or "")
    assert page.goto(server + "/campaigns/local/demo/iterations/99").status == 404


def test_a_page_follows_the_campaign_without_a_reload(page: Page, server: str, demo: Path) -> None:
    state = demo / "runs" / "demo" / "campaign.json"
    original = state.read_text()
    page.goto(server + "/campaigns/local/demo")
    expect(page.locator("#phase")).to_have_text("Succeeded")
    try:
        body = json.loads(original)
        body["status"]["phase"] = "Finalizing"
        body["status"]["message"] = "evaluating the best iteration on the test split"
        state.write_text(json.dumps(body))
        expect(page.locator("#phase")).to_have_text("Finalizing", timeout=15_000)
        expect(page.locator("#message")).to_contain_text("evaluating the best iteration")
        assert chart(page, "scores")[0]["y"], "the charts were drawn again after the update"
        navigations = page.evaluate("performance.getEntriesByType('navigation').length")
        assert navigations == 1  # updated in place, not reloaded
    finally:
        state.write_text(original)
    expect(page.locator("#phase")).to_have_text("Succeeded", timeout=15_000)
