"""The local executor behind ``ftctl run``: the operator's lifecycle with local processes
instead of Jobs and local folders instead of PVCs.

Each :class:`~ftoperator.lifecycle.CreateJob` becomes ``python -m <worker>`` with the same
``FT_STEP_REQUEST`` a pod would get (mount paths pointing at local folders) and a local
termination-message file. Everything is kept under the state folder::

    <state>/campaign.json          the campaign with its status, rewritten after each decision
    <state>/jobs/<job>/            request.json, stdout.log, termination.log, exit_code

so a killed run resumes where it stopped: finished steps are read back from their records;
a step that was running when the run died has no ``exit_code`` and counts as a vanished Job
(an infrastructure failure), which the lifecycle retries under the next attempt number.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ftapi.campaign import FineTuneCampaign, Phase
from ftapi.results import FailureKind, ResultError, StepResult
from ftapi.steps import (
    EVAL_STEPS,
    ORACLE_DIR_ENV,
    ORACLE_SUBDIR,
    STEP_REQUEST_ENV,
    TERMINATION_LOG_ENV,
    MountPaths,
    StepRequest,
)
from ftoperator.builders import OFFLINE_ENV, WORKER_MODULES, worker_kind
from ftoperator.lifecycle import (
    RESUME_ANNOTATION,
    Decision,
    JobState,
    ObservedJob,
    Settings,
    decide,
)

TERMINAL = (Phase.SUCCEEDED, Phase.FAILED)


def _die_with_parent() -> None:
    """Runs in the child before exec: if ``ftctl run`` is killed (even SIGKILL), the kernel
    ends its steps too, so no orphan keeps writing into the state folder."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LocalPaths:
    """Local folders standing in for the three PVCs, and the run's state folder."""

    cache: Path
    workspace: Path
    state: Path

    def mounts(self) -> MountPaths:
        return MountPaths(
            models=str(self.cache / "models"),
            datasets=str(self.cache / "datasets"),
            workspace=str(self.workspace),
        )


