"""The agent pod's script container (:mod:`ftagent.script_runner`) and the agent's side of it.

The runner runs here as ``python -m ftagent.script_runner``, the command of the pod's
``scripts`` container, with an environment that holds no key; the agent side is the real
:mod:`ftagent.sandbox` client and, for the whole path, the real agent step with the scripted
LLM server. What the container itself isolates (user, mounts, no Secret, PID namespace) is
checked on the rendered Job in ``tests/operator/test_builders.py`` and the hostile corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftagent import sandbox
from ftagent.pipeline import run_step
from ftagent.sandbox import SandboxUnavailable
from ftagent.script_runner import RUNNER_DIR_ENV, SOCKET_NAME, STARTUP_TIMEOUT_ENV

from .test_script_attacks import queue, spec
from .workspace import layout_of, make_request, read_plan, read_train_json


class Runner:
    def __init__(self, folder: Path, process: subprocess.Popen[bytes], log: Path) -> None:
        self.folder, self.process, self.log = folder, process, log

    def exited(self, timeout: float = 15.0) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def start_runner(folder: Path, *, startup_timeout_s: float = 60.0) -> Runner:
    folder.chmod(0o777)  # an emptyDir
    log = folder.parent / "runner.log"
    env = {
        "PATH": os.environ["PATH"],
        RUNNER_DIR_ENV: str(folder),
        STARTUP_TIMEOUT_ENV: str(startup_timeout_s),
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "ftagent.script_runner"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    return Runner(folder, process, log)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    # Unix socket paths must stay short: not under pytest's deep tmp_path.
    base = Path(tempfile.mkdtemp(prefix="ftsc-", dir="/tmp"))
    folder = base / "sb"
    folder.mkdir()
    started = start_runner(folder)
    monkeypatch.setenv(RUNNER_DIR_ENV, str(folder))
    monkeypatch.setenv("FT_SCRIPT_TIMEOUT_S", "30")
    assert sandbox.attach_runner(wait_s=20), started.log.read_text()
    yield started
    sandbox.detach_runner()
    started.exited(10)
    if started.process.poll() is None:
        started.process.kill()
    subprocess.run(["rm", "-rf", str(base)], check=False)


def run(code: str, *, timeout_s: float = 20.0) -> tuple[sandbox.SandboxResult, Path]:
    work = sandbox.scratch_folder(Path("/nonexistent"))
    script = work / "script.py"
    script.write_text(code)
    result = sandbox.run_script(script, cwd=work, timeout_s=timeout_s, env={})
    return result, work


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


def test_a_script_runs_in_a_fresh_run_folder_with_a_bare_environment(runner: Runner) -> None:
    result, work = run(
        "import json, os\n"
        "json.dump(sorted(os.environ), open('env.json', 'w'))\n"
        "print('hello from', os.getcwd())\n"
    )
    assert result.ok, result.describe()
    assert work.parent == runner.folder / "work"
    assert "hello from" in result.stdout_tail
    names = set(json.loads((work / "env.json").read_text()))
    assert names <= {"PATH", "HOME", "LC_CTYPE"}, names
    second, other = run("print('again')")
    assert second.ok and other != work


def test_nothing_a_script_starts_outlives_its_run(runner: Runner) -> None:
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        open('child.pid', 'w').write(str(os.getpid()))\n"
        "        time.sleep(3)\n"
        "        open('late.txt', 'w').write('still alive')\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\n"
    )
    result, work = run(code)
    assert result.ok, result.describe()
    pid = int((work / "child.pid").read_text())
    assert not alive(pid)
    time.sleep(3.5)
    assert not (work / "late.txt").exists()


def test_a_timeout_kills_the_whole_tree(runner: Runner) -> None:
    code = (
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    result, work = run(code, timeout_s=2)
    assert result.timed_out and not result.ok
    assert not alive(int((work / "child.pid").read_text()))


def test_a_script_cannot_reach_the_runner(runner: Runner) -> None:
    """The runner took the agent's connection and removed its socket: a script can neither
    submit runs nor pose as the agent."""
    code = (
        "import os, socket\n"
        f"path = os.path.join({str(runner.folder)!r}, {SOCKET_NAME!r})\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(path)\n"
        "    print('CONNECTED')\n"
        "except OSError as exc:\n"
        "    print('refused', exc)\n"
    )
    result, _ = run(code)
    assert result.ok and "refused" in result.stdout_tail and "CONNECTED" not in result.stdout_tail


def test_runs_outside_the_run_folders_are_refused(runner: Runner, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "script.py").write_text("print('ran')")
    with pytest.raises(SandboxUnavailable, match="not a folder of"):
        sandbox.run_script(outside / "script.py", cwd=outside, env={})
    work = sandbox.scratch_folder(Path("/nonexistent"))
    (work / "script.py").write_text("print('ran')")
    with pytest.raises(SandboxUnavailable, match="may not be passed"):
        sandbox.run_script(work / "script.py", cwd=work, env={"FT_LLM_API_KEY": "x"})


def test_the_runner_exits_when_the_agent_does(runner: Runner) -> None:
    sandbox.detach_runner()
    assert runner.exited() == 0


def test_the_runner_exits_when_no_agent_comes(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ftsc-", dir="/tmp"))
    lonely = start_runner(folder, startup_timeout_s=0.5)
    assert lonely.exited() == 0
    assert not (folder / SOCKET_NAME).exists()


def test_without_its_script_container_generated_code_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ftsc-", dir="/tmp"))
    monkeypatch.setenv(RUNNER_DIR_ENV, str(folder))
    assert not sandbox.attach_runner(wait_s=0.3)
    with pytest.raises(SandboxUnavailable, match="script container is not reachable"):
        sandbox.require_sandbox()


def test_the_agent_step_runs_its_script_in_the_container(
    tmp_path: Path, runner: Runner, llm_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real LLM planner: the script runs in the runner's run folder, calls the LLM through
    the gateway's socket in the shared folder, and its records become the training data."""
    monkeypatch.setenv("FT_LLM_API_KEY", "sk-test-container")
    queue(
        llm_server,
        """
        from ftagent.script_api import complete
        answer = complete("say ok")
        finish({"cwd": os.getcwd(), "llm": answer, "uid": os.getuid()})
        """,
    )
    llm_server.reply("ok from the model")
    request = make_request(tmp_path, "aime25", spec=spec(llm_server))
    result = run_step(request)
    assert result.ok, result
    runs = list((runner.folder / "work").iterdir())
    assert len(runs) == 1
    report = json.loads((runs[0] / "report.json").read_text())
    assert report["cwd"] == str(runs[0]) and report["llm"] == "ok from the model"
    data = read_train_json(request)
    assert data and "ok from the model" in data[0]["output"]
    assert read_plan(request).recipe.script
    assert not (layout_of(request).round_dir(0, 0) / "work").exists()  # nothing ran here
