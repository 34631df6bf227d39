"""Run generated (untrusted) code outside the agent's trust boundary.

LLM-written scripts run under Debian's bubblewrap (``bwrap``), in their own Linux namespaces:

- ``--unshare-all``: no network (an empty loopback of its own: the host's 127.0.0.1 and the
  internet are unreachable), its own PID namespace (it cannot see the agent or signal it), IPC
  and UTS namespaces, a user namespace when the agent is not root, no capabilities and no new
  privileges. The only way out is the LLM gateway's Unix socket (:mod:`ftagent.gateway`), whose
  folder is bound in read-only.
- Filesystem: the host's root read-only (``--ro-bind / /``), a fresh ``/tmp``, its own
  ``/proc`` (the agent's ``/proc/<pid>/environ``, which holds the LLM key, does not exist
  there) and a minimal ``/dev``. The campaign folders (workspace), the dataset and model caches
  and the agent's home are hidden behind empty tmpfs mounts; the script's scratch folder is the
  only writable bind, the raw datasets and the script itself are bound back read-only.
- Environment: ``--clearenv``, then only ``PATH``, ``HOME`` (= the scratch folder) and what the
  caller passes (``FT_LLM_GATEWAY_SOCKET``). No script ever gets ``FT_LLM_API_KEY``.
- Limits, set inside the sandbox before the script starts: ``RLIMIT_AS`` (memory),
  ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` (2 GiB files), no core dumps and ``RLIMIT_NPROC`` (256
  processes, a fork bomb stops there). Linux does not enforce ``RLIMIT_NPROC`` for kernel uid 0
  (a root-mapped user namespace included), so when the agent runs as root (a developer
  machine, CI) the launcher becomes ``nobody`` (uid 65534) inside the sandbox before the script
  starts: the scratch folder and the gateway's folder are handed to that user, and folders only
  root may enter on the way to the interpreter (root's 0700 home) are replaced by tmpfs mounts
  with the needed paths bound back. The agent image runs as uid 10001, kept by bubblewrap's
  user namespace.
- Lifetime: nothing outlives the run. When the script exits, the namespace's init exits and
  the kernel kills every process left in the PID namespace (a double-forked, ``setsid`` child
  included); on a timeout the agent kills bubblewrap's process group, and ``--die-with-parent``
  takes the namespace down with it (also when the agent itself dies).
- Python runs isolated (``-I``: no user site, no ``PYTHON*`` variables, the script's folder not
  on ``sys.path``); its output is read back and validated by the caller, never trusted.

When bubblewrap cannot run (not installed, or user namespaces disabled), generated code is
refused (:class:`SandboxUnavailable`, an environment failure naming the fix) unless the user
explicitly opts out with ``FT_UNSAFE_NO_SANDBOX=1``: then scripts run as a plain subprocess
with a scrubbed environment, the same rlimits and their own session (killed on timeout), and a
warning is logged for every run; such a script can read the agent's key from ``/proc``, reach
the network and write anywhere the agent can.

On the cluster (``FT_SCRIPT_RUNNER_DIR`` set by the operator), scripts run in the agent pod's
``scripts`` container instead (:mod:`ftagent.script_runner`): its own user, no Secret, no
service-account token, no workspace, the raw datasets read-only, a read-only root filesystem;
it shares only the ``sandbox`` emptyDir (run folders and the gateway's socket) with the agent
container, and nothing a script starts outlives its run. The agent connects to it once at start
(:func:`attach_runner`); when it cannot, generated code is refused as above. Containers of a pod
share its network namespace, so the script container can still reach what the pod's
NetworkPolicy lets the agent reach: the configured LLM endpoint (and the cluster DNS) only,
without the key, which lives only in the agent container. An endpoint that answers without a
key would be reachable unmetered from there; a RuntimeClass such as gVisor
(``jobs.agentRuntimeClassName``) adds a kernel boundary around both containers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ftagent.errors import EnvironmentFailure
from ftagent.script_runner import (
    GATEWAY_SUBDIR,
    MAX_FILE_BYTES,
    RUNNER_DIR_ENV,
    TAIL_CHARS,
    WORK_SUBDIR,
    RunReply,
    RunRequest,
    run_captured,
    scrubbed_env,
    set_limits,
)
from ftagent.script_runner import SOCKET_NAME as RUNNER_SOCKET_NAME

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 900
DEFAULT_MEMORY_MB = 4096
DEFAULT_MAX_PROCESSES = 256
"""Processes (and threads) the sandbox's user may have at once (RLIMIT_NPROC)."""
UNSAFE_ENV = "FT_UNSAFE_NO_SANDBOX"
"""Set to 1 to run generated code without bubblewrap (no isolation; see the docstring)."""
SANDBOX_UID = 65534
"""The user scripts run as when the agent runs as root (``nobody``)."""
PROBE_TIMEOUT_S = 20
TMP_BYTES = 2 * 1024**3
"""Size of the sandbox's own /tmp (a tmpfs)."""

