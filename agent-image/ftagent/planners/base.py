"""What a planner hands to the pipeline, and how plans are compared.

A :class:`Proposal` is the experiment (hypothesis, method, unfiltered training config, data
size and seed); a :class:`Draft` adds the data built for it and what it cost. The pipeline
validates the data, filters the config and writes the plan. :func:`plan_signature` makes
"never repeat a configuration" and "a repair must change something" checkable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from ftagent.context import AgentContext
from ftagent.records import AlpacaRecord
from ftapi.campaign import PlannerType, TrainingMethod
from ftapi.plan import OPERATOR_MANAGED_KEYS, DataRecipe, Plan


@dataclass
class Proposal:
    """One proposed experiment, before data validation and config filtering."""

    planner: PlannerType
    hypothesis: str
    reason: str
    method: TrainingMethod
    training_config: dict[str, Any]
    sample_size: int
    data_seed: int
    datasets: list[str]


@dataclass
class Draft:
    """A proposal with its training data (not yet validated) and how it was built."""

    proposal: Proposal
    records: list[AlpacaRecord | dict[str, Any]]
    recipe: DataRecipe
    llm_cost: float = 0.0
    notes: list[str] = field(default_factory=list)


class Planner(Protocol):
    """Proposes an experiment and builds its data."""

    def draft(self, ctx: AgentContext) -> Draft: ...


def plan_signature(
    method: TrainingMethod | str, config: dict[str, Any], sample_size: int, seed: int | None
) -> str:
    """What makes two plans the same experiment (operator-managed keys do not count)."""
    chosen = {k: v for k, v in sorted(config.items()) if k not in OPERATOR_MANAGED_KEYS}
    return json.dumps(
        {"method": str(method), "config": chosen, "size": sample_size, "seed": seed},
        sort_keys=True,
        default=str,
    )


def signature_of(plan: Plan) -> str:
    return plan_signature(
        plan.method, plan.training_config, plan.recipe.sample_size, plan.recipe.seed
    )
