"""Run a tool (LLaMA-Factory, OpenCompass) as a child process of a worker, streaming its log.

Every line goes to our stdout (the pod log) and to a log file on the workspace, and the last
lines are kept for failure classification. The child runs in its own process group, so a
timeout or a SIGTERM sent to the pod stops the whole tree (torchrun's workers included).
Called by the trainer (:mod:`fttrainer.main`, :mod:`fttrainer.merge`) and the evaluator
(:mod:`fteval.runner`). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TAIL_LINES = 400
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
"""Nothing in a worker downloads: the prepare step filled the caches."""


@dataclass
class ProcessOutcome:
    """How the child ended."""

    returncode: int
    tail: list[str] = field(default_factory=list)
    timed_out: bool = False
    terminated: bool = False
    """Stopped because this process received SIGTERM/SIGINT (pod deletion, deadline)."""
    seconds: float = 0.0


def _stop_group(process: subprocess.Popen[str], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def run_logged(
    command: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    echo: bool = True,
) -> ProcessOutcome:
    """Run ``command`` to completion; stdout and stderr are merged into the log."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )
    outcome = ProcessOutcome(returncode=0)

    def on_timeout() -> None:
        outcome.timed_out = True
        _stop_group(process)

    def on_signal(signum: int, _frame: object) -> None:
        outcome.terminated = True
        _stop_group(process, grace=5.0)

    timer = threading.Timer(timeout, on_timeout) if timeout else None
    previous: dict[int, object] = {}
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        if timer:
            timer.start()
        with log_file.open("a", encoding="utf-8") as log:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                log.flush()
                if echo:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                tail.append(line.rstrip("\n"))
        outcome.returncode = process.wait()
    finally:
        if timer:
            timer.cancel()
        _stop_group(process)
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    outcome.tail = list(tail)
    outcome.seconds = time.monotonic() - started
    return outcome