FIX = (
    "install bubblewrap (Debian/Ubuntu: apt-get install -y bubblewrap) on a host that allows "
    "user namespaces, or set FT_UNSAFE_NO_SANDBOX=1 to run LLM-written scripts without "
    "isolation (they can then read the LLM key, reach the network and write anywhere the "
    "agent can)"
)

_LAUNCHER = """\
import os, resource, sys
memory, cpu, fsize, nproc, uid = (int(x) for x in sys.argv[1:6])
if uid >= 0 and os.getuid() == 0:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
os.execv(sys.executable, [sys.executable, "-I", sys.argv[6]])
"""
"""Runs inside the sandbox: becomes ``nobody`` when started as root (which also drops the
last capabilities), sets the limits, then becomes the script."""


class SandboxUnavailable(EnvironmentFailure):
    """Generated code cannot be isolated here and the user did not opt out."""


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed run ended."""

    returncode: int | None
    timed_out: bool
    seconds: float
    stdout_tail: str
    stderr_tail: str

    @classmethod
    def of(cls, reply: RunReply, seconds: float | None = None) -> SandboxResult:
        """The result a run reply reports (``seconds``: as measured by the caller)."""
        return cls(
            returncode=reply.returncode,
            timed_out=reply.timed_out,
            seconds=reply.seconds if seconds is None else seconds,
            stdout_tail=reply.stdout_tail[-TAIL_CHARS:],
            stderr_tail=reply.stderr_tail[-TAIL_CHARS:],
        )

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


# ---------------------------------------------------------------------- availability


def _as_root() -> bool:
    return os.geteuid() == 0


def _namespaces() -> list[str]:
    """bwrap's isolation flags. As root: every namespace but the user namespace (a root-mapped
    user namespace would still be kernel uid 0, which RLIMIT_NPROC exempts), only the
    capabilities the launcher needs to become ``nobody`` (dropped by that setuid); otherwise
    ``--unshare-all`` (user namespace included) and no capabilities. Both with no new privileges
    (bwrap sets it: setuid binaries do not elevate)."""
    common = ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if _as_root():
        unshare = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return [*unshare, "--unshare-cgroup-try", *common, *caps]
    return ["--unshare-all", *common]


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """Why bubblewrap cannot isolate scripts here (None when it can); probed once."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    command = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    try:
        probe = subprocess.run(
            [*command, "--", "/bin/true"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not start: {exc}"
    if probe.returncode != 0:
        detail = probe.stderr.strip().splitlines()
        return "bwrap cannot create its namespaces here" + (f" ({detail[-1]})" if detail else "")
    return None


def unsafe_opt_out() -> bool:
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


def require_sandbox() -> bool:
    """True when scripts will run isolated (in the pod's script container, or under
    bubblewrap), False when the user opted out of the sandbox (logged as a warning);
    SandboxUnavailable (with the fix) otherwise."""
    if os.environ.get(RUNNER_DIR_ENV):
        if _runner is None:
            raise SandboxUnavailable(
                f"LLM-written code refused: the pod's script container is not reachable "
                f"({_runner_problem or 'the agent did not connect to it'})"
            )
        return True
    problem = sandbox_problem()
    if problem is None:
        return True
    if unsafe_opt_out():
        log.warning(
            "%s=1: LLM-written scripts run WITHOUT a sandbox (%s); they can read the LLM key, "
            "reach the network and write anywhere the agent can",
            UNSAFE_ENV,
            problem,
        )
        return False
    raise SandboxUnavailable(f"LLM-written code refused: {problem}; to fix it, {FIX}")


# ---------------------------------------------------------------------- script container


class _RunnerClient:
    """The agent's connection to the pod's script container (:mod:`ftagent.script_runner`);
    held for the agent's whole life: when it closes, the script container exits."""

    def __init__(self, folder: Path, conn: socket.socket) -> None:
        self.folder = folder
        self._conn = conn
        self._reader = conn.makefile("rb")
        self._lock = threading.Lock()

    def run(
        self,
        script: Path,
        cwd: Path,
        *,
        timeout_s: float,
        memory_mb: int,
        max_processes: int,
        env: Mapping[str, str],
    ) -> SandboxResult:
        if script.parent != cwd:
            shutil.copyfile(script, cwd / script.name)
            script = cwd / script.name
        (cwd / script.name).chmod(0o644)
        request = RunRequest(
            script=str(script),
            cwd=str(cwd),
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            max_processes=max_processes,
            env=dict(env),
        )
        started = time.monotonic()
        with self._lock:
            try:
                self._conn.sendall(request.model_dump_json().encode() + b"\n")
                line = self._reader.readline(1024**2)
            except OSError as exc:
                raise SandboxUnavailable(f"the script container's runner failed: {exc}") from exc
        if not line:
            raise SandboxUnavailable("the script container's runner exited during a run")
        try:
            reply = RunReply.model_validate_json(line)
        except ValueError as exc:
            raise SandboxUnavailable(f"the script container's runner answered {exc}") from exc
        if reply.error is not None:
            raise SandboxUnavailable(f"the script container refused the run: {reply.error}")
        return SandboxResult.of(reply, seconds=time.monotonic() - started)


_runner: _RunnerClient | None = None
_runner_problem: str | None = None


def attach_runner(folder: Path | None = None, *, wait_s: float = 120.0) -> bool:
    """Connect to the script container (``FT_SCRIPT_RUNNER_DIR``; the agent does it once, at
    start). False, with the reason kept for :func:`require_sandbox`, when it cannot."""
    global _runner, _runner_problem
    if folder is None:
        configured = os.environ.get(RUNNER_DIR_ENV)
        if not configured:
            return False
        folder = Path(configured)
    # Made before any script runs, owned by the agent: a script may use them, never replace them.
    (folder / WORK_SUBDIR).mkdir(mode=0o755, exist_ok=True)
    (folder / GATEWAY_SUBDIR).mkdir(mode=0o755, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(folder / RUNNER_SOCKET_NAME))
        except OSError as exc:
            conn.close()
            if time.monotonic() >= deadline:
                _runner_problem = f"cannot connect to {folder / RUNNER_SOCKET_NAME}: {exc}"
                log.warning("script container: %s", _runner_problem)
                return False
            time.sleep(0.2)
            continue
        _runner, _runner_problem = _RunnerClient(folder, conn), None
        log.info("connected to the script container's runner in %s", folder)
        return True


def detach_runner() -> None:
    """Close the connection (the script container then exits)."""
    global _runner
    if _runner is not None:
        with contextlib.suppress(OSError):
            _runner._conn.close()
        _runner = None


def runner_attached() -> bool:
    return _runner is not None


def scratch_folder(default: Path) -> Path:
    """A fresh, empty folder for one script loop: ``default`` (re-created) locally, a new run
    folder the script container can write on the cluster."""
    if _runner is not None:
        work = Path(tempfile.mkdtemp(prefix="run-", dir=_runner.folder / WORK_SUBDIR))
        work.chmod(0o777)  # the script container's user writes here (pod-local emptyDir)
        return work
    shutil.rmtree(default, ignore_errors=True)
    default.mkdir(parents=True)
    return default


def gateway_parent() -> Path | None:
    """Where the LLM gateway puts its socket folder: the shared folder on the cluster."""
    return _runner.folder / GATEWAY_SUBDIR if _runner is not None else None


# ---------------------------------------------------------------------- bubblewrap


def _resolved(paths: Iterable[Path | str]) -> list[Path]:
    out = []
    for path in paths:
        resolved = Path(os.path.realpath(path))
        if resolved.exists() and resolved not in out:
            out.append(resolved)
    return out


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _runtime_paths() -> list[Path]:
    """What the interpreter and ``ftagent.script_api`` need to read."""
    import ftagent
    import ftapi

    paths: list[Path | str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths.append(Path(os.path.realpath(sys.executable)).parent)
    paths += [Path(ftagent.__file__).parent, Path(ftapi.__file__).parent]
    return _resolved(paths)


def _closed_ancestors(paths: Iterable[Path], covered: list[Path]) -> list[Path]:
    """Folders on the way to ``paths`` that ``nobody`` may not enter (root's 0700 home): they
    get a tmpfs with the needed paths bound back."""
    closed: list[Path] = []
    for path in paths:
        for folder in reversed(path.parents):
            if folder == Path("/") or _under(folder, covered + closed):
                continue
            with contextlib.suppress(OSError):
                if not folder.stat().st_mode & 0o001:
                    closed.append(folder)
    return closed


def _hand_over(paths: Iterable[Path]) -> None:
    """Give folders (recursively) to the sandbox user (only when the agent runs as root)."""
    for root in paths:
        os.chown(root, SANDBOX_UID, SANDBOX_UID)
        for folder, dirs, files in os.walk(root):
            for name in (*dirs, *files):
                with contextlib.suppress(FileNotFoundError):
                    path = os.path.join(folder, name)
                    os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


def bwrap_command(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    writable: Sequence[Path] = (),
    read_only: Sequence[Path] = (),
    hide: Sequence[Path | str] = (),
) -> list[str]:
    """The bubblewrap command line that runs ``command`` as described in the docstring."""
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    tmpfs = [Path("/tmp")]
    covered = [*tmpfs, Path("/proc"), Path("/dev")]
    binds = [(p, "--bind") for p in _resolved(writable)]
    binds += [(p, "--ro-bind") for p in _resolved([*read_only, *_runtime_paths()])]
    bound = [path for path, _ in binds]
    masks = [p for p in _resolved([*hide, Path.home()]) if p != Path("/")]
    if _as_root():
        masks += _closed_ancestors(bound, covered + masks)
    for mask in sorted(set(masks), key=lambda p: len(p.parts)):
        if mask.is_dir() and not _under(mask, covered):
            args += ["--perms", "0755", "--tmpfs", str(mask)]
            tmpfs.append(mask)
            covered.append(mask)
    # Folders on the way to a bind inside a tmpfs: created enterable for the sandbox user.
    folders = {
        folder
        for path in bound
        for folder in path.parents
        if _under(folder, tmpfs) and folder not in tmpfs and not _under(folder, bound)
    }
    for folder in sorted(folders, key=lambda p: len(p.parts)):
        args += ["--perms", "0755", "--dir", str(folder)]
    # Outer binds first: a read-only script inside the writable scratch folder stays read-only.
    done = set()
    for path, kind in sorted(binds, key=lambda b: (len(b[0].parts), b[1] == "--ro-bind")):
        if path not in done:
            done.add(path)
            args += [kind, str(path), str(path)]
    args += ["--chdir", str(cwd), "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--", *command]


# ---------------------------------------------------------------------- running


def open_script_output(path: Path, limit: int) -> bytes | None:
    """The bytes of a file the script wrote, or None when there is none: never through a
    symbolic link, never a FIFO or device (``O_NOFOLLOW``, then a regular-file check on the
    open descriptor), at most ``limit`` bytes (ValueError beyond)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a link
        raise ValueError(f"{path.name} is not a regular file the script wrote ({exc})") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path.name} is larger than {limit // 1024**2} MiB")
        return handle.read(limit + 1)


def run_script(
    script: Path,
    *,
    cwd: Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    env: Mapping[str, str] | None = None,
    read_only: Sequence[Path] = (),
    shared: Sequence[Path] = (),
    hide: Sequence[Path | str] = (),
    max_processes: int = DEFAULT_MAX_PROCESSES,
    python: str = sys.executable,
) -> SandboxResult:
    """Run ``python -I script`` in ``cwd`` (its scratch folder, the only writable path) under
    the limits; stdout/stderr go to files there.

    ``read_only``: more paths the script may read (the raw datasets); ``shared``: folders bound
    read-only and handed to the sandbox user (the gateway's socket folder); ``hide``: folders
    replaced by an empty tmpfs (workspace, caches). SandboxUnavailable when bubblewrap cannot
    run and ``FT_UNSAFE_NO_SANDBOX`` is not set.
    """
    sandboxed = require_sandbox()
    if _runner is not None:
        return _runner.run(
            Path(os.path.realpath(script)),
            Path(os.path.realpath(cwd)),
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            max_processes=max_processes,
            env=env or {},
        )
    cwd.mkdir(parents=True, exist_ok=True)
    cwd, script = Path(os.path.realpath(cwd)), Path(os.path.realpath(script))
    memory = memory_mb * 1024 * 1024
    cpu = int(timeout_s) + 1
    environment = scrubbed_env(cwd, env)
    preexec = None
    if sandboxed:
        uid = -1
        if _as_root():
            uid = SANDBOX_UID
            _hand_over([cwd, *_resolved(shared)])
        limits = [memory, cpu, MAX_FILE_BYTES, max_processes, uid]
        command = bwrap_command(
            [python, "-I", "-c", _LAUNCHER, *map(str, limits), str(script)],
            cwd=cwd,
            env=environment,
            writable=[cwd],
            read_only=[script, *read_only, *shared],
            hide=hide,
        )
    else:
        log.warning("running %s WITHOUT a sandbox (%s=1)", script.name, UNSAFE_ENV)
        command = [python, "-I", str(script)]

        def preexec() -> None:
            # Between fork and exec: only setrlimit calls, no locks taken.
            set_limits(memory, cpu, max_processes)

    result = SandboxResult.of(
        run_captured(
            command,
            cwd=cwd,
            env=environment,  # bwrap itself never holds the agent's variables either
            timeout_s=timeout_s,
            preexec=preexec,
        )
    )
    log.info(
        "script %s: %s in %.1f s%s",
        script.name,
        "ok" if result.ok else "failed",
        result.seconds,
        "" if sandboxed else " (unsandboxed)",
    )
    return result
