"""Run untrusted chart code (TableBench visualization) in a throw-away subprocess.

The model's code runs in a fresh temporary folder holding only ``table.csv``, in an isolated
interpreter (``python -I``) with a minimal environment, the Agg backend, CPU-time, memory and
file-size limits, its own session and a wall-clock timeout, after which (and after every run)
its whole process group is killed.

It has no network: before the interpreter starts, a seccomp filter (libseccomp through
``pyseccomp``) makes the kernel refuse every ``socket()`` but ``AF_UNIX`` (so no TCP, UDP,
raw, netlink or packet socket, whatever the code imports or calls), ``io_uring`` (which could
open sockets past that rule) and ``ptrace``/``process_vm_*`` (the evaluator's memory), with
``EACCES``; the filter also sets no-new-privileges. This needs no namespace or privilege, so it
holds in an unprivileged pod as on a laptop. Where libseccomp cannot be loaded, chart code is
not run and the step fails as an environment failure naming the fix. The evaluator itself is
not dumpable while it holds an LLM key (:func:`protect_process`), so the code cannot read the
key from ``/proc/<evaluator>/environ`` either.

:func:`run_plot_capture` reads what the code drew: the y arguments it passed to ``plt.bar``,
``plt.plot`` and ``plt.scatter``, recorded exactly as the visualization evaluator of the
OpenCompass fork RD-Agent runs records them (``TableBenchVisualizationEvaluator.
_execute_code``), for comparison with the item's ``y_references``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftapi.results import FailureKind
from fteval.errors import EvalStepError

MEMORY_LIMIT = 4 * 1024**3
FILE_SIZE_LIMIT = 64 * 1024**2
_PR_SET_DUMPABLE = 4
_DENIED_SYSCALLS = ("io_uring_setup", "ptrace", "process_vm_readv", "process_vm_writev")
FIX = (
    "the evaluation image needs libseccomp (Debian/Ubuntu: apt-get install libseccomp2) and "
    "the pyseccomp package (pip install pyseccomp) to run chart code without network"
)


@functools.lru_cache(maxsize=1)
def _network_filter() -> Any:
    """The seccomp filter chart code runs under (built once, loaded in each child)."""
    try:
        import pyseccomp as seccomp

        denied = seccomp.ERRNO(errno.EACCES)
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        rules.add_rule(denied, "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
        for name in _DENIED_SYSCALLS:
            rules.add_rule(denied, name)
        return rules
    except Exception as exc:  # ImportError, OSError (no libseccomp), a refused rule
        raise EvalStepError(
            f"chart code cannot run without network here ({exc}); {FIX}",
            FailureKind.ENVIRONMENT,
        ) from exc


def protect_process() -> None:
    """Make this process non-dumpable: its ``/proc/<pid>/environ`` and memory become
    unreadable to other processes of the same user (the chart code it starts)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


_CAPABILITY_VERSION_3 = 0x20080522


def _limits(rules: Any) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    no_capabilities = (ctypes.c_uint32 * 6)()

    def child() -> None:  # runs in the child before exec
        import resource

        cpu = int(os.environ.get("FT_SANDBOX_CPU_SECONDS", "60"))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        os.setsid()
        # No capabilities (pods have none; a root evaluator on a workstation would): without
        # CAP_SYS_PTRACE a non-dumpable evaluator's /proc entries stay closed even to root.
        libc.capset(header, no_capabilities)
        rules.load()  # last: from here on no socket but AF_UNIX, no new privileges

    return child


