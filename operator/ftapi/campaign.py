"""The FineTuneCampaign custom resource: spec (what the user asks for) and status (what the
operator reports). These models are the single source of truth; the CRD is generated from
them by :mod:`ftapi.crd`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from ftapi import API_GROUP, API_VERSION, KIND
from ftapi.base import (
    LABEL_VALUE,
    ApiModel,
    Duration,
    LabelName,
    LenientModel,
    Quantity,
    ResourceName,
    SecretKey,
    parse_duration,
)
from ftapi.catalog import BENCHMARKS, DATASETS, get_benchmark, get_dataset

MAX_ITERATIONS_IN_STATUS = 50
"""Iterations kept in status; older ones live on the workspace PVC (etcd objects stay small)."""

BenchmarkKey = Annotated[str, Field(json_schema_extra={"enum": sorted(BENCHMARKS)})]
DatasetKey = Annotated[str, Field(json_schema_extra={"enum": sorted(DATASETS)})]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=316)]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SecretKeyRef(ApiModel):
    """A key of a Secret in the campaign's namespace. The operator never reads it: Jobs
    reference it, so the value reaches only the pod that needs it."""

    name: ResourceName
    """Name of the Secret."""
    key: SecretKey
    """Key inside the Secret."""


class ClaimRef(ApiModel):
    """A PersistentVolumeClaim in the campaign's namespace."""

    claim_name: ResourceName
    """Name of the PersistentVolumeClaim."""


class Budget(ApiModel):
    """How much the campaign may spend."""

    max_iterations: int = Field(3, ge=1, le=1000)
    """Experiments to run (each: agent, smoke run, training, evaluation)."""
    timeout: Duration = "12h"
    """Wall-clock limit for the research loop, e.g. 90m, 12h, 2d. The best result so far is
    still evaluated on the test split when it runs out."""
    upper_data_size_limit: int = Field(2000, ge=1, le=1_000_000)
    """Most training examples one experiment may use."""
    max_repair_rounds: int = Field(3, ge=0, le=20)
    """Times the agent may repair an experiment whose smoke run failed."""

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout)


class PlannerType(StrEnum):
    """Who proposes experiments."""

    LLM = "llm"
    SEARCH = "search"


class LlmConfig(ApiModel):
    """LLM access through litellm."""

    strong_models: list[ModelName] = Field(default_factory=list, max_length=16)
    """litellm model names for proposals, code and chain-of-thought, tried in order."""
    weak_models: list[ModelName] = Field(default_factory=list, max_length=16)
    """litellm model names for bulk filtering and formatting; the strong models when empty."""
    api_base: (
        Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None
    ) = None
    """OpenAI-compatible endpoint (e.g. http://vllm.llm:8000/v1); litellm's default when unset."""
    max_workers: int = Field(8, ge=1, le=64)
    """Most concurrent LLM calls."""
    api_key_secret_ref: SecretKeyRef | None = None
    """Secret holding the API key, exposed to the agent pod only."""
    cost_budget_usd: float | None = Field(None, ge=0)
    """Stop using the LLM once this much has been spent (litellm's cost accounting)."""


# The API server cannot run the model validator below (Kubernetes 1.20 has no CEL rules), so
# the same rule is stated as a structural anyOf: either the search planner, or llm models.
_PLANNER_RULE = {
    "anyOf": [
        {"properties": {"type": {"enum": ["search"]}}},
        {
            "required": ["llm"],
            "properties": {
                "llm": {
                    "required": ["strongModels"],
                    "properties": {"strongModels": {"minItems": 1}},
                }
            },
        },
    ]
}


class Planner(ApiModel):
    """How experiments are proposed."""

    model_config = ConfigDict(json_schema_extra=_PLANNER_RULE)

    type: PlannerType = PlannerType.SEARCH
    """llm: an LLM through litellm; search: the built-in deterministic search (no LLM)."""
    llm: LlmConfig | None = None
    """Required when type is llm."""

    @model_validator(mode="after")
    def _llm_needs_models(self) -> Planner:
        if self.type is PlannerType.LLM and (self.llm is None or not self.llm.strong_models):
            raise ValueError("planner.type llm needs planner.llm.strongModels (at least one model)")
        return self


