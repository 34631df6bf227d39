"""Read LLaMA-Factory's ``trainer_log.jsonl`` into the loss history of a TrainingResult.

LLaMA-Factory's ``LogCallback`` appends one JSON object per logging step
(``current_steps``, ``loss``, ``lr``, ``epoch``, ...) and a last one without a loss when
training ends. Called by :mod:`fttrainer.main`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ftapi.results import LossPoint

TRAINER_LOG = "trainer_log.jsonl"


def read_loss_history(output_dir: Path) -> list[LossPoint]:
    """Every logged step with a finite loss, in order (empty when nothing was logged)."""
    path = output_dir / TRAINER_LOG
    if not path.is_file():
        return []
    points: list[LossPoint] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        loss = row.get("loss")
        if not isinstance(loss, int | float) or not math.isfinite(loss):
            continue
        points.append(
            LossPoint(
                step=int(row.get("current_steps", 0)),
                loss=float(loss),
                learning_rate=row.get("lr"),
                epoch=row.get("epoch"),
            )
        )
    return points


def total_steps(output_dir: Path) -> int:
    """The last step LLaMA-Factory logged (0 when none)."""
    path = output_dir / TRAINER_LOG
    if not path.is_file():
        return 0
    steps = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            steps = max(steps, int(json.loads(line).get("current_steps", 0)))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
            continue
    return steps
