"""The Kubernetes executor: observe a campaign's Jobs, decide, act, write status.

Called by the kopf daemon of each campaign (:mod:`ftoperator.handlers`) from a worker
thread; all API calls are synchronous kubernetes-client calls. Order matters for restarts:
Jobs are created *before* the status that records them is written, so a crash in between
leaves a Job that the next reconcile finds under its deterministic name, never a duplicate.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.rest import ApiException
from pydantic import ValidationError

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftapi.campaign import FineTuneCampaign, IterationPhase
from ftapi.errors import format_validation_error
from ftoperator import labels as L
from ftoperator import metrics
from ftoperator.builders import build_job
from ftoperator.conditions import set_condition
from ftoperator.config import OperatorConfig
from ftoperator.lifecycle import Decision, Event, Settings, decide
from ftoperator.observe import observe, summarize_job, summarize_pod

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one reconcile did, for the async caller (events are posted from the loop)."""

    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    phase: str | None = None
    best_validation: float | None = None


def crash_point(glob: str | None, job_name: str) -> None:
    """The fault suite's injection point between creating a Job and patching the status."""
    if glob and fnmatch.fnmatchcase(job_name, glob):
        log.error("fault injection: exiting after creating Job %s", job_name)
        logging.shutdown()
        os._exit(137)


def now_utc() -> datetime:
    return datetime.now(UTC)


def settings_from(config: OperatorConfig, campaign: FineTuneCampaign) -> Settings:
    return Settings(
        max_infra_retries=config.max_infra_retries,
        backoff_base=config.backoff_base_seconds,
        backoff_max=config.backoff_max_seconds,
    )


