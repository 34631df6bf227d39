"""The search planner: a deterministic hyper-parameter and data-size search (no LLM).

Iteration 0 is a sound default (:mod:`ftagent.planners.defaults`). Later iterations move one
step at a time around the best iteration so far (validation score) over a grid of learning
rate, epochs, LoRA rank, data size and method (among ``spec.training.allowedMethods``),
ordered by what the best run's loss curve suggests (still falling: more epochs or a higher
rate; unstable: a lower rate), ties broken by the campaign's seed. A configuration that any
earlier plan used is never proposed again. A repair (``repair_round > 0``) changes the failed
plan according to its smoke failure (out of memory: smaller batch, LoRA, shorter sequences;
config: back to defaults; data: a new sample). Everything is reproducible from the campaign's
seed and history.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any

from ftagent.context import AgentContext
from ftagent.history import IterationRecord
from ftagent.planners import defaults
from ftagent.planners.base import Draft, Proposal, plan_signature, signature_of
from ftagent.planners.data import builtin_data
from ftapi.campaign import PlannerType, TrainingMethod
from ftapi.hyperparameters import finetuning_type
from ftapi.plan import OPERATOR_MANAGED_KEYS, Plan
from ftapi.results import FailureKind, TrainingResult

LR_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
EPOCHS = (1.0, 2.0, 3.0, 5.0)
RANKS = (8, 16, 32, 64)
ADAPTER_METHODS = frozenset({TrainingMethod.LORA, TrainingMethod.QLORA})
"""Methods that train a LoRA adapter (with a rank to search)."""
SIZE_FRACTIONS = (0.25, 0.5, 1.0)
MIN_REPAIR_CUTOFF = 256

# Lower runs first: (dimension, direction) -> priority, before loss-curve hints.
BASE_PRIORITY = {
    ("size", 1): 0,
    ("lr", 1): 2,
    ("lr", -1): 2,
    ("epochs", 1): 3,
    ("epochs", -1): 4,
    ("rank", 1): 5,
    ("rank", -1): 6,
    ("size", -1): 7,
    ("method", 1): 8,
    ("method", -1): 8,
}
HINT_PRIORITY = {
    "unstable": {("lr", -1): -3, ("lr", 1): 9, ("epochs", 1): 9},
    "underfit": {("epochs", 1): -3, ("lr", 1): -2},
}


def loss_hint(result: TrainingResult | None) -> str | None:
    """``unstable`` (NaN or rising loss), ``underfit`` (still falling >10% in the last third)
    or None, from a training run's loss history."""
    if result is None:
        return None
    losses = [point.loss for point in result.loss_history if point.loss is not None]
    if any(not math.isfinite(loss) for loss in losses):
        return "unstable"
    if len(losses) < 4:
        return None
    if losses[-1] > losses[0] * 1.05:
        return "unstable"
    tail = losses[len(losses) * 2 // 3 :]
    if len(tail) >= 2 and tail[0] > 0 and (tail[0] - tail[-1]) / tail[0] > 0.10:
        return "underfit"
    return None


@dataclass(frozen=True)
class Point:
    """Grid coordinates of one configuration."""

    method: int
    lr: int
    epochs: int
    rank: int
    size: int


def _nearest(values: tuple[float, ...], value: float, log: bool = True) -> int:
    def distance(candidate: float) -> float:
        if log and candidate > 0 and value > 0:
            return abs(math.log(candidate) - math.log(value))
        return abs(candidate - value)

    return min(range(len(values)), key=lambda i: distance(values[i]))


class Grid:
    """The search space of one campaign."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.methods = sorted(
            ctx.allowed_methods, key=lambda m: defaults.METHOD_PREFERENCE.index(m)
        )
        self.limit = ctx.limit
        self.sizes = tuple(sorted({max(1, int(self.limit * f)) for f in SIZE_FRACTIONS}))

    def default(self) -> Point:
        method = defaults.default_method(self.methods, self.ctx.model, self.ctx.spec.training.gpus)
        rank = defaults.LORA_RANK[self.ctx.model.size]
        return Point(
            method=self.methods.index(method),
            lr=LR_FACTORS.index(1.0),
            epochs=EPOCHS.index(defaults.EPOCHS),
            rank=RANKS.index(rank),
            size=len(self.sizes) - 1,
        )

    def method(self, point: Point) -> TrainingMethod:
        return self.methods[point.method]

    def values(self, point: Point) -> dict[str, Any]:
        method = self.method(point)
        base = defaults.default_learning_rate(method, self.ctx.model)
        return {
            "method": method,
            "learning_rate": float(f"{base * LR_FACTORS[point.lr]:.3g}"),
            "epochs": EPOCHS[point.epochs] * defaults.epoch_scale(self.ctx.model),
            "lora_rank": RANKS[point.rank] if method in ADAPTER_METHODS else None,
            "sample_size": self.sizes[point.size],
        }

    def point_of(self, plan: Plan) -> Point:
        """The grid point nearest to an earlier plan (which may be an LLM's)."""
        method = plan.method if plan.method in self.methods else self.methods[0]
        config = plan.training_config
        base = defaults.default_learning_rate(method, self.ctx.model)
        lr = float(config.get("learning_rate") or base)
        rank = int(config.get("lora_rank") or defaults.LORA_RANK[self.ctx.model.size])
        return Point(
            method=self.methods.index(method),
            lr=_nearest(LR_FACTORS, lr / base),
            epochs=_nearest(
                EPOCHS,
                float(config.get("num_train_epochs") or defaults.default_epochs(self.ctx.model))
                / defaults.epoch_scale(self.ctx.model),
            ),
            rank=_nearest(tuple(float(r) for r in RANKS), float(rank)),
            size=_nearest(tuple(float(s) for s in self.sizes), float(plan.recipe.sample_size)),
        )

    def points(self) -> list[Point]:
        lora_ranks = range(len(RANKS))
        return [
            Point(m, lr, ep, rank, size)
            for m in range(len(self.methods))
            for lr, ep, size in itertools.product(
                range(len(LR_FACTORS)), range(len(EPOCHS)), range(len(self.sizes))
            )
            for rank in (
                lora_ranks if self.methods[m] in ADAPTER_METHODS else [self.default().rank]
            )
        ]

    def config(self, point: Point) -> dict[str, Any]:
        values = self.values(point)
        return defaults.training_config(
            values["method"],
            self.ctx.model,
            gpus=self.ctx.spec.training.gpus,
            learning_rate=values["learning_rate"],
            epochs=values["epochs"],
            lora_rank=values["lora_rank"],
        )


def _moves(center: Point, point: Point) -> list[tuple[str, int]]:
    moves = []
    for name in ("lr", "epochs", "rank", "size", "method"):
        delta = getattr(point, name) - getattr(center, name)
        if delta:
            moves.append((name, 1 if delta > 0 else -1))
    return moves


def _distance(center: Point, point: Point) -> int:
    return (
        abs(point.lr - center.lr)
        + abs(point.epochs - center.epochs)
        + abs(point.rank - center.rank)
        + abs(point.size - center.size)
        + (1 if point.method != center.method else 0)
    )


def _tiebreak(seed: int, point: Point) -> str:
    return hashlib.sha256(f"{seed}:{point}".encode()).hexdigest()


def _fmt(value: float) -> str:
    return f"{value:g}"


class SearchPlanner:
    """Deterministic search around the best iteration (see the module docstring)."""

    def __init__(self, preface: str = "") -> None:
        self.preface = preface
        """Prepended to the plan's reason (e.g. why the LLM planner was not used)."""

    def draft(self, ctx: AgentContext) -> Draft:
        proposal = self.propose(ctx)
        records, recipe = builtin_data(ctx, proposal.sample_size, proposal.data_seed)
        return Draft(proposal=proposal, records=records, recipe=recipe)

    def propose(self, ctx: AgentContext) -> Proposal:
        previous = ctx.history.previous_round()
        if ctx.repair_round > 0 and previous is not None and previous.plan is not None:
            proposal = self._repair(ctx, previous.plan, previous.smoke)
        else:
            proposal = self._search(ctx)
        if self.preface:
            proposal.reason = f"{self.preface} {proposal.reason}"
        return proposal

    # ------------------------------------------------------------------ search

    def _tried(self, ctx: AgentContext, grid: Grid, *, with_seed: bool) -> set[str]:
        """Grid configurations earlier plans used (an LLM's plan counts as its nearest point);
        ``with_seed`` also tells apart data samples."""
        return {
            self._signature(grid, grid.point_of(plan), plan.recipe.seed if with_seed else None)
            for plan in ctx.history.plans()
        }

    @staticmethod
    def _signature(grid: Grid, point: Point, seed: int | None) -> str:
        values = grid.values(point)
        return plan_signature(
            values["method"],
            {
                "learning_rate": values["learning_rate"],
                "num_train_epochs": values["epochs"],
                "lora_rank": values["lora_rank"],
            },
            values["sample_size"],
            seed,
        )

    def _center(self, ctx: AgentContext, grid: Grid) -> tuple[Point, IterationRecord | None]:
        best = ctx.history.best()
        if best is not None and best.plan is not None:
            return grid.point_of(best.plan), best
        plans = ctx.history.plans()
        if plans:
            return grid.point_of(plans[-1]), None
        return grid.default(), None

    def _search(self, ctx: AgentContext) -> Proposal:
        grid = Grid(ctx)
        tried = self._tried(ctx, grid, with_seed=False)
        center, best = self._center(ctx, grid)
        hint = loss_hint(best.train) if best is not None else None
        priority = dict(BASE_PRIORITY)
        priority.update(HINT_PRIORITY.get(hint or "", {}))

        def order(point: Point) -> tuple[int, int, str]:
            moves = _moves(center, point)
            rank = min((priority[move] for move in moves), default=-10)
            return (_distance(center, point), rank, _tiebreak(ctx.seed, point))

        seed = ctx.seed
        candidates = sorted(grid.points(), key=order)
        untried = [p for p in candidates if self._signature(grid, p, None) not in tried]
        # Candidate k of a parallel round takes the k-th untried configuration, so the
        # round's candidates differ without seeing each other.
        k = ctx.request.candidate
        choice = untried[k] if k < len(untried) else None
        if choice is None:  # every configuration was tried: the center on a fresh data sample
            samples = self._tried(ctx, grid, with_seed=True)
            choice = center
            seed += k
            while self._signature(grid, center, seed) in samples:
                seed += 1
        return self._proposal(ctx, grid, center, choice, seed, best, hint)

    def _proposal(
        self,
        ctx: AgentContext,
        grid: Grid,
        center: Point,
        point: Point,
        seed: int,
        best: IterationRecord | None,
        hint: str | None,
    ) -> Proposal:
        values = grid.values(point)
        method: TrainingMethod = values["method"]
        rank = f", LoRA rank {values['lora_rank']}" if values["lora_rank"] else ""
        setting = (
            f"{method} with learning rate {_fmt(values['learning_rate'])}, "
            f"{_fmt(values['epochs'])} epochs{rank} on up to {values['sample_size']} examples"
        )
        if not ctx.history.plans():
            hypothesis = (
                f"A sound default — {setting} in the benchmark's answer format — should beat "
                "the base model."
            )
            reason = (
                f"First iteration: defaults for {ctx.model.summary()}; cutoff_len from the "
                "data's 99th-percentile length."
            )
        else:
            changes = self._describe_changes(grid, center, point, seed != ctx.seed)
            origin = (
                f"the best iteration so far ({best.index}, validation {_fmt(best.score or 0)})"
                if best is not None
                else "the last plan (no iteration has a validation score yet)"
            )
            hypothesis = f"Starting from {origin}, {changes} should improve the validation score."
            hint_text = {
                "underfit": " Its training loss was still falling at the end.",
                "unstable": " Its training loss was unstable.",
            }.get(hint or "", "")
            reason = (
                f"Search step around {origin}: {setting}.{hint_text} Untried configurations are "
                "ordered by distance, then by what the loss curve suggests."
            )
        return Proposal(
            planner=PlannerType.SEARCH,
            hypothesis=hypothesis,
            reason=reason,
            method=method,
            training_config=grid.config(point),
            sample_size=values["sample_size"],
            data_seed=seed,
            datasets=[d.key for d in ctx.datasets],
        )

    @staticmethod
    def _describe_changes(grid: Grid, center: Point, point: Point, new_seed: bool) -> str:
        before, after = grid.values(center), grid.values(point)
        labels = {
            "method": "method",
            "learning_rate": "learning rate",
            "epochs": "epochs",
            "lora_rank": "LoRA rank",
            "sample_size": "data size",
        }
        parts = [
            f"{label} {before[key]} -> {after[key]}"
            for key, label in labels.items()
            if before[key] != after[key]
        ]
        if new_seed:
            parts.append("a fresh data sample")
        return ", ".join(parts) or "the same setting on a fresh data sample"

    # ------------------------------------------------------------------ repair

    def _repair(self, ctx: AgentContext, failed: Plan, smoke: TrainingResult | None) -> Proposal:
        config = {k: v for k, v in failed.training_config.items() if k not in OPERATOR_MANAGED_KEYS}
        method = failed.method
        sample_size = failed.recipe.sample_size
        seed = failed.recipe.seed
        failure = smoke.failure if smoke is not None else None
        error = (smoke.message if smoke is not None else "") or "no smoke result was written"
        changes: list[str] = []
        if failure is FailureKind.OOM:
            method, config, changes = self._fit_memory(ctx, method, config)
        elif failure is FailureKind.CONFIG:
            grid = Grid(ctx)
            point = grid.point_of(failed)
            fresh = grid.config(point)
            if {k: v for k, v in fresh.items() if k != "cutoff_len"} == {
                k: v for k, v in config.items() if k != "cutoff_len"
            }:
                point = Point(
                    point.method, max(0, point.lr - 1), point.epochs, point.rank, point.size
                )
                fresh = grid.config(point)
                changes.append("a lower learning rate")
            config = fresh
            method = grid.method(point)
            changes.insert(0, "the default configuration without extra keys")
        elif failure is FailureKind.DATA:
            seed += 1
            sample_size = max(1, sample_size // 2)
            changes.append(f"a fresh, smaller data sample ({sample_size} examples)")
        else:
            seed += 1
            changes.append("a fresh data sample")
        earlier = {signature_of(r.plan) for r in ctx.history.current_rounds if r.plan}
        while plan_signature(method, config, sample_size, seed) in earlier:
            seed += 1
        if seed != failed.recipe.seed and "data sample" not in " ".join(changes):
            changes.append("a fresh data sample")
        kind = f"{failure}" if failure else "unknown"
        return Proposal(
            planner=PlannerType.SEARCH,
            hypothesis=(
                f"Repair of round {ctx.repair_round - 1}: the smoke run failed ({kind}); "
                f"{', '.join(changes)} should let it train."
            ),
            reason=f"Smoke failure ({kind}): {error[:300]}",
            method=method,
            training_config=config,
            sample_size=sample_size,
            data_seed=seed,
            datasets=[d.key for d in ctx.datasets],
        )

    @staticmethod
    def _fit_memory(
        ctx: AgentContext, method: TrainingMethod, config: dict[str, Any]
    ) -> tuple[TrainingMethod, dict[str, Any], list[str]]:
        changes = []
        batch = int(config.get("per_device_train_batch_size") or 1)
        if batch > 1:
            config["per_device_train_batch_size"] = batch // 2
            config["gradient_accumulation_steps"] = (
                int(config.get("gradient_accumulation_steps") or 1) * 2
            )
            changes.append(f"batch size {batch} -> {batch // 2} (same effective batch)")
        elif (
            method is TrainingMethod.LORA
            and TrainingMethod.QLORA in ctx.allowed_methods
            and ctx.spec.training.gpus > 0
        ):
            method = TrainingMethod.QLORA
            config["finetuning_type"] = finetuning_type(method)
            changes.append("QLoRA (the base model in 4 bits) instead of LoRA")
        elif method not in ADAPTER_METHODS and TrainingMethod.LORA in ctx.allowed_methods:
            grid_config = defaults.training_config(
                TrainingMethod.LORA,
                ctx.model,
                gpus=ctx.spec.training.gpus,
                learning_rate=defaults.default_learning_rate(TrainingMethod.LORA, ctx.model),
                epochs=float(config.get("num_train_epochs") or defaults.EPOCHS),
                lora_rank=None,
            )
            grid_config["per_device_train_batch_size"] = 1
            config, method = grid_config, TrainingMethod.LORA
            changes.append("LoRA instead of full fine-tuning")
        else:
            cutoff = int(config.get("cutoff_len") or ctx.model.context_length)
            config["cutoff_len"] = max(MIN_REPAIR_CUTOFF, cutoff // 2)
            changes.append(f"cutoff_len {cutoff} -> {config['cutoff_len']}")
            rank = config.get("lora_rank")
            if method in ADAPTER_METHODS and isinstance(rank, int) and rank > RANKS[0]:
                config["lora_rank"] = rank // 2
                config["lora_alpha"] = rank
                changes.append(f"LoRA rank {rank} -> {rank // 2}")
        config["disable_gradient_checkpointing"] = False
        return method, config, changes