class TrainingMethod(StrEnum):
    """How the model is fine-tuned: LLaMA-Factory's finetuning_type, plus QLoRA (LoRA on the
    base model quantised to 4 bits with bitsandbytes: large models on few GPUs; GPU only)."""

    LORA = "lora"
    FULL = "full"
    FREEZE = "freeze"
    QLORA = "qlora"


class Toleration(ApiModel):
    """A core/v1 Toleration."""

    key: LabelKey | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class Resources(ApiModel):
    """core/v1 ResourceRequirements for a step's container (GPUs come from `gpus`)."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class Training(ApiModel):
    """Where and how the smoke and training Jobs run."""

    gpus: int = Field(1, ge=0, le=64)
    """GPUs per training Job; more than one uses DeepSpeed ZeRO."""
    allowed_methods: list[TrainingMethod] = Field(
        default_factory=lambda: [TrainingMethod.LORA, TrainingMethod.FULL], min_length=1
    )
    """Fine-tuning methods the planner may choose."""
    resources: Resources | None = None
    """CPU and memory for the training container."""
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    queue_name: LabelName | None = None
    """Kueue LocalQueue; sets the kueue.x-k8s.io/queue-name label on every GPU Job."""
    priority_class_name: ResourceName | None = None

    @field_validator("allowed_methods")
    @classmethod
    def _unique_methods(cls, value: list[TrainingMethod]) -> list[TrainingMethod]:
        if len(set(value)) != len(value):
            raise ValueError("allowedMethods lists a method twice")
        return value


class LlmJudge(ApiModel):
    """An LLM that grades the answers the rule-based scorer marks wrong, on benchmarks whose
    upstream scorer uses one (aime25's CascadeEvaluator). It sees only the extracted final
    answer and the gold answer, never the model's reasoning; its calls count in llmCost and
    against planner.llm.costBudgetUsd."""

    model: ModelName
    """litellm model name, e.g. openai/gpt-4o-mini."""
    api_base: (
        Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None
    ) = None
    """OpenAI-compatible endpoint; litellm's default when unset. Limited to the API bases the
    operator allows (chart: llm.allowedApiBases)."""
    api_key_secret_ref: SecretKeyRef | None = None
    """Secret holding the judge's API key, exposed to evaluation pods only. Limited to the
    Secrets the operator allows (chart: llm.allowedSecretNames)."""


class Evaluation(ApiModel):
    """How the evaluation Jobs run."""

    gpus: int = Field(1, ge=0, le=64)
    """GPUs per evaluation Job."""
    validation_limit: int = Field(100, ge=1, le=100_000)
    """Most items in the validation split (the first items of the evaluation set)."""
    test_limit: int = Field(100, ge=1, le=100_000)
    """Most items in the held-out test split (the last items of the evaluation set)."""
    resources: Resources | None = None
    """CPU and memory for the evaluation container."""
    max_out_len: int | None = Field(None, ge=1, le=131072)
    """Most tokens generated per answer; the evaluator's default (4096 on GPU, 512 on CPU)
    when unset. Reasoning models need long answers; toy models should stop early."""
    samples_per_item: int = Field(1, ge=1, le=64)
    """Answers generated per item; above 1 they are sampled (temperature 0.6, top-p 0.95)
    instead of greedy, and every score is the mean over the samples (avg@k), which steadies
    small splits such as AIME's. Costs that many times the generation."""
    confidence: float = Field(0.9, ge=0.5, le=0.999)
    """A candidate replaces the best only when a paired bootstrap over validation items says
    it is better with at least this probability."""
    min_improvement: float | None = Field(None, ge=0, le=100)
    """If set, accept instead when the mean validation gain (points, 0-100) reaches this."""
    judge: LlmJudge | None = None
    """An LLM judge for the items the rule marks wrong, where upstream allows one (aime25);
    unset: rule-based scoring only."""


class Storage(ApiModel):
    """PersistentVolumeClaims shared by the campaign's Jobs."""

    model_cache: ClaimRef = Field(default_factory=lambda: ClaimRef(claim_name="ft-model-cache"))
    """Base models, downloaded once (read-only except for the prepare Job)."""
    dataset_cache: ClaimRef = Field(default_factory=lambda: ClaimRef(claim_name="ft-dataset-cache"))
    """Raw datasets and benchmark evaluation sets, downloaded once."""
    workspace: ClaimRef = Field(default_factory=lambda: ClaimRef(claim_name="ft-workspace"))
    """Plans, training data, checkpoints, logs and results of every iteration."""


class FineTuneCampaignSpec(ApiModel):
    """What to fine-tune, against which benchmark, within which budget."""

    base_model: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    """Hugging Face model id (e.g. Qwen/Qwen2.5-7B-Instruct) or a path inside the model cache."""
    benchmark: BenchmarkKey
    """Key of the benchmark catalog (`ftctl benchmarks`)."""
    benchmark_description: (
        Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None
    ) = None
    """Task and expected output format, for the agent; the catalog's default when unset."""
    datasets: list[DatasetKey] | None = Field(None, min_length=1, max_length=16)
    """Raw training datasets (catalog keys); the benchmark's default when unset."""
    budget: Budget = Field(default_factory=Budget)
    planner: Planner = Field(default_factory=Planner)
    training: Training = Field(default_factory=Training)
    evaluation: Evaluation = Field(default_factory=Evaluation)
    storage: Storage = Field(default_factory=Storage)
    parallelism: int = Field(1, ge=1, le=64)
    """Candidates per round, each its own smoke, training and evaluation Jobs, run at once;
    budget.maxIterations counts candidates."""
    hf_token_secret_ref: SecretKeyRef | None = None
    """Hugging Face token for gated models and datasets, given to the prepare Job only."""
    suspend: bool = False
    """Pause after the running step; set back to false to resume."""

    @field_validator("benchmark")
    @classmethod
    def _known_benchmark(cls, value: str) -> str:
        get_benchmark(value)
        return value

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        for key in value:
            get_dataset(key)
        if len(set(value)) != len(value):
            raise ValueError("datasets lists a dataset twice")
        return value

    @model_validator(mode="after")
    def _judge_only_where_upstream_judges(self) -> FineTuneCampaignSpec:
        if self.evaluation.judge is not None and not get_benchmark(self.benchmark).judge_allowed:
            raise ValueError(
                f"evaluation.judge: {self.benchmark} is scored rule-based only by its upstream "
                "scorer, so no LLM judge may decide its items; remove evaluation.judge"
            )
        return self

    def resolved_datasets(self) -> list[str]:
        """The datasets to train from: the spec's, or the benchmark's default."""
        return list(self.datasets or get_benchmark(self.benchmark).datasets)

    def resolved_description(self) -> str:
        return self.benchmark_description or get_benchmark(self.benchmark).description


IMMUTABLE_SPEC_FIELDS = (
    "baseModel",
    "benchmark",
    "datasets",
    "storage",
    "evaluation.validationLimit",
    "evaluation.testLimit",
    "evaluation.samplesPerItem",
    "evaluation.maxOutLen",
    "evaluation.judge.model",
)
"""Fields that cannot change once the campaign has started: caches and scores depend on them."""


# ----------------------------------------------------------------------------- status


class Phase(StrEnum):
    """Where the campaign is in its lifecycle."""

    PENDING = "Pending"
    PREPARING = "Preparing"
    BASELINE = "Baseline"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(LenientModel):
    """A metav1.Condition."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=316)]
    status: ConditionStatus
    reason: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        ),
    ]
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    last_transition_time: datetime
    observed_generation: int | None = Field(None, ge=0)


class Scores(LenientModel):
    """Core-metric scores (0-100) of one model on the benchmark's splits."""

    validation: float | None = None
    test: float | None = None
    judged: dict[str, Annotated[int, Field(ge=0)]] | None = None
    """With evaluation.judge: items per split that the LLM judge decided."""


class BestScores(Scores):
    """The best iteration so far; iteration is absent while the base model is the best."""

    iteration: int | None = Field(None, ge=0)
    item_scores: str | None = Field(None, max_length=4096)
    """Per-item validation scores of the best (encoded, see ftapi.results.encode_item_scores),
    for paired comparisons with later candidates."""
    item_weights: str | None = Field(None, max_length=4096)
    """Per-item weights of a ratio metric such as micro F1 (ftapi.results.encode_item_weights);
    absent for mean metrics (every item weighs 1)."""
    model_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """Digest of the best iteration's trained model: the final test evaluation scores exactly
    that model."""


class Comparison(LenientModel):
    """How a candidate compared with the best on the validation items."""

    method: str
    """bootstrap (paired, over items), threshold (minImprovement) or numeric (no per-item
    scores available)."""
    estimate: float
    """Mean gain in points (0-100)."""
    low: float | None = None
    high: float | None = None
    """Bootstrap interval of the gain at the campaign's confidence."""
    p_better: float | None = None
    """Share of bootstrap resamples in which the candidate was better."""
    significant: bool


class IterationPhase(StrEnum):
    """Where one iteration is."""

    PLANNING = "Planning"
    SMOKE = "Smoke"
    TRAINING = "Training"
    EVALUATING = "Evaluating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class IterationStatus(LenientModel):
    """One experiment of the research loop."""

    index: int = Field(ge=0)
    phase: IterationPhase = IterationPhase.PLANNING
    hypothesis: Annotated[str, StringConstraints(max_length=2048)] | None = None
    method: TrainingMethod | None = None
    validation: float | None = None
    """Core-metric score on the validation split."""
    judged: int | None = Field(None, ge=0)
    """With evaluation.judge: validation items the LLM judge decided."""
    accepted: bool | None = None
    """True when this iteration became the best."""
    train_loss: float | None = None
    repair_rounds: int = Field(0, ge=0)
    round: int = Field(0, ge=0)
    """The round this candidate belongs to (spec.parallelism candidates per round)."""
    candidate: int = Field(0, ge=0)
    """Index of the candidate within its round."""
    item_scores: str | None = Field(None, max_length=4096)
    """Per-item validation scores (encoded), kept until the round is decided."""
    item_weights: str | None = Field(None, max_length=4096)
    """Per-item weights of a ratio metric (encoded), kept with the scores."""
    plan_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """Digest of the latest round's plan and training data, as the agent reported it."""
    model_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """Digest of the trained model, as the training step reported it."""
    comparison: Comparison | None = None
    attempt: int = Field(0, ge=0)
    """Retries of the current step after infrastructure failures."""
    job: str | None = None
    """The Job running the current step, once created."""
    retry_at: datetime | None = None
    """The current step is retried after an infrastructure failure at this time."""
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class EvaluationSetStatus(LenientModel):
    """The exact items every score of the campaign is measured on, recorded at prepare: the
    evaluator refuses a split whose item ids hash differently."""

    items: int = Field(ge=0)
    """Items in the benchmark's evaluation set."""
    validation: int = Field(ge=0)
    """Items in the validation split."""
    test: int = Field(ge=0)
    """Items in the test split."""
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    """Hash of the benchmark and both splits' item ids (ftapi.evalsets.splits_hash)."""


class LockedScoring(LenientModel):
    """The evaluation settings every score of a campaign depends on: changing them mid-way
    would compare scores of different item sets or metrics."""

    validation_limit: int
    test_limit: int
    samples_per_item: int = 1
    max_out_len: int | None = None
    judge: str | None = None
    """The judge's model: a different judge grades differently."""

    @classmethod
    def of(cls, evaluation: Evaluation) -> LockedScoring:
        fields = set(cls.model_fields) - {"judge"}
        judge = evaluation.judge.model if evaluation.judge is not None else None
        return cls.model_validate({**evaluation.model_dump(include=fields), "judge": judge})


def _changed(locked: LenientModel, now: LenientModel, prefix: str = "") -> list[str]:
    return [
        prefix + (type(locked).model_fields[name].alias or name)
        for name in type(locked).model_fields
        if getattr(locked, name) != getattr(now, name)
    ]


class LockedSpec(LenientModel):
    """The spec fields that cannot change once a campaign has started."""

    base_model: str
    benchmark: str
    datasets: list[str]
    storage: Storage
    scoring: LockedScoring | None = None
    """Absent in campaigns started by operator versions that did not lock it."""

    @classmethod
    def of(cls, spec: FineTuneCampaignSpec) -> LockedSpec:
        return cls(
            base_model=spec.base_model,
            benchmark=spec.benchmark,
            datasets=spec.resolved_datasets(),
            storage=spec.storage,
            scoring=LockedScoring.of(spec.evaluation),
        )

    def changed_fields(self, spec: FineTuneCampaignSpec) -> list[str]:
        """The changed fields' paths under ``spec`` (camelCase, dotted)."""
        now = LockedSpec.of(spec)
        changed = [
            name
            for name in _changed(self, now)
            if name != (type(self).model_fields["scoring"].alias or "scoring")
        ]
        if self.scoring is not None and now.scoring is not None:
            changed += _changed(self.scoring, now.scoring, "evaluation.")
        return changed


class FineTuneCampaignStatus(LenientModel):
    """What the operator observed and decided; only the operator writes it."""

    phase: Phase = Phase.PENDING
    observed_generation: int | None = Field(None, ge=0)
    conditions: list[Condition] = Field(default_factory=list)
    baseline: Scores | None = None
    best: BestScores | None = None
    current_iteration: int | None = Field(None, ge=0)
    """Index of the iteration in progress (or the last one)."""
    iterations: list[IterationStatus] = Field(
        default_factory=list, max_length=MAX_ITERATIONS_IN_STATUS
    )
    """The last 50 iterations."""
    iterations_started: int = Field(0, ge=0)
    rounds_started: int = Field(0, ge=0)
    """Iterations begun so far (counts those dropped from the bounded list too)."""
    step_attempt: int = Field(0, ge=0)
    """Retries of the current campaign-level step (prepare, baseline, final) after
    infrastructure failures."""
    active_job: str | None = None
    """The Job running the current campaign-level step, once created."""
    retry_at: datetime | None = None
    """The campaign-level step is retried after an infrastructure failure at this time."""
    deadline: datetime | None = None
    """When the research loop stops starting iterations (budget.timeout after it began)."""
    completed_max_iterations: int | None = Field(None, ge=0)
    """budget.maxIterations when the campaign last finished; raising it continues the loop."""
    suspended_at: datetime | None = None
    resume_phase: Phase | None = None
    """The phase to return to when spec.suspend is cleared."""
    locked_spec: LockedSpec | None = None
    """The immutable spec fields the campaign started with."""
    evaluation_set: EvaluationSetStatus | None = None
    """Split sizes and the hash of their item ids, from the prepare step."""
    failed_phase: Phase | None = None
    """The phase whose step failed the campaign (Preparing, Baseline or Finalizing): the one
    a resume (annotation ftagent.dev/resume) retries."""
    resumes: int = Field(0, ge=0)
    """Times the campaign was resumed after failing."""
    resumed_token: Annotated[str, StringConstraints(max_length=256)] | None = None
    """The ftagent.dev/resume value last acted on (a new value resumes again)."""
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    gpu_seconds: float = Field(0.0, ge=0)
    llm_cost: float = Field(0.0, ge=0)
    """US dollars spent on LLM calls, as litellm accounts them."""


class ObjectMeta(LenientModel):
    """The parts of metav1.ObjectMeta the operator reads."""

    name: ResourceName | None = None
    namespace: ResourceName | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None


class FineTuneCampaign(ApiModel):
    """A benchmark-driven fine-tuning campaign."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal[f"{API_GROUP}/{API_VERSION}"] = f"{API_GROUP}/{API_VERSION}"
    kind: Literal["FineTuneCampaign"] = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: FineTuneCampaignSpec
    status: FineTuneCampaignStatus = Field(default_factory=FineTuneCampaignStatus)

    @classmethod
    def from_body(cls, body: Any) -> FineTuneCampaign:
        """Parse a resource body (a dict, or kopf's Body) as read from the API server."""
        return cls.model_validate(dict(body))
