"""Merge a LoRA adapter into its base model with ``llamafactory-cli export``.

Used when evaluation needs a standalone model (``FT_MERGE_ADAPTER=1`` or ``--merge`` on a
full LoRA run, see :mod:`fttrainer.main`), and callable on its own. The merged model lands in
``out_dir`` with the tokenizer and chat template. Runs on CPU (``export_device: cpu``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from ftapi.worker import OFFLINE_ENV, run_logged
from fttrainer.failures import Classified, classify_failure


class MergeError(RuntimeError):
    """``llamafactory-cli export`` failed."""

    def __init__(self, classified: Classified) -> None:
        super().__init__(classified.message)
        self.classified = classified


def export_config(
    base_model_dir: Path, adapter_dir: Path, out_dir: Path, template: str
) -> dict[str, Any]:
    """The flat ``llamafactory-cli export`` arguments."""
    return {
        "model_name_or_path": str(base_model_dir),
        "adapter_name_or_path": str(adapter_dir),
        "template": template,
        "finetuning_type": "lora",
        "trust_remote_code": False,
        "export_dir": str(out_dir),
        "export_size": 5,
        "export_device": "cpu",
        "export_legacy_format": False,
    }


def llamafactory_cli() -> str:
    """The ``llamafactory-cli`` next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).with_name("llamafactory-cli")
    return str(local) if local.exists() else "llamafactory-cli"


def merge_adapter(
    base_model_dir: Path,
    adapter_dir: Path,
    out_dir: Path,
    *,
    template: str,
    log_file: Path | None = None,
    timeout: float | None = None,
) -> Path:
    """Write base model + adapter as one model into ``out_dir``; return ``out_dir``."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    work = out_dir.parent
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / f"{out_dir.name}-export.yaml"
    config_file.write_text(
        yaml.safe_dump(export_config(base_model_dir, adapter_dir, out_dir, template)),
        encoding="utf-8",
    )
    outcome = run_logged(
        [llamafactory_cli(), "export", str(config_file)],
        log_file=log_file or work / f"{out_dir.name}-export.log",
        env=os.environ | OFFLINE_ENV | {"CUDA_VISIBLE_DEVICES": ""},
        timeout=timeout,
    )
    if outcome.returncode != 0 or not (out_dir / "config.json").is_file():
        raise MergeError(
            classify_failure(outcome.returncode or 1, outcome.tail, timed_out=outcome.timed_out)
        )
    return out_dir
