"""Runs the real prepare step (``python -m ftoperator.prepare``) against a fake Hub, as the
prepare Job's container would, and returns its termination message and the cache layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ftapi.campaign import FineTuneCampaignSpec
from ftapi.results import StepResult
from ftapi.steps import MountPaths, StepKind, StepRequest
from ftapi.workspace import CampaignLayout
from harness.fake_hub import FakeHub


def run_prepare(
    tmp_path: Path,
    hub: FakeHub,
    token: str | None = None,
    env: dict[str, str] | None = None,
    **spec,
) -> tuple[StepResult, CampaignLayout]:
    paths = MountPaths(
        models=str(tmp_path / "models"),
        datasets=str(tmp_path / "datasets"),
        workspace=str(tmp_path / "ws"),
    )
    request = StepRequest(
        step=StepKind.PREPARE,
        namespace="ns",
        campaign="c",
        paths=paths,
        spec=FineTuneCampaignSpec.model_validate(
            {"baseModel": "org/tiny", "benchmark": "aime25", **spec}
        ),
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    message = tmp_path / "termination.log"
    child = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    child.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HOME=str(tmp_path / "hf-home"),
        FT_STEP_REQUEST=request.model_dump_json(),
        FT_TERMINATION_LOG=str(message),
        **(env or {}),
    )
    if token:
        child["HF_TOKEN"] = token
    subprocess.run(
        [sys.executable, "-m", "ftoperator.prepare"], env=child, timeout=300, capture_output=True
    )
    return StepResult.parse_message(message.read_text(), StepKind.PREPARE), CampaignLayout(
        paths, "ns", "c"
    )
