"""Worker result contracts refuse what no honest worker writes."""

from __future__ import annotations

import pytest

from ftapi.results import ResultError, StepResult


@pytest.mark.parametrize(
    "forged",
    [
        '{"v": 1, "step": "agent", "ok": true, "llmCost": Infinity}',
        '{"v": 1, "step": "agent", "ok": true, "llmCost": NaN}',
        '{"v": 1, "step": "train", "ok": true, "trainLoss": -Infinity}',
        '{"v": 1, "step": "eval", "ok": true, "scores": {"validation": 1e9}}',
        '{"v": 1, "step": "eval", "ok": true, "scores": {"validation": NaN}}',
    ],
)
def test_non_finite_or_out_of_range_numbers_fail_the_contract(forged: str) -> None:
    with pytest.raises(ResultError, match="not a valid step result"):
        StepResult.parse_message(forged)


def test_scores_of_signed_metrics_stay_valid() -> None:
    result = StepResult.parse_message(
        '{"v": 1, "step": "eval", "ok": true, "scores": {"validation": -35.5}}'
    )
    assert result.scores == {"validation": -35.5}
