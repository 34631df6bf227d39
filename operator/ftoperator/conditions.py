"""metav1.Condition bookkeeping for the campaign's status (called by the lifecycle).

A merge patch replaces whole lists, so callers always write back the full list this returns.
``lastTransitionTime`` changes only when a condition's status changes, as in meta/v1.
"""

from __future__ import annotations

from datetime import datetime

from ftapi.campaign import Condition, ConditionStatus


def set_condition(
    conditions: list[Condition],
    kind: str,
    value: bool | ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> list[Condition]:
    if isinstance(value, bool):
        value = ConditionStatus.TRUE if value else ConditionStatus.FALSE

    def updated(previous: Condition | None) -> Condition:
        transition = now
        if previous is not None and previous.status == value:
            transition = previous.last_transition_time
        return Condition(
            type=kind,
            status=value,
            reason=reason,
            message=message[:32768],
            last_transition_time=transition,
            observed_generation=generation,
        )

    out = [updated(cond) if cond.type == kind else cond for cond in conditions]
    if not any(cond.type == kind for cond in conditions):
        out.append(updated(None))
    return out
