"""Builds the Job manifests of a campaign's steps as plain dicts (no I/O).

Called by the Kubernetes executor with a :class:`~ftoperator.lifecycle.CreateJob` decision.
Everything security-relevant comes from :class:`~ftoperator.config.OperatorConfig` and the
campaign's spec, never from a worker's output: image, command, service account (token never
mounted), non-root and read-only root filesystem, volumes, GPU requests, deadlines.
"""

from __future__ import annotations

from typing import Any

from ftapi.campaign import FineTuneCampaign, FineTuneCampaignSpec, Resources, SecretKeyRef
from ftapi.steps import (
    DEFAULT_TERMINATION_LOG,
    EVAL_STEPS,
    GPU_STEPS,
    ORACLE_DIR_ENV,
    ORACLE_SUBDIR,
    SANDBOX_MOUNT,
    SCRIPT_RUNNER_DIR_ENV,
    SCRIPTS_CONTAINER,
    STEP_REQUEST_ENV,
    TERMINATION_LOG_ENV,
    TRAINER_STEPS,
    StepKind,
)
from ftapi.workspace import CampaignLayout
from ftoperator import labels as L
from ftoperator.config import OperatorConfig
from ftoperator.lifecycle import CreateJob
from ftoperator.oracles import BASE_URL_ENV as ORACLE_BASE_URL_ENV

LLM_API_KEY_ENV = "FT_LLM_API_KEY"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

WORKER_MODULES = {
    "prepare": "ftoperator.prepare",
    "agent": "ftagent",
    "trainer": "fttrainer",
    "eval": "fteval",
}


def worker_kind(step: StepKind) -> str:
    if step is StepKind.PREPARE:
        return "prepare"
    if step is StepKind.AGENT:
        return "agent"
    if step in TRAINER_STEPS:
        return "trainer"
    return "eval"


def image_for(step: StepKind, config: OperatorConfig) -> str:
    images = config.images
    return {
        "prepare": images.operator,
        "agent": images.agent,
        "trainer": images.trainer,
        "eval": images.eval,
    }[worker_kind(step)]


def step_gpus(campaign: FineTuneCampaign, step: StepKind) -> int:
    if step in TRAINER_STEPS:
        return campaign.spec.training.gpus
    if step in EVAL_STEPS:
        return campaign.spec.evaluation.gpus
    return 0


def job_labels(campaign: FineTuneCampaign, create: CreateJob) -> dict[str, str]:
    request = create.request
    out = {
        L.MANAGED_BY: L.MANAGED_BY_VALUE,
        L.CAMPAIGN: L.campaign_label_value(request.campaign),
        L.CAMPAIGN_UID: campaign.metadata.uid or "",
        L.STEP: str(request.step),
        L.ATTEMPT: str(request.attempt),
    }
    if request.iteration is not None:
        out[L.ITERATION] = str(request.iteration)
    if request.step in (StepKind.AGENT, StepKind.SMOKE):
        out[L.REPAIR_ROUND] = str(request.repair_round)
    return out


def _resources(
    campaign: FineTuneCampaign, step: StepKind, config: OperatorConfig
) -> dict[str, Any]:
    spec = campaign.spec
    override: Resources | None = None
    if step in TRAINER_STEPS:
        override = spec.training.resources
    elif step in EVAL_STEPS:
        override = spec.evaluation.resources
    defaults = config.resources.get(worker_kind(step), {})
    requests: dict[str, Any] = dict(defaults.get("requests", {}))
    limits: dict[str, Any] = dict(defaults.get("limits", {}))
    if override is not None:
        requests.update({k: v for k, v in override.requests.items()})
        limits.update({k: v for k, v in override.limits.items()})
    gpus = step_gpus(campaign, step)
    if gpus:
        # Extended resources must have requests equal to limits.
        requests[config.gpu_resource_name] = gpus
        limits[config.gpu_resource_name] = gpus
    return {"requests": requests, "limits": limits}


def llm_key_ref(spec: FineTuneCampaignSpec, step: StepKind) -> SecretKeyRef | None:
    """The Secret an LLM key comes from for ``step``, if any: the planner's for an LLM
    planner's agent steps, the judge's for evaluation steps. A campaign that names a Secret it
    does not use must not be blocked by that Secret being absent."""
    if step is StepKind.AGENT and spec.planner.type == "llm" and spec.planner.llm is not None:
        return spec.planner.llm.api_key_secret_ref
    if step in EVAL_STEPS and spec.evaluation.judge is not None:
        return spec.evaluation.judge.api_key_secret_ref
    return None


