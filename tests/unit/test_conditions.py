"""metav1.Condition bookkeeping: lastTransitionTime moves only when the status changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ftoperator.conditions import set_condition

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_transition_time_moves_only_when_the_status_changes():
    conds = set_condition([], "Ready", False, "Preparing", "preparing caches", T0, 1)
    conds = set_condition(conds, "Stalled", False, "Fine", "no blocking problem", T0, 1)
    later = T0 + timedelta(minutes=5)
    same = set_condition(conds, "Ready", False, "Running", "iteration 0", later, 2)
    assert [c.type for c in same] == ["Ready", "Stalled"]  # updated in place, order kept
    ready = same[0]
    assert (ready.reason, ready.message, ready.observed_generation) == ("Running", "iteration 0", 2)
    assert ready.last_transition_time == T0
    assert same[1] == conds[1]  # other conditions untouched
    flipped = set_condition(same, "Ready", True, "Succeeded", "done", later, 2)
    assert flipped[0].status == "True" and flipped[0].last_transition_time == later


def test_messages_are_bounded():
    (cond,) = set_condition([], "Failed", True, "Prepare", "x" * 40000, T0)
    assert len(cond.message) == 32768 and cond.observed_generation is None
