"""Prometheus metrics of the operator (prometheus-client), served on ``metrics_port``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CAMPAIGNS = Gauge("ftagent_campaigns", "Campaigns by phase", ["phase"])
ITERATIONS = Counter("ftagent_iterations_total", "Finished iterations by outcome", ["outcome"])
STEP_DURATION = Histogram(
    "ftagent_step_duration_seconds",
    "Wall time of finished steps (Job start to finish)",
    ["step"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
BEST_VALIDATION = Gauge(
    "ftagent_best_validation_score",
    "Best validation score per campaign",
    ["namespace", "campaign"],
)
STEP_RETRIES = Counter(
    "ftagent_step_retries_total", "Steps retried after infrastructure failures", ["step"]
)
RECONCILE_ERRORS = Counter("ftagent_reconcile_errors_total", "Reconciles that raised")
RECONCILES = Counter("ftagent_reconciles_total", "Reconciles of campaigns")
JOBS_CREATED = Counter("ftagent_jobs_created_total", "Jobs created by step", ["step"])
API_REQUESTS = Counter(
    "ftagent_api_requests_total",
    "Kubernetes API requests made by the reconciler",
    ["verb", "resource"],
)
