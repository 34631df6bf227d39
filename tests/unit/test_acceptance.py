"""Noise-aware acceptance (paired bootstrap) on crafted per-item results, and parallel rounds
in the lifecycle."""

from __future__ import annotations

import pytest
from test_lifecycle import World, campaign, default_outcome, ok

from ftapi.campaign import IterationPhase, Phase
from ftapi.results import (
    decode_item_scores,
    decode_item_weights,
    encode_item_scores,
    encode_item_weights,
)
from ftapi.steps import StepKind
from ftoperator.acceptance import compare


def items(correct: int, total: int = 15) -> list[float]:
    return [1.0] * correct + [0.0] * (total - correct)


def test_item_scores_round_trip_compactly():
    scores = [0.0, 0.25, 1.0, 0.335]
    text = encode_item_scores(scores * 250)
    assert len(text) <= 1400
    assert decode_item_scores(text)[:4] == [0.0, 0.25, 1.0, 0.335]
    assert decode_item_scores("not base64!") is None


def test_signed_item_scores_round_trip_without_clamping():
    taus = [-1.0, -0.33, 0.0, 0.5, 1.0]
    text = encode_item_scores(taus * 200)
    assert text.startswith("-") and len(text) <= 1400
    assert decode_item_scores(text)[:5] == pytest.approx(taus, abs=0.005)
    assert decode_item_scores("-not base64!") is None


def test_kendall_tau_gain_from_negative_orderings_is_seen():
    # Every ordering went from reversed-ish (tau -0.5) to unrelated (0): a real gain that
    # clamping the scores to 0-1 would have hidden.
    best = decode_item_scores(encode_item_scores([-0.5] * 20))
    candidate = decode_item_scores(encode_item_scores([0.0] * 20))
    result = compare(0.0, -50.0, candidate, best, confidence=0.9, seed_key="t")
    assert result.method == "bootstrap" and result.significant
    assert result.estimate == pytest.approx(50.0)


def test_one_more_right_answer_on_aime_is_noise():
    best = items(4)  # 26.7 on 15 items
    candidate = items(5)  # 33.3: one more correct answer
    result = compare(33.3, 26.7, candidate, best, confidence=0.9, seed_key="x")
    assert result.method == "bootstrap" and not result.significant
    assert result.low <= 0 < result.high
    assert 6.0 < result.estimate < 7.0


def test_a_clear_gain_is_accepted():
    best = items(2, 100)
    candidate = items(30, 100)
    result = compare(30.0, 2.0, candidate, best, confidence=0.9, seed_key="x")
    assert result.significant and result.p_better == 1.0 and result.low > 0


def test_paired_comparison_sees_what_unpaired_scores_hide():
    # Same items right plus two more: a consistent (paired) gain.
    best = items(40, 100)
    candidate = items(45, 100)
    assert compare(45, 40, candidate, best, confidence=0.9, seed_key="s").significant
    # Different items right, same total gain: much weaker evidence.
    shuffled = [0.0] * 30 + [1.0] * 45 + [0.0] * 25
    assert not compare(45, 40, shuffled, best, confidence=0.9, seed_key="s").significant


def test_min_improvement_overrides_the_test():
    assert compare(33.3, 26.7, items(5), items(4), min_improvement=5).significant
    assert not compare(30.0, 26.7, None, None, min_improvement=5).significant


def test_bootstrap_is_deterministic():
    a = compare(40, 30, items(6, 20), items(4, 20), seed_key="k")
    b = compare(40, 30, items(6, 20), items(4, 20), seed_key="k")
    assert a == b


def scripted(validation: dict[int, float], per_item: dict[int, list[float]] | None = None):
    def outcome(create):
        req = create.request
        if req.step is StepKind.EVAL:
            scores = (per_item or {}).get(req.iteration)
            return ok(
                StepKind.EVAL,
                scores={"validation": validation[req.iteration]},
                item_scores=encode_item_scores(scores) if scores else None,
            )
        if req.step is StepKind.BASELINE:
            return ok(
                StepKind.BASELINE,
                scores={"validation": 20.0, "test": 18.0},
                item_scores=encode_item_scores(items(4, 20)),
            )
        return default_outcome(create)

    return outcome


