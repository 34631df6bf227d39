"""Running generated code: bubblewrap namespaces, timeout, memory limit, scrubbed environment,
crashes, the refusal without a sandbox and the opt-out; the LLM gateway scripts call."""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import litellm
import pytest

from ftagent import sandbox
from ftagent.gateway import GATEWAY_LOG_NAME, LlmGateway
from ftagent.llm_client import CostMeter, LlmSettings
from ftagent.sandbox import UNSAFE_ENV, SandboxUnavailable, bwrap_command, run_script
from ftapi.results import FailureKind


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
    # LC_CTYPE: Python's own C-locale coercion; PWD: set by bwrap's --chdir
    assert set(env) <= {"PATH", "HOME", "LC_CTYPE", "PWD"}
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


# ---------------------------------------------------------------------- bubblewrap


def test_scripts_run_in_their_own_namespaces(tmp_path: Path) -> None:
    neighbour = tmp_path / "neighbour.txt"
    neighbour.write_text("not for the script")
    code = (
        "import os, json\n"
        "pids = sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
        f"seen = os.path.exists({str(neighbour)!r})\n"
        "json.dump({'pids': pids, 'neighbour': seen}, open('ns.json', 'w'))\n"
    )
    work = tmp_path / "w"
    result = run_script(script(tmp_path, code), cwd=work, timeout_s=30)
    assert result.ok, result.describe()
    seen = json.loads((work / "ns.json").read_text())
    assert seen["pids"] == ["1", "2"]  # bwrap's init and the script: no agent to look at
    assert seen["neighbour"] is False  # only the scratch folder and the script are bound


def test_command_line_isolates_and_binds_only_what_is_given(tmp_path: Path) -> None:
    work, raw, hidden = tmp_path / "work", tmp_path / "raw", tmp_path / "ws"
    for folder in (work, raw, hidden):
        folder.mkdir()
    command = bwrap_command(
        ["python", "x.py"],
        cwd=work,
        env={"PATH": "/bin", "HOME": str(work)},
        writable=[work],
        read_only=[raw],
        hide=[hidden],
    )
    text = " ".join(command)
    assert "--die-with-parent" in command and "--clearenv" in command
    assert "--unshare-net" in command or "--unshare-all" in command
    assert "--unshare-pid" in command or "--unshare-all" in command
    assert f"--bind {work} {work}" in text
    assert f"--ro-bind {raw} {raw}" in text
    assert "--ro-bind / /" in text and "--proc /proc" in text and "--tmpfs /tmp" in text
    assert text.count("--bind ") == 1  # the scratch folder is the only writable bind
    assert "FT_LLM_API_KEY" not in text


def test_no_bubblewrap_refuses_generated_code(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable) as caught:
            run_script(script(tmp_path, "print(1)\n"), cwd=tmp_path / "w", timeout_s=30)
        message = str(caught.value)
        assert "bubblewrap" in message and "apt-get install -y bubblewrap" in message
        assert UNSAFE_ENV in message
        assert caught.value.kind is FailureKind.ENVIRONMENT
    finally:
        sandbox.sandbox_problem.cache_clear()


def test_explicit_opt_out_runs_unsandboxed_with_a_warning(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv(UNSAFE_ENV, "1")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="ftagent.sandbox"):
            result = run_script(script(tmp_path, "print('ran')\n"), cwd=tmp_path / "w")
        assert result.ok and "ran" in result.stdout_tail
        assert "WITHOUT a sandbox" in caplog.text
    finally:
        sandbox.sandbox_problem.cache_clear()


def test_llm_planner_refuses_scripts_without_a_sandbox(tmp_path, llm_server, monkeypatch) -> None:
    from ftagent.errors import AgentError
    from ftagent.pipeline import run_step

    from .test_llm_planner import llm_spec, proposal
    from .workspace import make_request

    monkeypatch.setenv("FT_LLM_API_KEY", "sk-test")
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        llm_server.reply(proposal("script"))
        request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
        with pytest.raises(AgentError) as caught:
            run_step(request)
        assert caught.value.kind is FailureKind.ENVIRONMENT
        assert "LLM-written code refused" in str(caught.value)
        assert len(llm_server.requests) == 1  # refused before a script was asked for
    finally:
        sandbox.sandbox_problem.cache_clear()


