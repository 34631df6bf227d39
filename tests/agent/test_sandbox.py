"""Running generated code: timeout, memory limit, scrubbed environment, crashes."""

from __future__ import annotations

import os
from pathlib import Path

from ftagent.sandbox import run_script


def script(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "process_data.py"
    path.write_text(code)
    return path


def test_success_in_its_work_folder_with_a_scrubbed_environment(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FT_LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak")
    code = (
        "import json, os, pathlib\n"
        "pathlib.Path('env.json').write_text(json.dumps(dict(os.environ)))\n"
        "print('done')\n"
    )
    work = tmp_path / "work"
    result = run_script(script(tmp_path, code), cwd=work, timeout_s=30)
    assert result.ok, result.describe()
    env = __import__("json").loads((work / "env.json").read_text())
    assert set(env) <= {"PATH", "HOME", "LC_CTYPE"}  # LC_CTYPE: Python's own C-locale coercion
    assert env["HOME"] == str(work)
    assert "done" in result.stdout_tail


def test_llm_variables_only_when_given(tmp_path: Path) -> None:
    code = "import os; assert os.environ['FT_LLM_API_BASE'] == 'http://x/v1'\n"
    result = run_script(
        script(tmp_path, code), cwd=tmp_path / "w", env={"FT_LLM_API_BASE": "http://x/v1"}
    )
    assert result.ok, result.describe()


def test_crash_is_described(tmp_path: Path) -> None:
    result = run_script(script(tmp_path, "1 / 0\n"), cwd=tmp_path / "w", timeout_s=30)
    assert not result.ok
    assert "exited with status 1" in result.describe()
    assert "ZeroDivisionError" in result.describe()


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "time.sleep(60)\n"
    )
    result = run_script(script(tmp_path, code), cwd=tmp_path / "w", timeout_s=1.5)
    assert result.timed_out
    assert "time limit" in result.describe()
    assert result.seconds < 10


def test_memory_limit(tmp_path: Path) -> None:
    code = "blob = bytearray(1024 * 1024 * 1024)\n"
    result = run_script(script(tmp_path, code), cwd=tmp_path / "w", timeout_s=30, memory_mb=256)
    assert not result.ok
    assert "MemoryError" in result.describe()


def test_isolated_python_ignores_pythonpath(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (tmp_path / "evil.py").write_text("raise SystemExit('imported')\n")
    code = "import sys\ntry:\n    import evil\nexcept ImportError:\n    sys.exit(0)\nsys.exit(5)\n"
    work = tmp_path / "w"
    work.mkdir()
    result = run_script(script(work, code), cwd=work)
    assert result.ok, result.describe()
    assert os.environ["PYTHONPATH"] == str(tmp_path)