def test_parallel_round_starts_all_candidates_at_once():
    world = World(
        campaign(parallelism=3, budget={"maxIterations": 5}),
        scripted(
            {0: 25, 1: 60, 2: 30, 3: 10, 4: 20},
            {0: items(5, 20), 1: items(12, 20), 2: items(6, 20), 3: items(2, 20), 4: items(4, 20)},
        ),
    )
    for _ in range(3):
        world.tick()
    first_agents = [c for c in world.created if c.request.step is StepKind.AGENT]
    assert [c.name for c in first_agents] == [
        "demo-agent-0-r0-0",
        "demo-agent-1-r0-0",
        "demo-agent-2-r0-0",
    ]
    assert [(c.request.round, c.request.candidate, c.request.candidates) for c in first_agents] == [
        (0, 0, 3),
        (0, 1, 3),
        (0, 2, 3),
    ]
    final = world.run()
    status = final.status
    assert status.phase is Phase.SUCCEEDED
    assert [it.round for it in status.iterations] == [0, 0, 0, 1, 1]
    assert [it.accepted for it in status.iterations] == [False, True, False, False, False]
    assert status.best.iteration == 1 and status.best.item_scores
    assert status.iterations[1].comparison.significant
    assert all(it.item_scores is None for it in status.iterations)
    # The second round's agents were told how the first round went.
    second = next(c for c in world.created if c.name == "demo-agent-3-r0-0")
    assert [n.accepted for n in second.request.history] == [False, True, False]
    assert "significant" in second.request.history[1].note


def test_noisy_winner_is_not_accepted_and_the_agent_hears_why():
    world = World(
        campaign(budget={"maxIterations": 2}),
        scripted({0: 25, 1: 25}, {0: items(5, 20), 1: items(5, 20)}),
    )
    final = world.run()
    first = final.status.iterations[0]
    assert first.accepted is False and first.comparison.method == "bootstrap"
    assert "within noise" in first.message
    assert final.status.best.iteration is None
    second = next(c for c in world.created if c.name == "demo-agent-1-r0-0")
    assert "within noise" in second.request.history[0].note


def test_failing_candidate_does_not_stop_its_siblings():
    def outcome(create):
        if create.request.step is StepKind.TRAIN and create.request.iteration == 0:
            return ok(StepKind.TRAIN).model_copy(update={"ok": False, "failure": "oom"})
        return scripted({1: 60}, {1: items(15, 20)})(create)

    world = World(campaign(parallelism=2, budget={"maxIterations": 2}), outcome)
    final = world.run()
    first, second = final.status.iterations
    assert first.phase is IterationPhase.FAILED and first.accepted is False
    assert second.phase is IterationPhase.SUCCEEDED and second.accepted is True


def test_item_weights_round_trip_and_mean_metrics_send_none():
    assert encode_item_weights([1.0, 1.0, 1.0]) is None
    weights = [0.0, 2.0, 5.0, 3.25, 24.0]
    assert decode_item_weights(encode_item_weights(weights)) == weights


def test_weighted_items_are_compared_on_the_ratio_metric_not_the_mean_of_ratios():
    # Micro F1 = sum(2TP) / sum(2TP + FP + FN); per item score 2TP/(2TP+FP+FN), weight the
    # denominator. Best: 10 items, each 2TP=2 of 4 -> 0.5 each, weight 4 -> F1 50.
    # Candidate: 9 items perfect with tiny weight 2 (2TP=2 of 2) and one item 0 of weight 40:
    # mean of per-item scores 0.9 (looks +40 points) but micro F1 = 18 / 58 = 31.03 (-18.97).
    best = [0.5] * 10
    best_w = [4.0] * 10
    cand = [1.0] * 9 + [0.0]
    cand_w = [2.0] * 9 + [40.0]
    result = compare(31.03, 50.0, cand, best, candidate_weights=cand_w, best_weights=best_w)
    assert result.method == "bootstrap"
    assert result.estimate == pytest.approx(100 * (18 / 58 - 0.5), abs=1e-3)
    assert not result.significant
    unweighted = compare(31.03, 50.0, cand, best)
    assert unweighted.estimate == pytest.approx(40.0)
