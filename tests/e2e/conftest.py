"""The README's demo campaign, run once per session (killed while iteration 0 trains, then
resumed): ``test_demo_campaign.py`` checks the run, ``test_dashboard.py`` serves it."""

from __future__ import annotations

import pytest

from harness.demo_run import DemoRun, run_demo_with_a_kill


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run_demo_with_a_kill(tmp_path_factory.mktemp("demo"))
