"""Operator-wide configuration (environment variables ``FT_OPERATOR_*``, set by the Helm chart).

The operator — never a campaign's spec and never an agent's output — chooses images,
commands, service accounts, deadlines and resource defaults of every Job.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ftapi.campaign import FineTuneCampaignSpec, SecretKeyRef
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
    """CPU/memory per worker kind when the campaign's spec gives none (Kueue needs requests).
    Every container has an ephemeral-storage limit (its logs and the pod's disk-backed
    emptyDirs count against it: a pod that fills the node's disk is evicted); the containers
    that run downloaded or LLM-written code have CPU limits too."""
    disk = {"requests": {"ephemeral-storage": "1Gi"}, "limits": {"ephemeral-storage": "48Gi"}}

    def kind(requests: dict[str, str], limits: dict[str, str]) -> dict[str, dict[str, str]]:
        return {
            "requests": {**disk["requests"], **requests},
            "limits": {**disk["limits"], **limits},
        }

    return {
        "prepare": kind({"cpu": "1", "memory": "2Gi"}, {"cpu": "4", "memory": "4Gi"}),
        "agent": kind({"cpu": "1", "memory": "4Gi"}, {"cpu": "4", "memory": "8Gi"}),
        "trainer": kind({"cpu": "4", "memory": "32Gi"}, {"memory": "64Gi"}),
        "eval": kind({"cpu": "4", "memory": "32Gi"}, {"memory": "64Gi"}),
        # The agent pod's script container: LLM-written scripts (each also under rlimits).
        "scripts": {
            "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
            "limits": {"cpu": "2", "memory": "6Gi", "ephemeral-storage": "16Gi"},
        },
    }


def _base_allowed(base: str, allowed: list[str]) -> bool:
    """``base`` is an allowed API base or lies under one (at a ``/`` boundary, so
    ``http://llm:8000/v1`` does not allow ``http://llm:8000/v1.evil.com``)."""
    for prefix in allowed:
        prefix = prefix.rstrip("/")
        if base.rstrip("/") == prefix or base.startswith(prefix + "/"):
            return True
    return False


class LlmPolicy(BaseModel):
    """Which Secrets and API bases campaigns may hand to an LLM client: without it, anyone
    allowed to create a campaign could send any Secret of the namespace to any server."""

    allowed_secret_names: list[str] | None = None
    """Secrets a campaign's ``apiKeySecretRef`` may name; None: any (the chart always sets a
    list)."""
    allowed_api_bases: list[str] | None = None
    """API bases (or prefixes at a ``/``) a campaign's ``apiBase`` may name; an empty list
    allows only litellm's own provider endpoints (no ``apiBase``); None: any."""

    def violations(self, spec: FineTuneCampaignSpec) -> list[str]:
        """What the spec asks for that this operator does not allow, one message each."""
        clients: list[tuple[str, str | None, SecretKeyRef | None]] = []
        llm = spec.planner.llm
        if spec.planner.type == "llm" and llm is not None:
            clients.append(("spec.planner.llm", llm.api_base, llm.api_key_secret_ref))
        judge = spec.evaluation.judge
        if judge is not None:
            clients.append(("spec.evaluation.judge", judge.api_base, judge.api_key_secret_ref))
        problems = []
        for path, base, ref in clients:
            names = self.allowed_secret_names
            if ref is not None and names is not None and ref.name not in names:
                problems.append(
                    f"{path}.apiKeySecretRef names Secret {ref.name!r}, which this operator "
                    f"does not allow LLM clients to use (allowed: {', '.join(names) or 'none'}); "
                    "ask the platform team to add it to the chart's llm.allowedSecretNames"
                )
            bases = self.allowed_api_bases
            if base is not None and bases is not None and not _base_allowed(base, bases):
                problems.append(
                    f"{path}.apiBase {base!r} is not an API base this operator allows "
                    f"(allowed: {', '.join(bases) or 'only the providers litellm knows'}); ask "
                    "the platform team to add it to the chart's llm.allowedApiBases"
                )
        return problems


class OperatorConfig(BaseSettings):
    """Everything the operator decides for the Jobs it builds."""

    model_config = SettingsConfigDict(env_prefix="FT_OPERATOR_", env_nested_delimiter="__")

    images: Images = Field(default_factory=Images)
    llm: LlmPolicy = Field(default_factory=LlmPolicy)
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
    agent_runtime_class_name: str | None = None
    """RuntimeClass of agent pods, which run LLM-written scripts (e.g. ``gvisor``)."""
    script_run_as_user: int | None = None
    """UID/GID of the agent pod's script container (LLM-written scripts); None:
    ``run_as_user + 1``. It must differ from ``run_as_user``: the scripts then own none of the
    agent container's files."""
    sandbox_size_limit: str = "8Gi"
    """``sizeLimit`` of the agent pod's ``sandbox`` emptyDir (scripts' run folders) and of the
    script container's ``/tmp``."""
    tmp_size_limit: str = "32Gi"
    """``sizeLimit`` of every pod's ``/tmp`` emptyDir: a script or a run that fills it is
    evicted instead of filling the node's disk."""
    shm_size_limit: str = "16Gi"
    """``sizeLimit`` of GPU pods' ``/dev/shm`` (memory-backed)."""
    oracle_base_url: str | None = None
    """A mirror serving mol_opt's property oracle files (``<url>/<file>``) for prepare, where
    the cluster cannot reach Harvard Dataverse (PyTDC's source)."""
    default_queue_name: str | None = None
    """Kueue LocalQueue for GPU Jobs of campaigns that name none."""
    default_priority_class: str | None = None
    crash_after_creating: str | None = None
    """Fault injection (the fault suite; never set in production): the operator exits with
    status 137 right after it created a Job whose name matches this glob, before it patches
    the campaign's status, as if killed at that instant."""

    @property
    def scripts_uid(self) -> int:
        """The script container's UID/GID (see ``script_run_as_user``)."""
        uid = self.script_run_as_user
        return self.run_as_user + 1 if uid is None else uid

    @model_validator(mode="after")
    def _scripts_run_as_another_user(self) -> OperatorConfig:
        if self.scripts_uid == self.run_as_user:
            raise ValueError(
                "script_run_as_user must differ from run_as_user: LLM-written scripts must not "
                "run as the agent's user"
            )
        return self
