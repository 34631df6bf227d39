"""Turns Job and Pod objects into what the lifecycle needs (:class:`ObservedJob`). Pure.

The kopf handlers keep small summaries of the campaign's Jobs and Pods in memory indices
(:func:`summarize_job`, :func:`summarize_pod`); :func:`observe` combines them. Results come
from the pod's termination message, parsed and bounded by :class:`ftapi.results.StepResult`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ftapi.results import FailureKind, ResultError, StepResult
from ftapi.steps import StepKind
from ftoperator import labels as L
from ftoperator.lifecycle import JobState, ObservedJob


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def summarize_job(body: Mapping[str, Any], gpu_resource: str = "nvidia.com/gpu") -> dict[str, Any]:
    """The few fields of a Job the operator needs (kept in memory for every Job)."""
    meta = body.get("metadata", {})
    spec = body.get("spec", {})
    status = body.get("status") or {}
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    limits = (containers[0].get("resources", {}).get("limits", {}) if containers else {}) or {}
    return {
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "step": (meta.get("labels") or {}).get(L.STEP),
        "suspend": bool(spec.get("suspend")),
        "active": status.get("active") or 0,
        "startTime": status.get("startTime"),
        "completionTime": status.get("completionTime"),
        "conditions": [
            {k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
            for c in status.get("conditions") or []
        ],
        "gpus": int(limits.get(gpu_resource, 0) or 0),
        "deleting": meta.get("deletionTimestamp") is not None,
    }


def summarize_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields of a step's Pod the operator needs: phase and termination state."""
    meta = body.get("metadata", {})
    status = body.get("status") or {}
    terminated = None
    waiting_reason = None
    containers = (body.get("spec") or {}).get("containers") or [{}]
    worker = containers[0].get("name")  # the step's worker; an agent pod also runs "scripts"
    statuses = status.get("containerStatuses") or []
    for cs in [c for c in statuses if c.get("name") == worker] or statuses:
        state = cs.get("state") or {}
        if state.get("terminated"):
            t = state["terminated"]
            terminated = {
                k: t.get(k) for k in ("exitCode", "reason", "message", "startedAt", "finishedAt")
            }
        elif state.get("waiting"):
            waiting_reason = state["waiting"].get("reason")
    return {
        "name": meta.get("name"),
        "job": (meta.get("labels") or {}).get(L.JOB_NAME),
        "phase": status.get("phase"),
        "reason": status.get("reason"),
        "message": status.get("message"),
        "waitingReason": waiting_reason,
        "terminated": terminated,
        "startTime": status.get("startTime"),
    }


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in job.get("conditions", []):
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


_CONFIG_WAIT_REASONS = {
    "CreateContainerConfigError",
    "InvalidImageName",
    "ErrImagePull",
    "ImagePullBackOff",
}


def observe(
    job: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    now: datetime,
    grace_seconds: float = 30.0,
) -> ObservedJob:
    """What one Job's step came to, from its summary and its pods' summaries."""
    step = StepKind(job["step"]) if job.get("step") else None
    return replace(_observe(job, step, pods, now, grace_seconds), step=step)


