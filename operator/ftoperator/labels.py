"""Label and annotation keys the operator puts on its Jobs and Pods (the contract with
kubectl users, Kueue and the operator's own watches)."""

from __future__ import annotations

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "ft-agent-operator"
CAMPAIGN = "ftagent.dev/campaign"
CAMPAIGN_UID = "ftagent.dev/campaign-uid"
STEP = "ftagent.dev/step"
ITERATION = "ftagent.dev/iteration"
REPAIR_ROUND = "ftagent.dev/repair-round"
ATTEMPT = "ftagent.dev/attempt"
KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"
JOB_NAME = "job-name"
"""Set on Pods by Kubernetes' Job controller."""


def campaign_label_value(name: str) -> str:
    """Label values are at most 63 characters; campaign names may be longer."""
    if len(name) <= 63:
        return name
    import hashlib

    return f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
