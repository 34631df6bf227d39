"""What the operator asks each pod to do: the step kinds and the step request.

The operator (or ``ftctl run``'s local executor) serialises a :class:`StepRequest` into the
``FT_STEP_REQUEST`` environment variable of the step's container; the worker parses it with
this model. The request carries no secret values: Secrets reach pods as referenced env vars.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

from pydantic import Field

from ftapi.base import ApiModel
from ftapi.campaign import FineTuneCampaignSpec

STEP_REQUEST_ENV = "FT_STEP_REQUEST"
TERMINATION_LOG_ENV = "FT_TERMINATION_LOG"
ORACLE_DIR_ENV = "FT_ORACLE_DIR"
"""Evaluation pods: the folder of mol_opt's property oracles (``<model cache>/oracles``)."""
ORACLE_SUBDIR = "oracles"
"""The oracles' folder inside the model cache (prepare fetches them there)."""
SCRIPT_RUNNER_DIR_ENV = "FT_SCRIPT_RUNNER_DIR"
"""Agent pods of an LLM planner: the folder the agent shares with its ``scripts`` container
(run folders and the LLM gateway's socket); set in both containers."""
SCRIPTS_CONTAINER = "scripts"
"""The agent pod's container that runs LLM-written scripts (``python -m
ftagent.script_runner``)."""
SANDBOX_MOUNT = "/sandbox"
"""Where that shared folder (an emptyDir) is mounted in both containers."""
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


class StepKind(StrEnum):
    """The kinds of Job a campaign runs, in lifecycle order."""

    PREPARE = "prepare"
    """Download the base model and raw datasets into the caches (CPU)."""
    BASELINE = "baseline"
    """Evaluate the base model on the validation and test splits (GPU)."""
    AGENT = "agent"
    """Plan an experiment and build its training data (CPU, untrusted code)."""
    SMOKE = "smoke"
    """A few training steps on a few samples, to fail fast (GPU)."""
    TRAIN = "train"
    """The full training run (GPU)."""
    EVAL = "eval"
    """Evaluate an iteration's model on the validation split (GPU)."""
    FINAL = "final"
    """Evaluate the best model once on the held-out test split (GPU)."""


GPU_STEPS = frozenset(
    {StepKind.BASELINE, StepKind.SMOKE, StepKind.TRAIN, StepKind.EVAL, StepKind.FINAL}
)
TRAINER_STEPS = frozenset({StepKind.SMOKE, StepKind.TRAIN})
EVAL_STEPS = frozenset({StepKind.BASELINE, StepKind.EVAL, StepKind.FINAL})

Split = Literal["validation", "test"]


class MountPaths(ApiModel):
    """Where the three volumes are mounted in the pod (folders in local mode)."""

    models: str = "/cache/models"
    datasets: str = "/cache/datasets"
    workspace: str = "/workspace"


def requested_step(raw: str | None, default: StepKind) -> StepKind:
    """The step a request asks for, read leniently, so a worker that cannot parse the whole
    request still reports its failure under the right step."""
    try:
        return StepKind(json.loads(raw or "{}").get("step"))
    except (ValueError, TypeError, AttributeError):
        return default


class IterationNote(ApiModel):
    """What the operator decided about an earlier iteration, for the agent."""

    index: int
    round: int = 0
    validation: float | None = None
    accepted: bool | None = None
    note: str = ""
    """E.g. "gain +2.0 within noise (p=0.71 < 0.90)" or the failure message."""


class StepRequest(ApiModel):
    """One step of one campaign, as handed to a worker."""

    v: Literal[1] = 1
    step: StepKind
    namespace: str
    campaign: str
    campaign_uid: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    """The campaign's uid: its workspace folder is named after it (a campaign created again
    under the same name starts clean)."""
    iteration: int | None = Field(None, ge=0)
    """The iteration for agent, smoke, train and eval steps; for final, the best iteration
    (None: the base model)."""
    repair_round: int = Field(0, ge=0)
    """Agent and smoke steps: 0 for the first plan, then one per repair."""
    attempt: int = Field(0, ge=0)
    round: int | None = Field(None, ge=0)
    """Agent steps: the round of parallel candidates this iteration belongs to."""
    candidate: int = Field(0, ge=0)
    """Agent steps: which of the round's candidates to propose (all must differ)."""
    candidates: int = Field(1, ge=1)
    """Agent steps: how many candidates the round has."""
    history: list[IterationNote] = Field(default_factory=list)
    """Agent steps: the operator's verdict on earlier iterations (acceptance, noise)."""
    splits: list[Split] = Field(default_factory=list)
    """Evaluation steps: which splits to score."""
    llm_spent_usd: float = Field(0.0, ge=0)
    """Agent and evaluation steps: what the campaign has spent on LLM calls so far
    (``status.llmCost``), so the step enforces the campaign's LLM budget from the operator's
    books, not from files in the workspace."""
    inputs_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """The digest the producing step reported for this step's inputs (smoke and train: the
    round's plan and data; eval and final: the iteration's model); the worker refuses inputs
    that hash differently. None: nothing recorded (an older campaign, or the base model)."""
    split_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """Evaluation steps: the hash of the split item ids recorded at prepare; the evaluator
    refuses to score items that hash differently (None: campaigns prepared before hashes)."""
    spec: FineTuneCampaignSpec
    paths: MountPaths = Field(default_factory=MountPaths)
