"""The kopf glue: every decorator of the operator lives here, each handler a few lines.

One daemon per FineTuneCampaign runs the level-triggered loop: observe (in-memory indices
of the campaign's Jobs and Pods), decide, act, then sleep until something about the campaign
changes (a Job, a Pod or the campaign itself wakes it) or a resync/backoff timer fires.

Run with ``kopf run -m ftoperator.handlers --all-namespaces --liveness=http://0.0.0.0:8080/healthz``
(the operator image's command).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import prometheus_client
from kubernetes import client
from kubernetes import config as kube_config

from ftapi import API_GROUP, API_VERSION, PLURAL
from ftoperator import labels as L
from ftoperator import metrics
from ftoperator.config import OperatorConfig
from ftoperator.observe import summarize_job, summarize_pod
from ftoperator.reconcile import Reconciler

MANAGED = {L.MANAGED_BY: L.MANAGED_BY_VALUE}
RECONCILE_THREADS = 32


class _State:
    """Process-wide state of the running operator (one per process)."""

    def __init__(self) -> None:
        self.config = OperatorConfig()
        self.reconciler: Reconciler | None = None
        self.wakers: dict[str, asyncio.Event] = {}
        # Reconciles block on API calls; asyncio's default pool (cores + 4 threads) would
        # queue hundreds of campaigns behind a few slow calls.
        self.executor = ThreadPoolExecutor(
            max_workers=RECONCILE_THREADS, thread_name_prefix="reconcile"
        )
        self.phases: dict[str, str] = {}

    def wake(self, uid: str | None) -> None:
        if uid and uid in self.wakers:
            self.wakers[uid].set()

    def set_phase(self, uid: str, phase: str | None) -> None:
        if phase is None:
            self.phases.pop(uid, None)
        else:
            self.phases[uid] = phase
        counts: dict[str, int] = {}
        for value in self.phases.values():
            counts[value] = counts.get(value, 0) + 1
        for phase_name in (
            "Pending",
            "Preparing",
            "Baseline",
            "Running",
            "Finalizing",
            "Succeeded",
            "Failed",
            "Suspended",
        ):
            metrics.CAMPAIGNS.labels(phase=phase_name).set(counts.get(phase_name, 0))


STATE = _State()


def _api_client() -> client.ApiClient:
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    # One pooled connection per reconcile thread; the client's default (5 per core) would make
    # the pool open and drop TLS connections under load.
    configuration.connection_pool_maxsize = RECONCILE_THREADS
    return client.ApiClient(configuration)


@kopf.on.startup()
async def operator_startup(
    settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any
) -> None:
    STATE.config = OperatorConfig()
    STATE.reconciler = Reconciler(STATE.config, _api_client())
    # Only the operator writes status; keep kopf's own bookkeeping in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=API_GROUP)
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    # Many campaigns each hold a daemon; don't let kopf serialise them on a small pool.
    settings.execution.max_workers = 64
    if STATE.config.metrics_port:
        prometheus_client.start_http_server(STATE.config.metrics_port)
    logger.info("ft-agent operator started; metrics on :%s", STATE.config.metrics_port)


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
async def ftagent_jobs(labels: Mapping[str, str], body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {labels.get(L.CAMPAIGN_UID, ""): summarize_job(body, STATE.config.gpu_resource_name)}


@kopf.index("", "v1", "pods", labels=MANAGED)
async def ftagent_pods(labels: Mapping[str, str], body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {labels.get(L.CAMPAIGN_UID, ""): summarize_pod(body)}


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
async def job_event(labels: Mapping[str, str], **_: Any) -> None:
    STATE.wake(labels.get(L.CAMPAIGN_UID))


@kopf.on.event("", "v1", "pods", labels=MANAGED)
async def pod_event(labels: Mapping[str, str], **_: Any) -> None:
    STATE.wake(labels.get(L.CAMPAIGN_UID))


@kopf.on.event(API_GROUP, API_VERSION, PLURAL)
async def campaign_event(uid: str, **_: Any) -> None:
    STATE.wake(uid)


@kopf.daemon(API_GROUP, API_VERSION, PLURAL, cancellation_timeout=10.0)
async def campaign_daemon(
    body: kopf.Body,
    uid: str,
    stopped: kopf.DaemonStopped,
    logger: logging.Logger,
    ftagent_jobs: kopf.Index,
    ftagent_pods: kopf.Index,
    **_: Any,
) -> None:
    wake = STATE.wakers.setdefault(uid, asyncio.Event())
    try:
        while not stopped:
            wake.clear()
            delay = await _reconcile_once(body, uid, ftagent_jobs, ftagent_pods, logger)
            timeout = (
                STATE.config.resync_seconds
                if delay is None
                else min(delay, STATE.config.resync_seconds)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(0.05, timeout))
    finally:
        STATE.wakers.pop(uid, None)
        STATE.set_phase(uid, None)
        if STATE.reconciler is not None:
            STATE.reconciler.forget(uid)


def _values(index: kopf.Index, uid: str) -> Iterable[Mapping[str, Any]]:
    store = index.get(uid)
    return list(store) if store is not None else []


async def _reconcile_once(
    body: kopf.Body,
    uid: str,
    jobs: kopf.Index,
    pods: kopf.Index,
    logger: logging.Logger,
) -> float | None:
    reconciler = STATE.reconciler
    assert reconciler is not None, "operator_startup did not run"
    snapshot = {k: body[k] for k in ("metadata", "spec", "status") if k in body}
    snapshot.update(apiVersion=f"{API_GROUP}/{API_VERSION}", kind="FineTuneCampaign")
    try:
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(
            STATE.executor, reconciler.reconcile, snapshot, _values(jobs, uid), _values(pods, uid)
        )
    except Exception:
        metrics.RECONCILE_ERRORS.inc()
        logger.exception("reconcile failed; retrying")
        return min(30.0, STATE.config.resync_seconds)
    for event in outcome.events:
        metrics.API_REQUESTS.labels(verb="create", resource="events").inc()
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])
    STATE.set_phase(uid, outcome.phase)
    return outcome.requeue_after
