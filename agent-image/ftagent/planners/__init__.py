"""The two planners and the choice between them.

``spec.planner.type: search`` always uses :class:`~ftagent.planners.search.SearchPlanner`.
``llm`` uses :class:`~ftagent.planners.llm.LlmPlanner` unless the campaign's LLM cost budget
(``spec.planner.llm.costBudgetUsd``, against the ``llm_cost`` of every earlier plan on the
workspace) is already spent; then the search planner runs and the plan's reason says why.
Called by :mod:`ftagent.pipeline`.
"""

from __future__ import annotations

import os

from ftagent.context import AgentContext
from ftagent.llm_client import api_key_from_env
from ftagent.planners.base import Draft, Planner, Proposal
from ftagent.planners.search import SearchPlanner
from ftagent.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S
from ftapi.campaign import PlannerType

SCRIPT_TIMEOUT_ENV = "FT_SCRIPT_TIMEOUT_S"
SCRIPT_MEMORY_ENV = "FT_SCRIPT_MEMORY_MB"


def choose_planner(ctx: AgentContext) -> Planner:
    planner = ctx.spec.planner
    if planner.type is PlannerType.SEARCH or planner.llm is None:
        return SearchPlanner()
    budget = planner.llm.cost_budget_usd
    spent = ctx.history.llm_spent
    if budget is not None and spent >= budget:
        return SearchPlanner(
            preface=(
                f"LLM cost budget spent (${spent:.4f} of ${budget:.4f}); the search planner "
                "planned this experiment."
            )
        )
    from ftagent.planners.llm import LlmPlanner

    return LlmPlanner(
        planner.llm,
        api_key=api_key_from_env(),
        script_timeout_s=float(os.environ.get(SCRIPT_TIMEOUT_ENV, DEFAULT_TIMEOUT_S)),
        script_memory_mb=int(os.environ.get(SCRIPT_MEMORY_ENV, DEFAULT_MEMORY_MB)),
    )


__all__ = ["Draft", "Planner", "Proposal", "SearchPlanner", "choose_planner"]
