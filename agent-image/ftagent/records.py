"""Alpaca training records and the files LLaMA-Factory reads: ``train.json`` and
``dataset_info.json`` in the round's data folder.

Used by the recipes (which build records), by validation (which re-checks every record,
including the untrusted output of generated scripts) and by :mod:`ftagent.pipeline` (which
writes the files).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

DATASET_NAME = "train"
"""The dataset name in ``dataset_info.json`` (the trainer passes ``dataset: train``)."""
TRAIN_FILE = "train.json"
DATASET_INFO_FILE = "dataset_info.json"


class AlpacaRecord(BaseModel):
    """One supervised example: instruction (+ optional input and system) -> output."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)

    instruction: str
    input: str = ""
    output: str
    system: str | None = None

    @field_validator("instruction", "output")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def prompt_text(self) -> str:
        """The user-side text (instruction and input), as the leak check and stats see it."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction

    def to_json(self) -> dict[str, str]:
        data = {"instruction": self.instruction, "input": self.input, "output": self.output}
        if self.system:
            data["system"] = self.system
        return data


def dataset_info(with_system: bool) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json`` entry for ``train.json`` in Alpaca format."""
    columns = {"prompt": "instruction", "query": "input", "response": "output"}
    if with_system:
        columns["system"] = "system"
    return {DATASET_NAME: {"file_name": TRAIN_FILE, "formatting": "alpaca", "columns": columns}}


def write_json_atomic(path: Path, data: Any, *, indent: int | None = None) -> None:
    """Write JSON so that readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=indent)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_training_data(data_dir: Path, records: list[AlpacaRecord]) -> None:
    """Write ``train.json`` and ``dataset_info.json`` into ``data_dir``."""
    write_json_atomic(data_dir / TRAIN_FILE, [record.to_json() for record in records])
    with_system = any(record.system for record in records)
    write_json_atomic(data_dir / DATASET_INFO_FILE, dataset_info(with_system), indent=2)
