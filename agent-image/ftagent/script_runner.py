"""The agent pod's script container: runs LLM-written scripts outside the agent's trust boundary.

On the cluster an agent pod of an LLM planner has two containers built from the agent image:

- ``agent`` holds the LLM key (a Secret reference), the campaign's workspace folder and the
  LLM gateway (:mod:`ftagent.gateway`);
- ``scripts`` runs this module: its own user, no Secret, no service-account token, no
  workspace, the raw datasets read-only, a read-only root filesystem, and only the pod's
  ``sandbox`` emptyDir (``FT_SCRIPT_RUNNER_DIR``) and its own ``/tmp`` writable. Containers of
  a pod have separate PID namespaces (``shareProcessNamespace`` stays off), so nothing here can
  read the agent's ``/proc/<pid>/environ``.

Protocol. The runner listens on ``<dir>/runner.sock`` and accepts exactly one connection, the
agent's (made when the agent starts, before any script exists); it then removes the socket, so
no script can submit work or pose as the agent. Each request is one JSON line
(:class:`RunRequest`); the answer is one JSON line (:class:`RunReply`). When the agent's
connection closes (the agent exited, for whatever reason) the runner exits 0, which ends the
pod; when no agent connects within ``startup_timeout_s`` it exits too. The runner exits 0 in
every case so that the pod's outcome is the agent's.

Each script runs as ``python -I script`` in its run folder (under ``<dir>/work``, the only
folder it may write besides ``/tmp``), with ``PATH``, ``HOME`` and the gateway socket only in
its environment, its own session, and limits on memory, CPU time, file size, core dumps and
processes (``RLIMIT_NPROC``). The runner is a child subreaper (``PR_SET_CHILD_SUBREAPER``):
every process a script starts, double-forked or ``setsid`` included, stays its descendant, and
after each run (on success, failure or timeout) every descendant is killed, so nothing
outlives the run. The script's output is the agent's to validate (never trusted here).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from ftapi.steps import SCRIPT_RUNNER_DIR_ENV

log = logging.getLogger(__name__)

RUNNER_DIR_ENV = SCRIPT_RUNNER_DIR_ENV
"""The folder shared by the agent and script containers (the pod's ``sandbox`` emptyDir)."""
SOCKET_NAME = "runner.sock"
WORK_SUBDIR = "work"
"""Run folders, one per script run, created by the agent."""
GATEWAY_SUBDIR = "gateway"
"""The LLM gateway's socket folders, created by the agent."""
STARTUP_TIMEOUT_ENV = "FT_SCRIPT_RUNNER_STARTUP_TIMEOUT_S"
STARTUP_TIMEOUT_S = 300.0
"""How long the runner waits for the agent to connect (the agent connects first thing)."""
TAIL_CHARS = 3000
MAX_FILE_BYTES = 2 * 1024**3
ALLOWED_ENV = frozenset({"FT_LLM_GATEWAY_SOCKET"})
"""The only variables a request may pass to a script."""
SWEEP_ROUNDS = 100
_PR_SET_CHILD_SUBREAPER = 36


class RunRequest(BaseModel):
    """One script run, as the agent asks for it."""

    model_config = ConfigDict(extra="forbid")

    script: str
    """Path of the script, inside ``cwd``."""
    cwd: str
    """The run folder, directly under ``<dir>/work``."""
    timeout_s: float = Field(gt=0, le=24 * 3600)
    memory_mb: int = Field(gt=0, le=1024**2)
    max_processes: int = Field(gt=0, le=65536)
    env: dict[str, str] = Field(default_factory=dict)


class RunReply(BaseModel):
    """How the run ended; ``error`` when the request itself was refused."""

    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    error: str | None = None


class RequestRefused(ValueError):
    """The request names paths outside the run folders or variables it may not pass."""


# ---------------------------------------------------------------------- processes


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process instead of init."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 2 or fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep() -> int:
    """Kill every descendant of this process; how many were killed."""
    killed = 0
    quiet = 0
    for _ in range(SWEEP_ROUNDS):
        pids = descendants(os.getpid())
        if not pids:
            quiet += 1
            if quiet >= 2:  # twice empty: no fork was in flight during the first scan
                break
            time.sleep(0.01)
            continue
        quiet = 0
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.01)
        _reap()
    _reap()
    return killed


def set_limits(memory: int, cpu: int, processes: int) -> None:
    """Memory, CPU seconds, file size, core dumps and processes of a script (called between
    fork and exec: only setrlimit calls, no locks taken)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def fresh_output(path: Path) -> BinaryIO:
    """A new regular file at ``path`` for a script's output: whatever an earlier script left
    there (a link, a FIFO) is removed first, and the file is created exclusively."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, "w+b")