def _env(
    campaign: FineTuneCampaign, create: CreateJob, config: OperatorConfig
) -> list[dict[str, Any]]:
    request = create.request
    env: list[dict[str, Any]] = [
        {"name": STEP_REQUEST_ENV, "value": request.model_dump_json(exclude_none=True)},
        {"name": TERMINATION_LOG_ENV, "value": DEFAULT_TERMINATION_LOG},
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "HF_HOME", "value": "/tmp/hf"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if request.step is StepKind.PREPARE and config.oracle_base_url:
        env.append({"name": ORACLE_BASE_URL_ENV, "value": config.oracle_base_url})
    if request.step in EVAL_STEPS:
        # mol_opt's property oracles, fetched by prepare into the (read-only) model cache.
        models = config.mount_paths.models
        env.append({"name": ORACLE_DIR_ENV, "value": f"{models}/{ORACLE_SUBDIR}"})
    if request.step is StepKind.PREPARE:
        ref = campaign.spec.hf_token_secret_ref
        if ref is not None:
            env.append(
                {
                    "name": "HF_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
    else:
        env.extend({"name": k, "value": v} for k, v in OFFLINE_ENV.items())
    if (ref := llm_key_ref(campaign.spec, request.step)) is not None:
        env.append(
            {
                "name": LLM_API_KEY_ENV,
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return env


def _volumes(
    campaign: FineTuneCampaign, step: StepKind, config: OperatorConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each step mounts only what it needs. The workspace claim: only this campaign's folder
    (``subPath``, named with its uid), never (prepare) at all. The dataset cache: all of it
    read-write for prepare, read-only for evaluation (which holds the evaluation sets and
    their answers), and for the agent only the raw training datasets and the hashed exclusion
    lists, never the evaluation sets; the trainer gets none. The model cache is read-only
    except for prepare."""
    storage = campaign.spec.storage
    paths = config.mount_paths
    prepare = step is StepKind.PREPARE
    agent = step is StepKind.AGENT
    trainer = step in TRAINER_STEPS
    meta = campaign.metadata
    folder = CampaignLayout(paths, meta.namespace or "default", meta.name or "", meta.uid).folder

    def claim(name: str, claim_name: str, read_only: bool) -> dict[str, Any]:
        return {
            "name": name,
            "persistentVolumeClaim": {"claimName": claim_name, "readOnly": read_only},
        }

    volumes = [claim("model-cache", storage.model_cache.claim_name, not prepare)]
    mounts: list[dict[str, Any]] = [
        {"name": "model-cache", "mountPath": paths.models, "readOnly": not prepare}
    ]
    if not trainer:
        volumes.append(claim("dataset-cache", storage.dataset_cache.claim_name, not prepare))
        if agent:
            mounts += [
                {
                    "name": "dataset-cache",
                    "mountPath": f"{paths.datasets}/{sub}",
                    "subPath": sub,
                    "readOnly": True,
                }
                for sub in ("raw", "exclude")
            ]
        else:
            mounts.append(
                {"name": "dataset-cache", "mountPath": paths.datasets, "readOnly": not prepare}
            )
    if not prepare:
        volumes.append(claim("workspace", storage.workspace.claim_name, False))
        mounts.append(
            {"name": "workspace", "mountPath": f"{paths.workspace}/{folder}", "subPath": folder}
        )
    volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": config.tmp_size_limit}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    if step in GPU_STEPS:
        # NCCL and dataloaders need more shared memory than the runtime's 64 MiB default.
        volumes.append(
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": config.shm_size_limit}}
        )
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return volumes, mounts


def _has_script_container(campaign: FineTuneCampaign, step: StepKind) -> bool:
    """Agent steps of an LLM planner run LLM-written data scripts: in a container of their own."""
    return step is StepKind.AGENT and campaign.spec.planner.type == "llm"


def _restricted(uid: int | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    if uid is not None:
        context |= {"runAsUser": uid, "runAsGroup": uid}
    return context


def _add_script_container(
    campaign: FineTuneCampaign, config: OperatorConfig, pod_spec: dict[str, Any]
) -> None:
    """The ``scripts`` container (:mod:`ftagent.script_runner`): another user, no Secret, no
    workspace, no evaluation set; the raw datasets read-only; it shares only the ``sandbox``
    emptyDir with the agent. Containers of a pod have separate PID namespaces
    (``shareProcessNamespace`` stays unset), so it cannot read the agent's environment."""
    agent = pod_spec["containers"][0]
    agent["env"].append({"name": SCRIPT_RUNNER_DIR_ENV, "value": SANDBOX_MOUNT})
    agent["volumeMounts"].append({"name": "sandbox", "mountPath": SANDBOX_MOUNT})
    pod_spec["volumes"] += [
        {"name": "sandbox", "emptyDir": {"sizeLimit": config.sandbox_size_limit}},
        {"name": "scripts-tmp", "emptyDir": {"sizeLimit": config.sandbox_size_limit}},
    ]
    raw = f"{config.mount_paths.datasets}/raw"
    env = {
        SCRIPT_RUNNER_DIR_ENV: SANDBOX_MOUNT,
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PYTHONUNBUFFERED": "1",
        **OFFLINE_ENV,
    }
    resources = config.resources.get(SCRIPTS_CONTAINER, {})
    pod_spec["containers"].append(
        {
            "name": SCRIPTS_CONTAINER,
            "image": config.images.agent,
            "imagePullPolicy": config.images.pull_policy,
            "command": ["python", "-m", "ftagent.script_runner"],
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "resources": {
                "requests": dict(resources.get("requests", {})),
                "limits": dict(resources.get("limits", {})),
            },
            "volumeMounts": [
                {"name": "sandbox", "mountPath": SANDBOX_MOUNT},
                {"name": "scripts-tmp", "mountPath": "/tmp"},
                {"name": "dataset-cache", "mountPath": raw, "subPath": "raw", "readOnly": True},
            ],
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "securityContext": _restricted(config.scripts_uid),
        }
    )


def active_deadline(config: OperatorConfig, spec: FineTuneCampaignSpec, step: StepKind) -> int:
    """The operator's deadline for the step; evaluation steps generate
    ``evaluation.samplesPerItem`` answers per item, so they get that many times as long."""
    deadline = config.active_deadline_seconds[step]
    if step in EVAL_STEPS:
        deadline *= spec.evaluation.samples_per_item
    return deadline


def build_job(
    campaign: FineTuneCampaign, create: CreateJob, config: OperatorConfig
) -> dict[str, Any]:
    """The Job for one step. The caller adopts it (ownerReference) and creates it."""
    request = create.request
    step = request.step
    spec = campaign.spec
    labels = job_labels(campaign, create)
    job_labels_ = dict(labels)
    gpu_step = step in GPU_STEPS
    queue = spec.training.queue_name or config.default_queue_name
    if gpu_step and queue:
        job_labels_[L.KUEUE_QUEUE] = queue
    volumes, mounts = _volumes(campaign, step, config)
    container: dict[str, Any] = {
        "name": worker_kind(step),
        "image": image_for(step, config),
        "imagePullPolicy": config.images.pull_policy,
        "command": ["python", "-m", WORKER_MODULES[worker_kind(step)]],
        "env": _env(campaign, create, config),
        "resources": _resources(campaign, step, config),
        "volumeMounts": mounts,
        "terminationMessagePath": DEFAULT_TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "securityContext": _restricted(),
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": config.run_as_user,
            "runAsGroup": config.run_as_user,
            "fsGroup": config.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if config.job_service_account:
        pod_spec["serviceAccountName"] = config.job_service_account
    if step is StepKind.AGENT and config.agent_runtime_class_name:
        # The agent pod runs LLM-written scripts: a sandboxing runtime (e.g. gVisor) adds a
        # kernel boundary around them.
        pod_spec["runtimeClassName"] = config.agent_runtime_class_name
    if _has_script_container(campaign, step):
        _add_script_container(campaign, config, pod_spec)
    if config.images.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in config.images.pull_secrets]
    if gpu_step:
        if spec.training.node_selector:
            pod_spec["nodeSelector"] = dict(spec.training.node_selector)
        if spec.training.tolerations:
            pod_spec["tolerations"] = [
                t.model_dump(mode="json", exclude_none=True) for t in spec.training.tolerations
            ]
        priority = spec.training.priority_class_name or config.default_priority_class
        if priority:
            pod_spec["priorityClassName"] = priority
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": create.name,
            "namespace": campaign.metadata.namespace,
            "labels": job_labels_,
        },
        "spec": {
            "backoffLimit": 0,  # the operator decides about retries, not the Job controller
            "activeDeadlineSeconds": active_deadline(config, spec, step),
            "ttlSecondsAfterFinished": config.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
