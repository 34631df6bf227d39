"""Run untrusted chart code (TableBench visualization) in a throw-away subprocess.

The model's code runs in a fresh temporary folder holding only ``table.csv``, in an isolated
interpreter (``python -I``) with a minimal environment, the Agg backend, ``plt.show`` as a
no-op, sockets replaced by a stub that refuses to connect, CPU-time, memory and file-size
limits, and a wall-clock timeout. The pod's own NetworkPolicy and read-only root filesystem
remain the real boundary; this keeps a runaway script from hurting the evaluation.

After the code ran, the harness reads what was drawn (line y-values, bar heights, pie wedge
shares, scatter points) so two programs can be compared by the charts they draw, as
TableBench's pass@1 does. Called by :mod:`fteval.adapters`.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 30.0
MEMORY_LIMIT = 4 * 1024**3
FILE_SIZE_LIMIT = 64 * 1024**2

_HARNESS = r"""
import json, socket, sys

class _NoSocket(socket.socket):
    def connect(self, *args, **kwargs):
        raise OSError("network access is disabled in the evaluation sandbox")
    connect_ex = connect

def _refuse(*args, **kwargs):
    raise OSError("network access is disabled in the evaluation sandbox")

socket.socket = _NoSocket
socket.create_connection = _refuse

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.show = lambda *args, **kwargs: None

source = open("candidate.py", encoding="utf-8").read()
try:
    exec(compile(source, "candidate.py", "exec"), {"__name__": "__main__"})
except SystemExit:
    pass

from matplotlib.patches import Rectangle, Wedge

def _floats(values):
    out = []
    for value in values:
        try:
            out.append(round(float(value), 2))
        except (TypeError, ValueError):
            out.append(None)
    return out

series = []
for number in plt.get_fignums():
    figure = plt.figure(number)
    for axes in figure.axes:
        for line in axes.get_lines():
            series.append(["line", _floats(line.get_ydata())])
        bars = [p for p in axes.patches if isinstance(p, Rectangle)]
        if bars:
            same_height = all(p.get_height() == bars[0].get_height() for p in bars)
            same_width = all(p.get_width() == bars[0].get_width() for p in bars)
            horizontal = same_height and not same_width
            values = [p.get_width() if horizontal else p.get_height() for p in bars]
            series.append(["bar", _floats(values)])
        wedges = [p for p in axes.patches if isinstance(p, Wedge)]
        if wedges:
            series.append(["pie", _floats([(w.theta2 - w.theta1) / 360.0 for w in wedges])])
        for collection in axes.collections:
            offsets = getattr(collection, "get_offsets", lambda: [])()
            if len(offsets):
                series.append(["scatter", _floats([point[1] for point in offsets])])
with open("chart.json", "w", encoding="utf-8") as handle:
    json.dump(series, handle)
"""


@dataclass(frozen=True)
class ChartRun:
    """What one program drew, or why it could not run."""

    ok: bool
    series: list[list[Any]] = field(default_factory=list)
    """``[kind, values]`` for every line, bar group, pie and scatter drawn."""
    error: str = ""

    def signature(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The drawn data, order-independent, for comparing two charts."""
        return sorted((str(kind), tuple(values)) for kind, values in self.series)


def write_table_csv(table: Any, path: Path) -> None:
    """Write a TableBench table (``{"columns": [...], "data": [[...]]}``) as CSV."""
    if isinstance(table, str):
        table = json.loads(table)
    if not isinstance(table, dict) or "columns" not in table or "data" not in table:
        raise ValueError('a table must be {"columns": [...], "data": [[...], ...]}')
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table["columns"])
        writer.writerows(table["data"])


def _limits() -> None:  # runs in the child before exec
    import resource

    cpu = int(os.environ.get("FT_SANDBOX_CPU_SECONDS", "60"))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    os.setsid()


def run_chart_code(code: str, table: Any | None, timeout: float = DEFAULT_TIMEOUT) -> ChartRun:
    """Run ``code`` in the sandbox (with ``table.csv`` when a table is given)."""
    with tempfile.TemporaryDirectory(prefix="fteval-sandbox-") as tmp:
        folder = Path(tmp)
        (folder / "candidate.py").write_text(code, encoding="utf-8")
        (folder / "harness.py").write_text(_HARNESS, encoding="utf-8")
        if table is not None:
            write_table_csv(table, folder / "table.csv")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "TMPDIR": tmp,
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": tmp,
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "FT_SANDBOX_CPU_SECONDS": str(int(timeout) + 1),
        }
        try:
            done = subprocess.run(
                [sys.executable, "-I", "harness.py"],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                preexec_fn=_limits,  # resource limits must be set in the child
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ChartRun(ok=False, error=f"timed out after {timeout:.0f}s")
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return ChartRun(ok=False, error="\n".join(lines[-3:]) or f"exit {done.returncode}")
        try:
            series = json.loads((folder / "chart.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            return ChartRun(ok=False, error=f"no chart data: {exc}")
        return ChartRun(ok=True, series=series)


def same_chart(candidate: ChartRun, reference: ChartRun) -> bool:
    """True when the candidate ran and drew the reference's data (and something at all)."""
    return (
        candidate.ok
        and reference.ok
        and bool(reference.series)
        and (candidate.signature() == reference.signature())
    )