def _observe(
    job: Mapping[str, Any],
    step: StepKind | None,
    pods: Iterable[Mapping[str, Any]],
    now: datetime,
    grace_seconds: float,
) -> ObservedJob:
    name = str(job["name"])
    started = _time(job.get("startTime"))
    gpus = int(job.get("gpus") or 0)
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    own_pods = [p for p in pods if p.get("job") == name]
    finished_pod = next((p for p in own_pods if p.get("terminated")), None)
    evicted = next((p for p in own_pods if p.get("reason") == "Evicted"), None)

    if complete is None and failed is None:
        if job.get("suspend") and not job.get("active"):
            return ObservedJob(
                name, JobState.SUSPENDED, message="waiting for admission (suspended)", gpus=gpus
            )
        stuck = next((p for p in own_pods if p.get("waitingReason") in _CONFIG_WAIT_REASONS), None)
        if stuck is not None:
            # A missing Secret or image: the pod will never start; waiting helps no one.
            return ObservedJob(
                name,
                JobState.FAILED,
                failure=FailureKind.ENVIRONMENT,
                message=f"pod {stuck['name']} cannot start: {stuck['waitingReason']}",
                gpus=gpus,
            )
        running = job.get("active") or any(p.get("phase") == "Running" for p in own_pods)
        return ObservedJob(
            name, JobState.RUNNING if running else JobState.PENDING, started_at=started, gpus=gpus
        )

    finished = _time(job.get("completionTime")) or _time(
        (complete or failed or {}).get("lastTransitionTime")
    )
    base = {"started_at": started, "finished_at": finished, "gpus": gpus}
    if finished_pod is not None:
        term = finished_pod["terminated"]
        message = term.get("message")
        if term.get("reason") == "OOMKilled":
            return ObservedJob(
                name,
                JobState.FAILED,
                failure=FailureKind.OOM,
                message=f"pod {finished_pod['name']} was OOM-killed",
                **base,
            )
        try:
            result = StepResult.parse_message(message, step)
        except ResultError as exc:
            if complete is None and not message:
                kind = _failure_kind(failed, evicted)
                if kind is FailureKind.INFRASTRUCTURE and evicted is None:
                    kind = FailureKind.INTERNAL  # it ran and crashed before reporting
                return ObservedJob(
                    name,
                    JobState.FAILED,
                    failure=kind,
                    message="crashed without a result: "
                    + _failure_message(failed, finished_pod, evicted),
                    **base,
                )
            return ObservedJob(
                name,
                JobState.FAILED,
                failure=FailureKind.INTERNAL,
                message=f"malformed result from pod {finished_pod['name']}: {exc}",
                **base,
            )
        state = JobState.SUCCEEDED if complete is not None and result.ok else JobState.FAILED
        if state is JobState.FAILED and result.ok:
            # The pod said ok but the Job failed (e.g. deadline hit after writing the message).
            return ObservedJob(
                name,
                JobState.FAILED,
                failure=_failure_kind(failed, evicted),
                message=_failure_message(failed, finished_pod, evicted),
                **base,
            )
        return ObservedJob(name, state, result=result, **base)
    if failed is not None:
        return ObservedJob(
            name,
            JobState.FAILED,
            failure=_failure_kind(failed, evicted),
            message=_failure_message(failed, None, evicted),
            **base,
        )
    # Complete, but the pod's status has not reached us yet (separate watch streams).
    if finished is not None and (now - finished).total_seconds() > grace_seconds:
        return ObservedJob(
            name,
            JobState.FAILED,
            failure=FailureKind.INTERNAL,
            message=f"Job {name} completed but no pod reported a result",
            **base,
        )
    return ObservedJob(name, JobState.RUNNING, started_at=started, gpus=gpus)


def _failure_kind(
    failed: Mapping[str, Any] | None, evicted: Mapping[str, Any] | None
) -> FailureKind:
    if evicted is not None:
        return FailureKind.INFRASTRUCTURE
    if failed is not None and failed.get("reason") == "DeadlineExceeded":
        return FailureKind.TIMEOUT
    if failed is not None and failed.get("reason") == "BackoffLimitExceeded":
        # The pod failed without a termination message and was not evicted: it vanished
        # (deleted, node lost) or crashed before writing one.
        return FailureKind.INFRASTRUCTURE
    return FailureKind.INTERNAL


def _failure_message(
    failed: Mapping[str, Any] | None,
    pod: Mapping[str, Any] | None,
    evicted: Mapping[str, Any] | None,
) -> str:
    if evicted is not None:
        return f"pod {evicted['name']} evicted: {evicted.get('message') or ''}".strip()
    parts = []
    if failed is not None:
        parts.append(f"{failed.get('reason')}: {failed.get('message') or ''}".strip())
    if pod is not None and pod.get("terminated"):
        t = pod["terminated"]
        parts.append(f"exit code {t.get('exitCode')} ({t.get('reason')})")
    return "; ".join(parts) or "the Job failed"
