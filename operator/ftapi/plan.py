"""The experiment an agent pod proposes: ``plan.json`` in the iteration's round folder.

Written by the agent (ftagent), read by the trainer (fttrainer) and by later agents as history.
The training config is LLaMA-Factory's own flat key/value layout, already filtered by the agent
to the keys LLaMA-Factory accepts, with the operator-managed keys forced.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ftapi.base import LenientModel
from ftapi.campaign import PlannerType, TrainingMethod

OPERATOR_MANAGED_KEYS = frozenset(
    {
        "output_dir",
        "dataset",
        "dataset_dir",
        "overwrite_cache",
        "save_only_model",
        "model_name_or_path",
        "adapter_name_or_path",
        "template",
        "deepspeed",
        "stage",
        "do_train",
        "report_to",
        "logging_dir",
        "trust_remote_code",
    }
)
"""LLaMA-Factory keys the operator's workers set, whatever the planner proposed."""


class DataRecipe(LenientModel):
    """How the training data was built."""

    datasets: list[str]
    """Catalog keys of the raw datasets used."""
    builtin: str | None = None
    """Name of the built-in recipe, when one was used."""
    script: str | None = None
    """Path (relative to the round folder) of the generated data script, when one was used."""
    sample_size: int = Field(ge=1)
    seed: int = 0
    notes: str = ""


class DataStats(LenientModel):
    """What validation found in the training data."""

    records: int = Field(ge=0)
    duplicates_removed: int = 0
    leaks_removed: int = 0
    """Records whose instruction matched a validation or test question of the benchmark."""
    too_long_removed: int = 0
    mean_chars: float = 0
    p99_tokens: int | None = None
    max_tokens: int | None = None


class Plan(LenientModel):
    """One proposed experiment."""

    v: Literal[1] = 1
    iteration: int = Field(ge=0)
    repair_round: int = Field(0, ge=0)
    planner: PlannerType
    hypothesis: str = Field(min_length=1, max_length=2000)
    reason: str = ""
    method: TrainingMethod
    recipe: DataRecipe
    training_config: dict[str, Any]
    """Flat LLaMA-Factory training arguments."""
    dropped_keys: list[str] = Field(default_factory=list)
    """Proposed keys LLaMA-Factory does not accept, removed by the agent."""
    overridden_keys: list[str] = Field(default_factory=list)
    """Proposed operator-managed keys, replaced by the operator's values."""
    data_stats: DataStats | None = None
    llm_cost: float = 0.0