# ---------------------------------------------------------------------- the gateway


def gateway_for(server, tmp_path: Path, budget: float | None = None, key: str = "sk-gw-key"):
    settings = LlmSettings(
        strong_models=("openai/gpt-4o",),
        weak_models=("openai/gpt-4o-mini",),
        api_base=server.base_url,
        max_workers=2,
    )
    meter = CostMeter()
    gateway = LlmGateway(
        settings,
        api_key=key,
        meter=meter,
        budget_usd=budget,
        spent_before_usd=0.0,
        log_path=tmp_path / GATEWAY_LOG_NAME,
    )
    return gateway, meter


def post(gateway: LlmGateway, body: dict | bytes) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=str(gateway.socket_path))
    with httpx.Client(transport=transport) as client:
        url = "http://gateway/v1/chat/completions"
        if isinstance(body, bytes):
            return client.post(url, content=body)
        return client.post(url, json=body)


def test_gateway_forwards_pools_meters_and_records(tmp_path: Path, llm_server) -> None:
    llm_server.reply("strong answer", prompt_tokens=200, completion_tokens=20)
    llm_server.reply("weak answer", prompt_tokens=100, completion_tokens=10)
    gateway, meter = gateway_for(llm_server, tmp_path)
    with gateway:
        assert oct(gateway.socket_path.parent.stat().st_mode)[-3:] == "700"
        first = post(gateway, {"model": "strong", "messages": [{"role": "user", "content": "q"}]})
        second = post(gateway, {"model": "weak", "messages": [{"role": "user", "content": "q"}]})
    assert first.json()["choices"][0]["message"]["content"] == "strong answer"
    assert second.json()["usage"]["prompt_tokens"] == 100
    assert llm_server.models_seen() == ["gpt-4o", "gpt-4o-mini"]
    entries = [json.loads(x) for x in (tmp_path / GATEWAY_LOG_NAME).read_text().splitlines()]
    assert [e["model"] for e in entries] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert all(e["status"] == "ok" and e["cost"] > 0 and "latency_s" in e for e in entries)
    assert meter.spent == pytest.approx(sum(e["cost"] for e in entries))
    assert gateway.spent == pytest.approx(meter.spent)
    assert not gateway.socket_path.parent.exists()  # the folder goes with the gateway


def test_gateway_refuses_other_models_and_bad_requests(tmp_path: Path, llm_server) -> None:
    gateway, _ = gateway_for(llm_server, tmp_path)
    with gateway:
        message = [{"role": "user", "content": "q"}]
        other = post(gateway, {"model": "openai/gpt-4-turbo", "messages": message})
        empty = post(gateway, {"model": "weak", "messages": []})
        broken = post(gateway, b"{not json")
    assert other.status_code == 400 and "is not allowed" in other.json()["error"]["message"]
    assert empty.status_code == 400 and broken.status_code == 400
    assert llm_server.requests == []


def test_gateway_scrubs_the_key_from_errors(
    tmp_path: Path, llm_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FT_LLM_RETRIES", "0")  # the scripted 401 is answered once
    key = "sk-gw-very-secret-key"
    llm_server.fail(401, message=f"Incorrect API key provided: {key}")
    gateway, _ = gateway_for(llm_server, tmp_path, key=key)
    with gateway:
        reply = post(gateway, {"model": "weak", "messages": [{"role": "user", "content": "q"}]})
    assert reply.status_code == 502
    assert "Incorrect API key" in reply.text and key not in reply.text
    log_text = (tmp_path / GATEWAY_LOG_NAME).read_text()
    assert "Incorrect API key" in log_text and key not in log_text


def test_gateway_stops_concurrent_calls_within_one_call_of_the_budget(
    tmp_path: Path, llm_server
) -> None:
    for i in range(10):
        llm_server.reply(f"a{i}", prompt_tokens=100, completion_tokens=50, delay_s=0.05)
    one = sum(litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=100, completion_tokens=50))
    gateway, meter = gateway_for(llm_server, tmp_path, budget=1.2 * one)
    body = {"model": "weak", "messages": [{"role": "user", "content": "q"}]}
    with gateway, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: post(gateway, body), range(10))]
    assert statuses.count(200) == 2 and statuses.count(429) == 8
    assert meter.spent <= 1.2 * one + one