def _run_isolated(folder: Path, script: str, timeout: float) -> tuple[int | None, str]:
    """Run ``script`` (a file in ``folder``) in the sandbox: isolated interpreter, minimal
    environment, resource limits, its own session. On the timeout, and after it exits, the
    whole process group is killed (code that forks cannot leave processes behind). Returns
    the exit status (None: timed out) and the end of its stderr (or stdout)."""
    tmp = str(folder)
    rules = _network_filter()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tmp,
        "TMPDIR": tmp,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": tmp,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "FT_SANDBOX_CPU_SECONDS": str(int(timeout) + 1),
    }
    process = subprocess.Popen(
        [sys.executable, "-I", script],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limits(rules),  # limits, a new session and the filter, in the child
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        status: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        status = None
    _kill_group(process.pid)  # whatever the code left running in its session
    lines = (stderr or stdout or "").strip().splitlines()
    return status, "\n".join(lines[-3:])


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# ----------------------------------------------------------------------------- plot capture

_CAPTURE_PRELUDE = r"""
import json, os, sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

if os.path.exists("table.json"):
    with open("table.json", encoding="utf-8") as _source:
        _table = json.load(_source)
    os.remove("table.json")
    pd.DataFrame(_table["data"], columns=_table["columns"]).to_csv("table.csv", index=False)
    del _table, _source

plt.ioff()
captured_data = []
original_bar, original_plot, original_scatter = plt.bar, plt.plot, plt.scatter

def _as_series(values):
    return list(values) if hasattr(values, "__iter__") else [values]

def capture_bar(*args, **kwargs):
    if len(args) >= 2:
        captured_data.append(_as_series(args[1]))
    return original_bar(*args, **kwargs)

def capture_plot(*args, **kwargs):
    for start in range(0, len(args), 2):
        if start + 1 < len(args):
            captured_data.append(_as_series(args[start + 1]))
    return original_plot(*args, **kwargs)

def capture_scatter(*args, **kwargs):
    if len(args) >= 2:
        captured_data.append(_as_series(args[1]))
    return original_scatter(*args, **kwargs)

plt.bar, plt.plot, plt.scatter = capture_bar, capture_plot, capture_scatter

try:
"""

_CAPTURE_EPILOGUE = r"""
    with open("output.json", "w") as _out:
        json.dump({"data": captured_data, "success": True}, _out)
except Exception as _error:
    with open("output.json", "w") as _out:
        json.dump({"error": str(_error), "success": False}, _out)
"""


@dataclass(frozen=True)
class PlotCapture:
    """The y-values a program passed to ``plt.bar``, ``plt.plot`` and ``plt.scatter``, the
    way TableBench's visualization evaluator in the OpenCompass fork reads them."""

    executed: bool
    """The program ran to its end without an exception and what it captured could be
    written as JSON (the fork's ECR@1)."""
    data: list[Any] = field(default_factory=list)
    """One list per captured call, in call order (``[y]`` for a scalar)."""
    error: str = ""


def plot_capture_script(code: str) -> str:
    """The script the sandbox runs: the fork's ``exec_script`` in substance. The prelude
    imports ``sys``, ``json``, ``os``, ``Path``, ``np``, ``pd`` and ``plt`` (the code may use
    them without importing), writes ``table.csv`` with pandas as the fork does
    (``DataFrame(data, columns=columns).to_csv(index=False)``) and replaces ``plt.bar``,
    ``plt.plot`` and ``plt.scatter`` with recorders of the y argument (``args[1]``; for
    ``plot``, every second positional argument). Only these module functions are recorded:
    ``ax.bar``, ``plt.barh``, ``plt.pie`` or ``df.plot`` draw without being read, as in the
    fork. The code runs indented inside ``try:``; an exception, or captured values that
    ``json.dump`` cannot write (numpy integers), make the run not executed."""
    body = "\n".join("    " + line for line in code.split("\n"))
    return _CAPTURE_PRELUDE + body + "\n" + _CAPTURE_EPILOGUE


def run_plot_capture(
    code: str, table: Mapping[str, Any] | str | None, timeout: float = 10.0
) -> PlotCapture:
    """Run ``code`` in the sandbox with ``table.csv`` (when ``table`` is a TableBench table)
    and return the captured y-values. ``timeout`` covers the whole run, interpreter start
    and imports included (the fork's subprocess timeout, 10 s)."""
    if isinstance(table, str):
        table = json.loads(table)
    with tempfile.TemporaryDirectory(prefix="fteval-sandbox-") as tmp:
        folder = Path(tmp)
        (folder / "exec_script.py").write_text(plot_capture_script(code), encoding="utf-8")
        if isinstance(table, Mapping) and "columns" in table and "data" in table:
            payload = {"columns": table["columns"], "data": table["data"]}
            (folder / "table.json").write_text(json.dumps(payload), encoding="utf-8")
        status, output = _run_isolated(folder, "exec_script.py", timeout)
        if status is None:
            return PlotCapture(executed=False, error=f"Execution timeout (>{timeout:g}s)")
        try:
            result = json.loads((folder / "output.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return PlotCapture(executed=False, error=f"Execution failed: {output}")
        if not isinstance(result, dict) or not result.get("success"):
            error = result.get("error", "Unknown error") if isinstance(result, dict) else ""
            return PlotCapture(executed=False, error=str(error))
        data = result.get("data", [])
        return PlotCapture(executed=True, data=data if isinstance(data, list) else [])