def owned_by(job: Mapping[str, Any], uid: str | None) -> bool:
    """Whether the Job is labelled as this campaign's (by uid)."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    return uid is None or labels.get(L.CAMPAIGN_UID) == uid


class Reconciler:
    def __init__(self, config: OperatorConfig, api: client.ApiClient) -> None:
        self.config = config
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.written: dict[str, dict[str, Any]] = {}
        """The campaign as our last status patch returned it, by uid: the watch that feeds
        the daemon's body may not have delivered it yet."""

    # ------------------------------------------------------------------ I/O helpers
    # A Job found by name may be a deleted campaign's of the same name (its garbage
    # collection lags): only one labelled with this campaign's uid is this campaign's.
    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        metrics.API_REQUESTS.labels(verb="get", resource="jobs").inc()
        try:
            job = self.batch.read_namespaced_job(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self.batch.api_client.sanitize_for_serialization(job)

    def create_job(self, manifest: dict[str, Any]) -> bool:
        """Create the Job; False when it exists already."""
        metrics.API_REQUESTS.labels(verb="create", resource="jobs").inc()
        try:
            self.batch.create_namespaced_job(manifest["metadata"]["namespace"], manifest)
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an earlier run of this decision
                raise
            return False
        return True

    def delete_job(self, namespace: str, name: str) -> None:
        metrics.API_REQUESTS.labels(verb="delete", resource="jobs").inc()
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise

    @staticmethod
    def awaits_pod(job: Mapping[str, Any], pods: list[Mapping[str, Any]]) -> bool:
        """A finished Job whose pod's final state has not reached the index yet."""
        finished = any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in job.get("conditions", [])
        )
        return finished and not any(
            p.get("job") == job.get("name") and (p.get("terminated") or p.get("reason"))
            for p in pods
        )

    def read_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        metrics.API_REQUESTS.labels(verb="list", resource="pods").inc()
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"{L.JOB_NAME}={job_name}")
        return [
            summarize_pod(self.core.api_client.sanitize_for_serialization(p)) for p in pods.items
        ]

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        metrics.API_REQUESTS.labels(verb="patch", resource="finetunecampaigns/status").inc()
        return self.custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, namespace, PLURAL, name, {"status": status}
        )

    def forget(self, uid: str) -> None:
        self.written.pop(uid, None)

    def freshest(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """The newer of the watched body and the object our last status patch returned."""
        uid = body.get("metadata", {}).get("uid")
        mine = self.written.get(uid or "")
        if mine is None:
            return body
        try:
            newer = int(mine["metadata"]["resourceVersion"]) > int(
                body["metadata"]["resourceVersion"]
            )
        except (KeyError, TypeError, ValueError):
            return body
        return mine if newer else body

    # ------------------------------------------------------------------ reconcile
    def reconcile(
        self,
        body: Mapping[str, Any],
        jobs: Iterable[Mapping[str, Any]],
        pods: Iterable[Mapping[str, Any]],
        now: datetime | None = None,
    ) -> Outcome:
        now = now or now_utc()
        body = self.freshest(body)
        meta = body.get("metadata", {})
        namespace = meta["namespace"]
        try:
            campaign = FineTuneCampaign.from_body(body)
        except ValidationError as exc:
            return self.invalid_spec(body, format_validation_error(exc), now)
        if problems := self.config.llm.violations(campaign.spec):
            return self.invalid_spec(body, "; ".join(problems), now)

        job_summaries = {j["name"]: dict(j) for j in jobs if not j.get("deleting")}
        recorded = {campaign.status.active_job, *(it.job for it in campaign.status.iterations)}
        for missing in recorded - set(job_summaries) - {None}:
            # The watch may lag behind our own create: ask the API server before concluding
            # that a recorded Job is gone.
            fetched = self.read_job(namespace, str(missing))
            if (
                fetched is not None
                and not fetched["metadata"].get("deletionTimestamp")
                and owned_by(fetched, campaign.metadata.uid)
            ):
                job_summaries[str(missing)] = summarize_job(fetched, self.config.gpu_resource_name)
        pod_list = list(pods)
        for job_name, summary in job_summaries.items():
            if job_name in recorded and self.awaits_pod(summary, pod_list):
                # The Job watch ran ahead of the Pod watch: read the pod rather than wait.
                pod_list.extend(self.read_pods(namespace, job_name))
        observed = {
            job_name: observe(summary, pod_list, now, self.config.result_grace_seconds)
            for job_name, summary in job_summaries.items()
        }
        decision = decide(campaign, observed, now, settings_from(self.config, campaign))
        self.act(body, campaign, decision)
        self.record_metrics(campaign, decision, observed)
        best = decision.status.best
        return Outcome(
            events=decision.events,
            requeue_after=decision.requeue_after,
            phase=str(decision.status.phase),
            best_validation=best.validation if best else None,
        )

    def act(self, body: Mapping[str, Any], campaign: FineTuneCampaign, decision: Decision) -> None:
        namespace = campaign.metadata.namespace or "default"
        for create in decision.create:
            manifest = build_job(campaign, create, self.config)
            kopf.adopt(manifest, owner=dict(body), nested=["spec.template"])
            if self.create_job(manifest):
                crash_point(self.config.crash_after_creating, create.name)
            metrics.JOBS_CREATED.labels(step=str(create.request.step)).inc()
        for delete in decision.delete:
            self.delete_job(namespace, delete.name)
        new_status = decision.status.model_dump(mode="json", by_alias=True)
        old_status = campaign.status.model_dump(mode="json", by_alias=True)
        if new_status != old_status:
            written = self.patch_status(namespace, campaign.metadata.name or "", new_status)
            if campaign.metadata.uid:
                self.written[campaign.metadata.uid] = written

    def invalid_spec(self, body: Mapping[str, Any], message: str, now: datetime) -> Outcome:
        """A spec the API server accepted but the models reject: Stalled, nothing else."""
        meta = body.get("metadata", {})
        status = dict(body.get("status") or {})
        from ftapi.campaign import Condition

        conditions = []
        for raw in status.get("conditions") or []:
            try:
                conditions.append(Condition.model_validate(raw))
            except ValidationError:
                continue
        already = any(
            c.type == "Stalled" and c.reason == "InvalidSpec" and c.message == message
            for c in conditions
        )
        conditions = set_condition(
            conditions, "Stalled", True, "InvalidSpec", message, now, meta.get("generation")
        )
        conditions = set_condition(
            conditions, "Ready", False, "InvalidSpec", message, now, meta.get("generation")
        )
        self.patch_status(
            meta["namespace"],
            meta["name"],
            {
                "observedGeneration": meta.get("generation"),
                "conditions": [c.model_dump(mode="json", by_alias=True) for c in conditions],
            },
        )
        events = [] if already else [Event("Warning", "InvalidSpec", message)]
        return Outcome(events=events, phase=status.get("phase"))

    def record_metrics(
        self, campaign: FineTuneCampaign, decision: Decision, observed: Mapping[str, Any]
    ) -> None:
        metrics.RECONCILES.inc()
        before = {it.index: it.phase for it in campaign.status.iterations}
        for it in decision.status.iterations:
            if (
                it.phase in (IterationPhase.SUCCEEDED, IterationPhase.FAILED)
                and before.get(it.index) != it.phase
            ):
                outcome = (
                    "failed"
                    if it.phase is IterationPhase.FAILED
                    else ("accepted" if it.accepted else "rejected")
                )
                metrics.ITERATIONS.labels(outcome=outcome).inc()
        for event in decision.events:
            if event.reason == "StepRetry":
                # "prepare will be retried ..." or "iteration 3 train will be retried ..."
                head = event.message.split(" will be retried", 1)[0]
                metrics.STEP_RETRIES.labels(step=head.rsplit(" ", 1)[-1]).inc()
        finished_now = _consumed_jobs(campaign, decision)
        for job_name in finished_now:
            job = observed.get(job_name)
            if job is not None and job.started_at and job.finished_at:
                step = str(job.step) if job.step else "unknown"
                metrics.STEP_DURATION.labels(step=step).observe(
                    (job.finished_at - job.started_at).total_seconds()
                )
        best = decision.status.best
        if best is not None and best.validation is not None:
            metrics.BEST_VALIDATION.labels(
                namespace=campaign.metadata.namespace, campaign=campaign.metadata.name
            ).set(best.validation)


def _consumed_jobs(campaign: FineTuneCampaign, decision: Decision) -> set[str]:
    """Jobs whose results this decision recorded (recorded before, no longer current)."""
    before = {campaign.status.active_job, *(it.job for it in campaign.status.iterations)}
    after = {decision.status.active_job, *(it.job for it in decision.status.iterations)}
    return {name for name in before - after if name}
