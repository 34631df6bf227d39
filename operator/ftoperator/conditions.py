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
    out: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != kind:
            out.append(cond)
            continue
        found = True
        transition = cond.last_transition_time if cond.status == value else now
        out.append(
            Condition(
                type=kind,
                status=value,
                reason=reason,
                message=message[:32768],
                last_transition_time=transition,
                observed_generation=generation,
            )
        )
    if not found:
        out.append(
            Condition(
                type=kind,
                status=value,
                reason=reason,
                message=message[:32768],
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return out


def get_condition(conditions: list[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)