@dataclass
class LocalRun:
    campaign: FineTuneCampaign
    paths: LocalPaths
    settings: Settings = field(default_factory=lambda: Settings(backoff_base=1, backoff_max=5))
    extra_env: dict[str, str] = field(default_factory=dict)
    on_decision: Callable[[FineTuneCampaign, Decision], None] | None = None
    poll_seconds: float = 0.5
    command_for: Callable[[StepRequest], list[str]] | None = None
    """The command of a step; the worker image's entrypoint (``python -m <worker>``) when
    unset. Tests substitute stand-in workers here."""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # --------------------------------------------------------------- state on disk
    @property
    def jobs_dir(self) -> Path:
        return self.paths.state / "jobs"

    def save(self) -> None:
        self.paths.state.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.state / "campaign.json.tmp"
        tmp.write_text(self.campaign.model_dump_json(indent=2, exclude_none=True))
        tmp.replace(self.paths.state / "campaign.json")

    @classmethod
    def resume_or_start(
        cls,
        campaign: FineTuneCampaign,
        paths: LocalPaths,
        retry_failed: bool = False,
        **kwargs,
    ) -> LocalRun:
        """The saved run (its status), or a new one. With ``retry_failed``, a Failed run
        retries its failed step (as the ``ftagent.dev/resume`` annotation does on a
        cluster); finished steps are kept."""
        saved = paths.state / "campaign.json"
        if saved.exists():
            previous = FineTuneCampaign.model_validate_json(saved.read_text())
            campaign = campaign.model_copy(update={"status": previous.status})
            annotations = dict(previous.metadata.annotations)
            if retry_failed and previous.status.phase is Phase.FAILED:
                annotations[RESUME_ANNOTATION] = f"local-{previous.status.resumes + 1}"
            campaign.metadata.annotations = {**campaign.metadata.annotations, **annotations}
        generation = (campaign.metadata.generation or 0) + 1
        campaign.metadata.generation = generation
        campaign.metadata.namespace = campaign.metadata.namespace or "local"
        return cls(campaign=campaign, paths=paths, **kwargs)

    # --------------------------------------------------------------- observation
    def observe(self) -> dict[str, ObservedJob]:
        out: dict[str, ObservedJob] = {}
        if not self.jobs_dir.exists():
            return out
        for folder in sorted(self.jobs_dir.iterdir()):
            out[folder.name] = self.observe_one(folder)
        return out

    def observe_one(self, folder: Path) -> ObservedJob:
        name = folder.name
        proc = self.procs.get(name)
        exit_file = folder / "exit_code"
        started = _stamp(folder / "started")
        if proc is not None and proc.poll() is None:
            return ObservedJob(name, JobState.RUNNING, started_at=started)
        if proc is not None and not exit_file.exists():
            exit_file.write_text(str(proc.returncode))
            (folder / "finished").write_text(_now().isoformat())
        if proc is not None:
            del self.procs[name]
        if not exit_file.exists():
            # Started by an earlier run that died before it finished: the Job "vanished".
            return ObservedJob(
                name,
                JobState.FAILED,
                failure=FailureKind.INFRASTRUCTURE,
                message=f"{name} was interrupted",
                started_at=started,
            )
        code = int(exit_file.read_text().strip() or 1)
        finished = _stamp(folder / "finished")
        request = StepRequest.model_validate_json((folder / "request.json").read_text())
        message_file = folder / "termination.log"
        text = message_file.read_text() if message_file.exists() else ""
        gpus = self.local_gpus()
        try:
            result = StepResult.parse_message(text, request.step)
        except ResultError as exc:
            kind = FailureKind.OOM if code in (-9, 137) else FailureKind.INTERNAL
            return ObservedJob(
                name,
                JobState.FAILED,
                failure=kind,
                message=f"{exc} (exit code {code}; see {folder / 'stdout.log'})",
                started_at=started,
                finished_at=finished,
                gpus=gpus,
            )
        state = JobState.SUCCEEDED if result.ok and code == 0 else JobState.FAILED
        return ObservedJob(
            name, state, result=result, started_at=started, finished_at=finished, gpus=gpus
        )

    @staticmethod
    def local_gpus() -> int:
        try:
            import torch

            return torch.cuda.device_count()
        except Exception:
            return 0

    # --------------------------------------------------------------- acting
    def start(self, name: str, request: StepRequest) -> None:
        folder = self.jobs_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        request = request.model_copy(update={"paths": self.paths.mounts()})
        (folder / "request.json").write_text(request.model_dump_json())
        for stale in ("exit_code", "finished", "termination.log"):
            (folder / stale).unlink(missing_ok=True)
        env = {
            **os.environ,
            **OFFLINE_ENV,
            **self.extra_env,
            STEP_REQUEST_ENV: request.model_dump_json(exclude_none=True),
            TERMINATION_LOG_ENV: str(folder / "termination.log"),
            "PYTHONUNBUFFERED": "1",
        }
        if request.step in EVAL_STEPS:
            env[ORACLE_DIR_ENV] = str(Path(request.paths.models) / ORACLE_SUBDIR)
        if worker_kind(request.step) == "prepare":
            for key in OFFLINE_ENV:
                env.pop(key, None)
                if key in os.environ:
                    env[key] = os.environ[key]
        (folder / "started").write_text(_now().isoformat())
        log = (folder / "stdout.log").open("ab")
        command = (
            self.command_for(request)
            if self.command_for is not None
            else [sys.executable, "-m", WORKER_MODULES[worker_kind(request.step)]]
        )
        self.procs[name] = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def act(self, decision: Decision) -> None:
        for create in decision.create:
            self.start(create.name, create.request)
        for delete in decision.delete:
            proc = self.procs.get(delete.name)
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)

    def step(self) -> Decision:
        decision = decide(self.campaign, self.observe(), _now(), self.settings)
        self.act(decision)
        self.campaign = self.campaign.model_copy(update={"status": decision.status})
        self.save()
        if self.on_decision is not None:
            self.on_decision(self.campaign, decision)
        return decision

    def run(self, until: Callable[[FineTuneCampaign], bool] | None = None) -> FineTuneCampaign:
        """Decide and act until the campaign ends (or ``until`` says stop). SIGTERM stops it
        like Ctrl-C: running steps are ended and the state on disk stays consistent."""

        def on_term(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, on_term)
        try:
            while True:
                decision = self.step()
                if self.campaign.status.phase in TERMINAL and not self.procs:
                    return self.campaign
                if until is not None and until(self.campaign):
                    return self.campaign
                if not decision.create:
                    time.sleep(self.poll_seconds)
        finally:
            self.stop_children()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def stop_children(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _stamp(path: Path) -> datetime | None:
    if not path.exists():
        return None
    return datetime.fromisoformat(path.read_text().strip())


def job_records(state: Path) -> list[dict[str, object]]:
    """What each local job did, for reports and tests."""
    out = []
    for folder in sorted((state / "jobs").glob("*")):
        exit_file = folder / "exit_code"
        out.append(
            {
                "name": folder.name,
                "request": json.loads((folder / "request.json").read_text()),
                "exit_code": int(exit_file.read_text()) if exit_file.exists() else None,
            }
        )
    return out
