"""Run OpenCompass on a generated config and find its outputs, failing loudly.

OpenCompass runs as a child process with ``--debug`` (every task in that one process, and a
non-zero exit when a task raises) in a fresh work dir, offline. Its CLI can still exit 0
with failed tasks, so the summary CSV is checked for ``-`` cells as well. Called by
:mod:`fteval.main`.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ftapi.results import FailureKind
from ftapi.worker import OFFLINE_ENV, ProcessOutcome, run_logged
from fteval.errors import EvalStepError

_RUN_DIR = re.compile(r"^\d{8}_\d{6}$")
_RULES: tuple[tuple[FailureKind, re.Pattern[str]], ...] = (
    (
        FailureKind.OOM,
        re.compile(r"OutOfMemoryError|CUDA out of memory|can't allocate memory|MemoryError", re.I),
    ),
    (
        FailureKind.ENVIRONMENT,
        re.compile(
            r"UnsupportedPropertyError|MissingAdapterError|ValueError: item \d+:|"
            r"ModuleNotFoundError|ImportError|No module named|does not appear to have a file|"
            r"Error no file named|"
            r"Can't load (tokenizer|config)|No space left on device|CUDA driver|"
            r"no CUDA GPUs are available|We couldn't connect to",
            re.I,
        ),
    ),
)
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*)?(?:Error|Exception)\b.*:")


@dataclass(frozen=True)
class OpenCompassRun:
    """The outputs of one OpenCompass run."""

    run_dir: Path
    """``<work_dir>/<timestamp>``."""

    def results_file(self, model_abbr: str, dataset_abbr: str) -> Path:
        return self.run_dir / "results" / model_abbr / f"{dataset_abbr}.json"


def classify(outcome: ProcessOutcome) -> tuple[FailureKind, str]:
    """Failure kind and message of a failed OpenCompass run."""
    if outcome.timed_out:
        return FailureKind.TIMEOUT, "evaluation ran past its time limit"
    if outcome.terminated:
        return FailureKind.INFRASTRUCTURE, "terminated by a signal"
    exceptions = [line.strip() for line in outcome.tail if _EXCEPTION.match(line.strip())]
    last = exceptions[-1] if exceptions else ""
    for kind, pattern in _RULES:
        matched = [line.strip() for line in outcome.tail if pattern.search(line)]
        if matched:
            shown = [*matched[-8:], *([last] if last and last not in matched[-8:] else [])]
            return kind, "\n".join(shown)
    detail = last or "\n".join(outcome.tail[-12:])
    return FailureKind.INTERNAL, f"OpenCompass exited {outcome.returncode}: {detail}"


def failed_summary_cells(run_dir: Path) -> list[str]:
    """``dataset/model`` of every ``-`` cell of the summary CSV (missing summary: all)."""
    summaries = sorted((run_dir / "summary").glob("summary_*.csv"))
    if not summaries:
        return ["(no summary written)"]
    with summaries[-1].open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        return ["(empty summary)"]
    header, failed = rows[0], []
    for row in rows[1:]:
        for column, cell in enumerate(row[4:], start=4):
            if cell.strip() == "-":
                failed.append(f"{row[0]}/{header[column] if column < len(header) else column}")
    return failed


def run_opencompass(
    config_file: Path, work_dir: Path, log_file: Path, *, timeout: float | None = None
) -> OpenCompassRun:
    """Run OpenCompass; raise :class:`EvalStepError` unless every task produced a result."""
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    log_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "opencompass.cli.main", str(config_file), "--debug"]
    outcome = run_logged(
        [*command, "-w", str(work_dir)],
        log_file=log_file,
        env=dict(os.environ) | OFFLINE_ENV,
        cwd=work_dir,  # OpenCompass writes ./tmp into its working directory
        timeout=timeout,
    )
    if outcome.returncode != 0 or outcome.timed_out or outcome.terminated:
        kind, message = classify(outcome)
        raise EvalStepError(message, kind)
    run_dirs = sorted(p for p in work_dir.iterdir() if p.is_dir() and _RUN_DIR.match(p.name))
    if not run_dirs:
        raise EvalStepError(f"OpenCompass wrote no run folder in {work_dir}", FailureKind.INTERNAL)
    run = OpenCompassRun(run_dirs[-1])
    failed = failed_summary_cells(run.run_dir)
    if failed:
        tail = "\n".join(outcome.tail[-10:])
        raise EvalStepError(
            f"OpenCompass tasks failed: {', '.join(failed)}\n{tail}", FailureKind.INTERNAL
        )
    return run
