"""Operator-wide configuration (environment variables ``FT_OPERATOR_*``, set by the Helm chart).

The operator — never a campaign's spec and never an agent's output — chooses images,
commands, service accounts, deadlines and resource defaults of every Job.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ftapi.steps import MountPaths, StepKind


class Images(BaseModel):
    """Container images per worker kind."""

    operator: str = "ghcr.io/ftagent/ft-operator:0.1.0"
    """Runs the prepare step (huggingface_hub downloads)."""
    agent: str = "ghcr.io/ftagent/ft-agent:0.1.0"
    trainer: str = "ghcr.io/ftagent/ft-trainer:0.1.0"
    eval: str = "ghcr.io/ftagent/ft-eval:0.1.0"
    pull_policy: str = "IfNotPresent"
    pull_secrets: list[str] = Field(default_factory=list)


def _default_deadlines() -> dict[StepKind, int]:
    hour = 3600
    return {
        StepKind.PREPARE: 6 * hour,
        StepKind.BASELINE: 6 * hour,
        StepKind.AGENT: 2 * hour,
        StepKind.SMOKE: hour // 2,
        StepKind.TRAIN: 48 * hour,
        StepKind.EVAL: 6 * hour,
        StepKind.FINAL: 6 * hour,
    }


def _default_resources() -> dict[str, dict[str, dict[str, str]]]:
    """CPU/memory per worker kind when the campaign's spec gives none (Kueue needs requests)."""
    return {
        "prepare": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "agent": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
        "trainer": {"requests": {"cpu": "4", "memory": "32Gi"}, "limits": {"memory": "64Gi"}},
        "eval": {"requests": {"cpu": "4", "memory": "32Gi"}, "limits": {"memory": "64Gi"}},
    }


class OperatorConfig(BaseSettings):
    """Everything the operator decides for the Jobs it builds."""

    model_config = SettingsConfigDict(env_prefix="FT_OPERATOR_", env_nested_delimiter="__")

    images: Images = Field(default_factory=Images)
    gpu_resource_name: str = "nvidia.com/gpu"
    job_service_account: str | None = None
    """ServiceAccount for the campaign's pods; its token is never mounted."""
    run_as_user: int = 1000
    ttl_seconds_after_finished: int = 7 * 86400
    active_deadline_seconds: dict[StepKind, int] = Field(default_factory=_default_deadlines)
    resources: dict[str, dict[str, dict[str, str]]] = Field(default_factory=_default_resources)
    mount_paths: MountPaths = Field(default_factory=MountPaths)
    max_infra_retries: int = 3
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    resync_seconds: float = 60.0
    """Re-decide every campaign at least this often, whatever was observed."""
    result_grace_seconds: float = 30.0
    """How long a finished Job may lack its pod's termination message before it counts as
    failed (the Job and Pod watches are separate streams)."""
    metrics_port: int = 9090
    oracle_base_url: str | None = None
    """A mirror serving mol_opt's property oracle files (``<url>/<file>``) for prepare, where
    the cluster cannot reach Harvard Dataverse (PyTDC's source)."""
    default_queue_name: str | None = None
    """Kueue LocalQueue for GPU Jobs of campaigns that name none."""
    default_priority_class: str | None = None
