"""Where the dashboard reads campaigns from: a local ``ftctl`` work folder, or the cluster.

Both give :class:`CampaignRecord` values: the campaign (spec and status), its workspace folder
(the traces and results the steps wrote; read only), its Jobs (a timeline) and Events. Nothing
here writes: the local source only reads files, the cluster source only lists and gets (the
chart's dashboard RBAC allows nothing else).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.campaign import FineTuneCampaign
from ftapi.results import StepResult
from ftapi.steps import MountPaths, StepRequest
from ftapi.workspace import CampaignLayout
from ftoperator import labels as L


@dataclass
class JobRecord:
    """One step's Job (or local process): what ran, when, how it ended."""

    name: str
    step: str
    iteration: int | None
    repair_round: int
    attempt: int
    started: datetime | None
    finished: datetime | None
    outcome: str
    """``pending``, ``running``, ``succeeded``, ``failed`` or ``interrupted``."""
    message: str = ""
    log: Path | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished or datetime.now(UTC)
        return max(0.0, (end - self.started).total_seconds())


@dataclass
class EventRecord:
    time: datetime | None
    type: str
    reason: str
    message: str
    count: int = 1


@dataclass
class CampaignRecord:
    campaign: FineTuneCampaign
    layout: CampaignLayout | None
    """Where its workspace folder is, when this dashboard can read it."""
    jobs: list[JobRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    where: str = "local"

    @property
    def namespace(self) -> str:
        return self.campaign.metadata.namespace or "local"

    @property
    def name(self) -> str:
        return self.campaign.metadata.name or "campaign"


class Source(Protocol):
    def campaigns(self) -> list[CampaignRecord]: ...

    def campaign(self, namespace: str, name: str) -> CampaignRecord | None: ...


def _stamp(path: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(path.read_text().strip())
    except (OSError, ValueError):
        return None


class LocalSource:
    """``ftctl run`` state: ``<workdir>/runs/<name>/campaign.json`` and ``jobs/``, the workspace
    in ``<workdir>/workspace``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def _paths(self) -> MountPaths:
        workspace = self.workdir / "workspace"
        return MountPaths(models="", datasets="", workspace=str(workspace))

    def _load(self, state: Path) -> CampaignRecord | None:
        try:
            campaign = FineTuneCampaign.model_validate_json((state / "campaign.json").read_text())
        except (OSError, ValidationError):
            return None
        meta = campaign.metadata
        layout = CampaignLayout(self._paths(), meta.namespace or "local", meta.name or "")
        terminal = str(campaign.status.phase) in ("Succeeded", "Failed")
        return CampaignRecord(campaign, layout, self._jobs(state, terminal), where="local")

    @staticmethod
    def _jobs(state: Path, terminal: bool = False) -> list[JobRecord]:
        """The run's steps. A step started but never finished whose process is gone (a
        later attempt exists, or the run is over) was interrupted (``ftctl run`` killed);
        its end is its log's last write."""
        jobs = []
        for folder in sorted((state / "jobs").glob("*")):
            try:
                request = StepRequest.model_validate_json((folder / "request.json").read_text())
            except (OSError, ValidationError):
                continue
            exit_file = folder / "exit_code"
            started = _stamp(folder / "started")
            finished = _stamp(folder / "finished")
            outcome, message = "pending" if started is None else "running", ""
            if exit_file.exists():
                code = exit_file.read_text().strip()
                outcome = "succeeded" if code == "0" else "failed"
                if finished is None:
                    finished = datetime.fromtimestamp(exit_file.stat().st_mtime, UTC)
            term = folder / "termination.log"
            if term.exists():
                try:
                    message = StepResult.parse_message(term.read_text(), request.step).message
                except Exception:  # a malformed message is the step's failure, shown as is
                    message = term.read_text()[:500]
            jobs.append(
                JobRecord(
                    name=folder.name,
                    step=str(request.step),
                    iteration=request.iteration,
                    repair_round=request.repair_round,
                    attempt=request.attempt,
                    started=started,
                    finished=finished,
                    outcome=outcome,
                    message=message,
                    log=folder / "stdout.log",
                )
            )

        def step_of(job: JobRecord) -> str:  # the Job name without its attempt
            return job.name.rsplit("-", 1)[0]

        last_attempt: dict[str, int] = {}
        for job in jobs:
            last_attempt[step_of(job)] = max(job.attempt, last_attempt.get(step_of(job), 0))
        for job in jobs:
            retried = job.attempt < last_attempt[step_of(job)]
            if job.outcome == "running" and (retried or terminal):
                job.outcome = "interrupted"
                if job.log is not None and job.log.exists():
                    job.finished = datetime.fromtimestamp(job.log.stat().st_mtime, UTC)
        return jobs

    def campaigns(self) -> list[CampaignRecord]:
        records = [self._load(state) for state in sorted((self.workdir / "runs").glob("*"))]
        return [r for r in records if r is not None]

    def campaign(self, namespace: str, name: str) -> CampaignRecord | None:
        record = self._load(self.workdir / "runs" / name)
        return record if record is not None and record.namespace == namespace else None


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class ClusterSource:
    """FineTuneCampaigns, their Jobs and Events from the API server (list and get only); the
    workspace claim mounted read-only at ``workspace`` (None: results come from the status
    only)."""

    def __init__(
        self,
        api: Any,
        *,
        namespaces: Sequence[str] = (),
        workspace: Path | None = None,
    ) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.namespaces = list(namespaces)
        self.workspace = workspace

    def _record(self, body: dict[str, Any], details: bool) -> CampaignRecord | None:
        try:
            campaign = FineTuneCampaign.model_validate(body)
        except ValidationError:
            return None
        meta = campaign.metadata
        layout = None
        if self.workspace is not None:
            paths = MountPaths(models="", datasets="", workspace=str(self.workspace))
            layout = CampaignLayout(paths, meta.namespace or "default", meta.name or "", meta.uid)
        record = CampaignRecord(campaign, layout, where="cluster")
        if details and meta.uid:
            record.jobs = self._jobs(meta.namespace or "default", meta.uid)
            record.events = self._events(meta.namespace or "default", meta.uid)
        return record

    def _jobs(self, namespace: str, uid: str) -> list[JobRecord]:
        items = self.batch.list_namespaced_job(
            namespace, label_selector=f"{L.CAMPAIGN_UID}={uid}"
        ).items
        jobs = []
        for job in items:
            labels = job.metadata.labels or {}
            status = job.status
            conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"}
            outcome = "pending" if not status.start_time else "running"
            message = ""
            if "Complete" in conditions:
                outcome = "succeeded"
            elif "Failed" in conditions:
                outcome, message = "failed", conditions["Failed"].message or ""
            finished = status.completion_time or (
                conditions["Failed"].last_transition_time if "Failed" in conditions else None
            )
            iteration = labels.get(L.ITERATION)
            jobs.append(
                JobRecord(
                    name=job.metadata.name,
                    step=labels.get(L.STEP, ""),
                    iteration=int(iteration) if iteration is not None else None,
                    repair_round=int(labels.get(L.REPAIR_ROUND, 0)),
                    attempt=int(labels.get(L.ATTEMPT, 0)),
                    started=_time(status.start_time),
                    finished=_time(finished),
                    outcome=outcome,
                    message=message,
                )
            )
        return sorted(jobs, key=lambda j: j.started or datetime.max.replace(tzinfo=UTC))

    def _events(self, namespace: str, uid: str) -> list[EventRecord]:
        items = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.uid={uid}"
        ).items
        events = [
            EventRecord(
                time=_time(e.last_timestamp or e.event_time or e.first_timestamp),
                type=e.type or "",
                reason=e.reason or "",
                message=e.message or "",
                count=e.count or 1,
            )
            for e in items
        ]
        return sorted(events, key=lambda e: e.time or datetime.min.replace(tzinfo=UTC))

    def _list(self) -> list[dict[str, Any]]:
        if not self.namespaces:
            body = self.custom.list_cluster_custom_object(API_GROUP, API_VERSION, PLURAL)
            return list(body.get("items") or [])
        items: list[dict[str, Any]] = []
        for namespace in self.namespaces:
            body = self.custom.list_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURAL
            )
            items += body.get("items") or []
        return items

    def campaigns(self) -> list[CampaignRecord]:
        records = [self._record(body, details=False) for body in self._list()]
        return [r for r in records if r is not None]

    def campaign(self, namespace: str, name: str) -> CampaignRecord | None:
        from kubernetes.client.rest import ApiException

        if self.namespaces and namespace not in self.namespaces:
            return None
        try:
            body = self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self._record(body, details=True)


def read_json(path: Path, limit: int = 32 * 1024**2) -> Any:
    """A JSON file of the workspace, or None (missing, too large, unreadable)."""
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, json.JSONDecodeError):
        return None


def tail(path: Path | None, lines: int = 200, max_bytes: int = 256 * 1024) -> str:
    """The end of a log file ('' when missing)."""
    if path is None or not path.is_file():
        return ""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


__all__ = [
    "CampaignRecord",
    "ClusterSource",
    "EventRecord",
    "JobRecord",
    "LocalSource",
    "Source",
    "read_json",
    "tail",
]
