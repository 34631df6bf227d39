"""Run generated (untrusted) code: a subprocess with a hard timeout, a memory limit and a
scrubbed environment, in a work folder inside the round folder.

The child gets only ``PATH``, ``HOME`` (= the work folder) and, when the script uses the LLM
helper (:mod:`ftagent.script_api`), the LLM endpoint, key and models. Its address space is
capped with ``RLIMIT_AS``, core dumps and huge files are refused, it runs in its own session
so a timeout kills its whole process group, and Python runs isolated (``-I``: no user site,
no ``PYTHON*`` variables, the script's folder not on ``sys.path``). Its output file is read back
and validated by the caller, never trusted. Used by the LLM planner's data-script loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 900
DEFAULT_MEMORY_MB = 4096
MAX_FILE_BYTES = 2 * 1024**3
"""Largest file the script may write (RLIMIT_FSIZE)."""
TAIL_CHARS = 3000


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed run ended."""

    returncode: int | None
    timed_out: bool
    seconds: float
    stdout_tail: str
    stderr_tail: str

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    def describe(self) -> str:
        """A failure description for the planner (empty when the run succeeded)."""
        if self.timed_out:
            return f"the script ran past its time limit ({self.seconds:.0f} s) and was killed"
        if self.returncode == 0:
            return ""
        if self.returncode is not None and self.returncode < 0:
            name = signal.Signals(-self.returncode).name
            what = f"was killed by {name}"
        else:
            what = f"exited with status {self.returncode}"
        detail = self.stderr_tail.strip() or self.stdout_tail.strip() or "(no output)"
        return f"the script {what}; its last output:\n{detail}"


def scrubbed_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH and HOME only, plus ``extra`` (the LLM endpoint when the script needs it)."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": str(home)}
    env.update(extra or {})
    return env


def _limits(memory_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_CHARS * 4))
            return handle.read().decode("utf-8", "replace")[-TAIL_CHARS:]
    except OSError:
        return ""


def run_script(
    script: Path,
    *,
    cwd: Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> SandboxResult:
    """Run ``python -I script`` in ``cwd`` under the limits; stdout/stderr go to files there."""
    cwd.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = cwd / "script.stdout", cwd / "script.stderr"
    memory = memory_mb * 1024 * 1024
    cpu = int(timeout_s) + 1
    started = time.monotonic()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [python, "-I", str(script)],
            cwd=cwd,
            env=scrubbed_env(cwd, env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            # Runs in the child between fork and exec: only setrlimit calls, no locks taken.
            preexec_fn=lambda: _limits(memory, cpu),
        )
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the session this call started
            process.wait()
    result = SandboxResult(
        returncode=process.returncode,
        timed_out=timed_out,
        seconds=time.monotonic() - started,
        stdout_tail=_tail(stdout_path),
        stderr_tail=_tail(stderr_path),
    )
    log.info(
        "script %s: %s in %.1f s", script.name, "ok" if result.ok else "failed", result.seconds
    )
    return result