def output_tail(handle: BinaryIO) -> str:
    """The end of what a script wrote, read through the handle opened before the run: the
    script may have replaced the file by a link (to ``/proc/self/environ``) or a FIFO, which
    reopening the path would follow or block on."""
    try:
        handle.flush()
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - TAIL_CHARS * 4))
        return handle.read().decode("utf-8", "replace")[-TAIL_CHARS:]
    except OSError:
        return ""


def scrubbed_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH and HOME only, plus ``extra`` (the gateway's socket when the script needs it)."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": str(home)}
    env.update(extra or {})
    return env


def run_captured(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    preexec: Callable[[], None] | None,
    after_exit: Callable[[], object] | None = None,
) -> RunReply:
    """Run ``command`` in its own session, stdout/stderr to fresh ``script.stdout`` /
    ``script.stderr`` in ``cwd``; on the timeout its process group is killed. ``after_exit``
    runs once the process is gone, before the output is read back."""
    started = time.monotonic()
    with fresh_output(cwd / "script.stdout") as out, fresh_output(cwd / "script.stderr") as err:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=preexec,
        )
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if after_exit is not None:
            after_exit()
        return RunReply(
            returncode=process.returncode,
            timed_out=timed_out,
            seconds=time.monotonic() - started,
            stdout_tail=output_tail(out),
            stderr_tail=output_tail(err),
        )


# ---------------------------------------------------------------------- runs


def checked_paths(request: RunRequest, root: Path) -> tuple[Path, Path]:
    """The run folder and script, resolved; RequestRefused when outside ``<root>/work``."""
    work = Path(os.path.realpath(root / WORK_SUBDIR))
    cwd = Path(os.path.realpath(request.cwd))
    script = Path(os.path.realpath(request.script))
    if cwd.parent != work:
        raise RequestRefused(f"run folder {request.cwd} is not a folder of {work}")
    if script.parent != cwd or not script.is_file():
        raise RequestRefused(f"script {request.script} is not a file of its run folder")
    extra = set(request.env) - ALLOWED_ENV
    if extra:
        raise RequestRefused(f"variables {sorted(extra)} may not be passed to a script")
    return cwd, script


def run(request: RunRequest, root: Path) -> RunReply:
    """Run one script under the limits, then kill whatever it left running."""
    try:
        cwd, script = checked_paths(request, root)
    except RequestRefused as exc:
        return RunReply(error=str(exc))
    memory = request.memory_mb * 1024 * 1024
    cpu = int(request.timeout_s) + 1
    killed: list[int] = []
    reply = run_captured(
        [sys.executable, "-I", str(script)],
        cwd=cwd,
        env=scrubbed_env(cwd, request.env),
        timeout_s=request.timeout_s,
        preexec=lambda: set_limits(memory, cpu, request.max_processes),
        after_exit=lambda: killed.append(sweep()),
    )
    log.info(
        "script %s: exit %s%s in %.1f s; %d process(es) left behind killed",
        script.name,
        reply.returncode,
        " (timed out)" if reply.timed_out else "",
        reply.seconds,
        killed[0],
    )
    return reply


# ---------------------------------------------------------------------- serving


def _accept_agent(root: Path, startup_timeout_s: float) -> socket.socket | None:
    """The agent's connection; the listening socket is gone once it is accepted."""
    path = root / SOCKET_NAME
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        path.chmod(0o666)  # the agent runs as another user of the same pod
        listener.listen(1)
        listener.settimeout(startup_timeout_s)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            return None
        conn.settimeout(None)
        return conn
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def serve(root: Path, *, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> int:
    """Serve the agent until its connection closes; always 0 (the pod's outcome is the
    agent's)."""
    if not become_subreaper():
        log.warning("cannot become a child subreaper: orphans of a script are found by /proc only")
    conn = _accept_agent(root, startup_timeout_s)
    if conn is None:
        log.info("no agent connected within %.0f s; exiting", startup_timeout_s)
        return 0
    log.info("agent connected; serving script runs")
    with conn, conn.makefile("rb") as reader, conn.makefile("wb") as writer:
        for line in reader:
            try:
                request = RunRequest.model_validate_json(line)
            except ValueError as exc:
                reply = RunReply(error=f"invalid request: {exc}")
            else:
                try:
                    reply = run(request, root)
                except OSError as exc:
                    reply = RunReply(error=f"cannot run the script: {exc}")
            try:
                writer.write(reply.model_dump_json().encode() + b"\n")
                writer.flush()
            except OSError:
                break
    sweep()
    log.info("agent disconnected; exiting")
    return 0


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("FT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    folder = os.environ.get(RUNNER_DIR_ENV)
    if not folder:
        log.error("%s is not set; nothing to serve", RUNNER_DIR_ENV)
        return 0
    try:
        timeout = float(os.environ.get(STARTUP_TIMEOUT_ENV) or STARTUP_TIMEOUT_S)
        return serve(Path(folder), startup_timeout_s=timeout)
    except Exception:
        log.exception("script runner failed")
        return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["RunReply", "RunRequest", "descendants", "run", "serve", "sweep"]
