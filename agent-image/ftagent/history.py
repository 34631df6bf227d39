"""The campaign's history as the agent reads it from the workspace.

For every earlier iteration: each round's ``plan.json`` (:class:`ftapi.plan.Plan`) and smoke
result, the full training result (loss curve) and the validation evaluation (score and wrong
answers). Test-split results are never read. Earlier rounds of the current iteration are read
too: a repair needs the failed plan and its smoke error. Files that are missing or do not parse
are skipped with a warning: history informs the planner, it never stops it. Used by the
planners and by :mod:`ftagent.pipeline` (the campaign's LLM spend so far).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ftapi.plan import Plan
from ftapi.results import EvaluationResult, TrainingResult
from ftapi.workspace import CampaignLayout

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_model(path: Path, model: type[ModelT]) -> ModelT | None:
    """Parse ``path`` as ``model``; None (with a warning) when missing or invalid."""
    if not path.is_file():
        return None
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, str(exc).splitlines()[0])
        return None


@dataclass
class RoundRecord:
    """One plan of an iteration and its smoke run."""

    index: int
    plan: Plan | None
    smoke: TrainingResult | None


@dataclass
class IterationRecord:
    """One earlier experiment."""

    index: int
    rounds: list[RoundRecord] = field(default_factory=list)
    train: TrainingResult | None = None
    validation: EvaluationResult | None = None

    @property
    def plan(self) -> Plan | None:
        """The plan that was trained: the last round that has one."""
        for record in reversed(self.rounds):
            if record.plan is not None:
                return record.plan
        return None

    @property
    def score(self) -> float | None:
        return self.validation.score if self.validation is not None else None


@dataclass
class History:
    """Everything before the current round."""

    iterations: list[IterationRecord]
    current_rounds: list[RoundRecord]
    """Earlier rounds of the current iteration (repairs)."""
    baseline: EvaluationResult | None

    def plans(self) -> list[Plan]:
        """Every earlier plan of the campaign, oldest first."""
        rounds = [r for it in self.iterations for r in it.rounds] + self.current_rounds
        return [r.plan for r in rounds if r.plan is not None]

    @property
    def llm_spent(self) -> float:
        """US dollars the campaign's earlier agent steps spent on LLM calls."""
        return round(sum(plan.llm_cost for plan in self.plans()), 6)

    def best(self) -> IterationRecord | None:
        """The scored iteration with the highest validation score (earliest on ties)."""
        scored = [it for it in self.iterations if it.score is not None and it.plan is not None]
        return max(scored, key=lambda it: (it.score, -it.index)) if scored else None

    @property
    def baseline_score(self) -> float | None:
        return self.baseline.score if self.baseline is not None else None

    def previous_round(self) -> RoundRecord | None:
        """The round a repair fixes: the last earlier round of the current iteration."""
        return self.current_rounds[-1] if self.current_rounds else None


def _rounds(layout: CampaignLayout, iteration: int, below: int | None = None) -> list[RoundRecord]:
    folder = layout.iteration_dir(iteration)
    indices = sorted(
        int(match.group(1))
        for path in (folder.iterdir() if folder.is_dir() else [])
        if (match := re.fullmatch(r"round-(\d+)", path.name)) and path.is_dir()
    )
    return [
        RoundRecord(
            index=index,
            plan=read_model(layout.plan_file(iteration, index), Plan),
            smoke=read_model(layout.smoke_dir(iteration, index) / "result.json", TrainingResult),
        )
        for index in indices
        if below is None or index < below
    ]


def load_history(
    layout: CampaignLayout, iteration: int, repair_round: int, round_start: int | None = None
) -> History:
    """The history before round ``repair_round`` of iteration ``iteration``. With parallel
    candidates, ``round_start`` (the round's first iteration) hides the sibling candidates,
    which are planned at the same time and must not depend on each other's timing."""
    iterations = []
    for index in range(iteration if round_start is None else min(iteration, round_start)):
        iterations.append(
            IterationRecord(
                index=index,
                rounds=_rounds(layout, index),
                train=read_model(layout.train_dir(index) / "result.json", TrainingResult),
                validation=read_model(layout.eval_file(index, "validation"), EvaluationResult),
            )
        )
    return History(
        iterations=iterations,
        current_rounds=_rounds(layout, iteration, below=repair_round),
        baseline=read_model(layout.eval_file(None, "validation"), EvaluationResult),
    )
