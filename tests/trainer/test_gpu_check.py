"""``scripts/gpu-check.sh --dry-run``: the GPU check's plan on CPU, as CI runs it.

Runs the script as a subprocess (real ``python -m fttrainer`` / ``python -m fteval`` workers on
the tiny model) and reads its table: LoRA and full training ran on CPU, the evaluation ran
with the HF backend, and the GPU-only parts (bf16, QLoRA, vLLM, ZeRO-3) are skipped rows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


def _table(output: str) -> dict[str, list[str]]:
    """The table's rows by step: the cells split on runs of two spaces or more."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("step "))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if line.startswith("gpu-check:"):
            break
        cells = [cell.strip() for cell in line.split("  ") if cell.strip()]
        rows[cells[0]] = cells
    return rows


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    workdir = tmp_path_factory.mktemp("gpu-check")
    return subprocess.run(
        [str(SCRIPT), "--dry-run", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ),
    )


def test_dry_run_passes_and_prints_one_table(
    dry_run: subprocess.CompletedProcess[str],
) -> None:
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr[-4000:]
    assert dry_run.stdout.count("train tok/s") == 1
    assert "gpu-check: all run steps passed" in dry_run.stdout
    rows = _table(dry_run.stdout)
    assert list(rows) == [
        "model",
        "bf16",
        "lora",
        "full",
        "zero-3",
        "qlora",
        "flash-attn",
        "vllm",
        "eval",
    ]


def test_training_ran_on_cpu(dry_run: subprocess.CompletedProcess[str]) -> None:
    rows = _table(dry_run.stdout)
    for step, backend in (("lora", "LLaMA-Factory LoRA fp32, CPU"), ("full", "LLaMA-Factory full")):
        cells = rows[step]
        assert cells[1].startswith(backend) and cells[2] == "ok", cells
        assert float(cells[3]) > 0 and float(cells[4].replace(",", "")) > 0  # seconds, tok/s
        assert cells[6] == "-"  # no GPU memory on CPU
        assert "loss" in cells[7]


def test_gpu_only_parts_are_skipped_with_a_reason(
    dry_run: subprocess.CompletedProcess[str],
) -> None:
    rows = _table(dry_run.stdout)
    for step in ("bf16", "qlora", "vllm", "zero-3"):
        assert rows[step][2] == "skipped", rows[step]
        assert "dry run" in rows[step][-1], rows[step]
    assert rows["flash-attn"][2] == "skipped"
    assert "skipped (dry run: 4-bit bitsandbytes needs a GPU)" in dry_run.stderr


def test_evaluation_ran_with_the_hf_backend(dry_run: subprocess.CompletedProcess[str]) -> None:
    cells = _table(dry_run.stdout)["eval"]
    assert cells[1].startswith("OpenCompass HF (CPU), LoRA adapter") and cells[2] == "ok", cells
    assert float(cells[5]) > 0  # items/s
    assert "validation accuracy" in cells[-1]


def test_without_a_gpu_it_refuses_to_run_the_gpu_plan() -> None:
    done = subprocess.run(
        [str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ) | {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert done.returncode == 2
    assert "no NVIDIA GPU found; use --dry-run" in done.stderr
