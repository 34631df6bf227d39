"""The agent's error types; each carries the :class:`~ftapi.results.FailureKind` it reports.

Raised anywhere in the agent, turned into the failed StepResult by :mod:`ftagent.main`.
"""

from __future__ import annotations

from ftapi.results import FailureKind


class AgentError(Exception):
    """A failure of the agent step that the operator should know the kind of."""

    kind: FailureKind = FailureKind.INTERNAL


class RequestError(AgentError):
    """The step request is missing or invalid (an operator or executor bug)."""

    kind = FailureKind.INTERNAL


class EnvironmentFailure(AgentError):
    """The caches lack what the step needs (raw dataset, benchmark set); retrying won't help."""

    kind = FailureKind.ENVIRONMENT


class DataError(AgentError):
    """The training data cannot be built or does not pass validation."""

    kind = FailureKind.DATA


class RecipeSchemaError(DataError):
    """A raw dataset's rows lack the columns a built-in recipe needs."""

    def __init__(self, dataset: str, source: str, missing: list[str], available: list[str]) -> None:
        self.dataset = dataset
        self.missing = missing
        super().__init__(
            f"dataset {dataset!r} ({source}): missing column(s) {', '.join(missing)}; "
            f"the rows have: {', '.join(available) or '(none)'}"
        )


class ConfigError(AgentError):
    """The proposed training configuration is unusable."""

    kind = FailureKind.CONFIG


class SandboxError(Exception):
    """Generated code crashed, timed out or wrote bad output (feedback for the LLM planner)."""


class LlmError(Exception):
    """Every model of a pool failed, or a reply could not be used after the bounded retries."""


class BudgetExhausted(LlmError):
    """The campaign's LLM cost budget is spent; no further LLM calls are made."""
