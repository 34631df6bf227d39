"""One agent step from request to files: plan, build data, validate, filter, write.

Called by :mod:`ftagent.main`. The chosen planner drafts a proposal with its data; every
record is validated (:mod:`ftagent.validation`) and asked like the evaluator asks (the task
description in front), ``cutoff_len`` is set from the data's
99th-percentile length within the model's limits, the config is filtered
(:mod:`ftagent.config_filter`), and ``data/train.json``, ``data/dataset_info.json`` and, last,
``plan.json`` are written into the round folder, so a plan on disk always has its data. A
repair whose plan came out identical to a failed one is redone by the search planner, which
always changes something.
"""

from __future__ import annotations

import logging

from ftagent.config_filter import coerce, filter_config
from ftagent.context import AgentContext
from ftagent.errors import ConfigError, DataError
from ftagent.planners import choose_planner
from ftagent.planners.base import Draft, signature_of
from ftagent.planners.defaults import cutoff_len
from ftagent.planners.search import SearchPlanner
from ftagent.records import DATASET_NAME, AlpacaRecord, write_json_atomic, write_training_data
from ftagent.validation import CheckedData, check_records, finalize
from ftapi.campaign import TrainingMethod
from ftapi.digest import tree_digest
from ftapi.hyperparameters import finetuning_type
from ftapi.plan import Plan
from ftapi.results import StepResult
from ftapi.steps import StepKind, StepRequest

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
HYPOTHESIS_LIMIT = 600


def _proposed_cutoff(config: dict[str, object]) -> int | None:
    if "cutoff_len" not in config:
        return None
    try:
        return coerce(config["cutoff_len"], {"type": "int"})
    except ValueError:
        return None


def assemble(ctx: AgentContext, draft: Draft) -> tuple[Plan, list[AlpacaRecord], CheckedData]:
    """Validate the draft's data and filter its config into the plan."""
    proposal = draft.proposal
    if proposal.method not in ctx.allowed_methods:
        raise ConfigError(
            f"method {proposal.method} is not allowed (spec.training.allowedMethods: "
            f"{', '.join(map(str, ctx.allowed_methods))})"
        )
    checked = check_records(
        draft.records,
        leak_index=ctx.leak_index,
        tokens=ctx.tokens,
        max_tokens=ctx.max_record_tokens,
        task_description=ctx.description,
    )
    if not checked.records:
        raise DataError(f"no usable training records: {checked.summary()}")
    cutoff = cutoff_len(
        checked.stats().p99_tokens, ctx.model, _proposed_cutoff(proposal.training_config)
    )
    final = finalize(checked, cutoff_len=cutoff, limit=ctx.limit, seed=proposal.data_seed)
    config = dict(proposal.training_config)
    config["cutoff_len"] = cutoff
    forced = {
        "finetuning_type": finetuning_type(proposal.method),
        "stage": "sft",
        "do_train": True,
        "template": ctx.model.template,
        "dataset": DATASET_NAME,
        "dataset_dir": str(ctx.data_dir),
    }
    filtered = filter_config(config, workspace=ctx.workspace, forced=forced)
    for key in filtered.dropped + filtered.overridden:
        log.info("config key %s removed: %s", key, filtered.reasons.get(key, ""))
    notes = " ".join([draft.recipe.notes, *draft.notes, f"Validation: {final.summary()}."])
    plan = Plan(
        iteration=ctx.iteration,
        repair_round=ctx.repair_round,
        planner=proposal.planner,
        hypothesis=proposal.hypothesis[:2000] or "(no hypothesis)",
        reason=proposal.reason,
        method=TrainingMethod(proposal.method),
        recipe=draft.recipe.model_copy(update={"notes": notes.strip()}),
        training_config=filtered.config,
        dropped_keys=filtered.dropped,
        overridden_keys=filtered.overridden,
        data_stats=final.stats(),
        llm_cost=round(draft.llm_cost, 6),
    )
    return plan, final.records, final


def _repeats_failed_round(ctx: AgentContext, plan: Plan) -> bool:
    if ctx.repair_round == 0:
        return False
    earlier = {signature_of(r.plan) for r in ctx.history.current_rounds if r.plan is not None}
    return signature_of(plan) in earlier


def run_step(request: StepRequest) -> StepResult:
    """Run the agent step for ``request`` and return its termination message."""
    ctx = AgentContext.from_request(request)
    log.info(
        "agent step: iteration %d round %d; %s",
        ctx.iteration,
        ctx.repair_round,
        ctx.model.summary(),
    )
    planner = choose_planner(ctx)
    draft = planner.draft(ctx)
    plan, records, checked = assemble(ctx, draft)
    if _repeats_failed_round(ctx, plan):
        log.warning("the repair repeats a failed plan; the search planner changes it")
        cost = draft.llm_cost
        draft = SearchPlanner(
            preface="The proposed repair repeated the failed plan; the search planner changed it."
        ).draft(ctx)
        draft.llm_cost += cost
        plan, records, checked = assemble(ctx, draft)
    write_training_data(ctx.data_dir, records)
    write_json_atomic(
        ctx.layout.plan_file(ctx.iteration, ctx.repair_round),
        plan.model_dump(mode="json"),  # camelCase on the wire, like every ftapi contract
        indent=2,
    )
    message = (
        f"{plan.planner} plan for iteration {ctx.iteration} round {ctx.repair_round}: "
        f"{checked.summary()}; {len(plan.training_config)} config keys "
        f"({len(plan.dropped_keys)} dropped, {len(plan.overridden_keys)} overridden)"
    )
    log.info("%s", message)
    return StepResult(
        step=StepKind.AGENT,
        ok=True,
        message=message[:MESSAGE_LIMIT],
        hypothesis=plan.hypothesis[:HYPOTHESIS_LIMIT],
        method=plan.method,
        samples=len(records),
        llm_cost=plan.llm_cost,
        outputs_sha256=tree_digest(ctx.layout.plan_inputs(ctx.iteration, ctx.repair_round)),
    )
