"""The agent ships what it needs and stays light: package data in the wheel, no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_from_the_dockerfile_inputs_carries_templates_and_keys(tmp_path: Path) -> None:
    """Build the wheel from exactly what agent-image/Dockerfile copies into its build stage."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "operator/ftapi", src / "operator/ftapi", ignore=ignore)
    shutil.copytree(REPO / "agent-image/ftagent", src / "agent-image/ftagent", ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (REPO / "agent-image/ftagent/prompts").glob("*.j2")}
    assert templates and {f"ftagent/prompts/{t}" for t in templates} <= names
    assert "ftagent/llamafactory_keys.json" in names
    assert "ftagent/__main__.py" in names and "ftapi/plan.py" in names
    assert not any(name.startswith("ftoperator/") for name in names)


def test_agent_modules_do_not_import_torch_or_llamafactory() -> None:
    code = (
        "import sys\n"
        "import ftagent.main, ftagent.pipeline, ftagent.planners.llm, ftagent.script_api\n"
        "heavy = {'torch', 'transformers', 'llamafactory', 'datasets', 'litellm'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"  # litellm too: imported only when an LLM is called


def test_dockerfile_is_non_root_and_read_only_friendly() -> None:
    text = (REPO / "agent-image/Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert '".[agent]"' in text
    assert "USER 10001" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "HOME=/tmp" in text
    assert 'ENTRYPOINT ["python", "-m", "ftagent"]' in text
