"""Noise-aware acceptance of a candidate over the best so far (pure; called by the lifecycle).

Small benchmarks are noisy: AIME's 15 validation items move 6.7 points per answer. A candidate
replaces the best only when a paired bootstrap over the validation items finds it better with
probability at least ``confidence`` — or, when ``min_improvement`` is set, when its mean gain
reaches that many points. Without per-item scores on both sides, the plain numeric rule applies.

Ratio metrics (micro F1 = sum(2TP) / sum(2TP + FP + FN)) come with per-item weights: each side's
score on a resample is the weighted mean of its per-item scores, which is the metric itself
recomputed on the resampled items.
"""

from __future__ import annotations

import hashlib
import random

from ftapi.campaign import Comparison

RESAMPLES = 2000


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _weighted(scores: list[float], weights: list[float], picks: list[int]) -> float:
    total = sum(weights[i] for i in picks)
    return sum(scores[i] * weights[i] for i in picks) / total if total else 0.0


def compare(
    candidate_score: float,
    best_score: float | None,
    candidate_items: list[float] | None,
    best_items: list[float] | None,
    confidence: float = 0.9,
    min_improvement: float | None = None,
    seed_key: str = "",
    resamples: int = RESAMPLES,
    candidate_weights: list[float] | None = None,
    best_weights: list[float] | None = None,
) -> Comparison:
    """Whether the candidate beats the best, with the estimate and its interval (points)."""
    if best_score is None:
        return Comparison(method="numeric", estimate=candidate_score, significant=True)
    paired = (
        candidate_items is not None
        and best_items is not None
        and len(candidate_items) == len(best_items)
        and len(candidate_items) > 0
    )
    if not paired:
        gain = candidate_score - best_score
        if min_improvement is not None:
            return Comparison(
                method="threshold", estimate=round(gain, 3), significant=gain >= min_improvement
            )
        return Comparison(method="numeric", estimate=round(gain, 3), significant=gain > 0)
    assert candidate_items is not None and best_items is not None
    n = len(candidate_items)
    rng = random.Random(_seed(seed_key))
    weighted = candidate_weights is not None or best_weights is not None
    if weighted:
        cw = candidate_weights if candidate_weights and len(candidate_weights) == n else [1.0] * n
        bw = best_weights if best_weights and len(best_weights) == n else [1.0] * n
        everything = list(range(n))

        def gain(picks: list[int]) -> float:
            return _weighted(candidate_items, cw, picks) - _weighted(best_items, bw, picks)

        estimate = gain(everything) * 100
        means = sorted(gain([rng.randrange(n) for _ in range(n)]) for _ in range(resamples))
    else:
        diffs = [c - b for c, b in zip(candidate_items, best_items, strict=True)]
        means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
        estimate = sum(diffs) / n * 100
    tail = (1 - confidence) / 2
    low = means[int(tail * (resamples - 1))] * 100
    high = means[int((1 - tail) * (resamples - 1))] * 100
    p_better = sum(m > 0 for m in means) / resamples
    if min_improvement is not None:
        return Comparison(
            method="threshold",
            estimate=round(estimate, 3),
            low=round(low, 3),
            high=round(high, 3),
            p_better=p_better,
            significant=estimate >= min_improvement,
        )
    return Comparison(
        method="bootstrap",
        estimate=round(estimate, 3),
        low=round(low, 3),
        high=round(high, 3),
        p_better=p_better,
        significant=estimate > 0 and p_better >= confidence,
    )


def describe(comparison: Comparison, confidence: float) -> str:
    if comparison.method == "bootstrap":
        verdict = "significant" if comparison.significant else "within noise"
        return (
            f"gain {comparison.estimate:+.2f} [{comparison.low:+.2f}, {comparison.high:+.2f}]"
            f" {verdict} (p={comparison.p_better:.2f} vs {confidence:.2f})"
        )
    if comparison.method == "threshold":
        return f"gain {comparison.estimate:+.2f} vs minImprovement"
    return f"gain {comparison.estimate:+.2f}"


def interval(
    items: list[float],
    weights: list[float] | None = None,
    confidence: float = 0.9,
    seed_key: str = "",
    resamples: int = RESAMPLES,
) -> tuple[float, float] | None:
    """The bootstrap interval of one score (points) from its per-item scores (None: none)."""
    n = len(items)
    if n == 0:
        return None
    w = weights if weights and len(weights) == n else [1.0] * n
    rng = random.Random(_seed(seed_key))
    means = sorted(
        _weighted(items, w, [rng.randrange(n) for _ in range(n)]) for _ in range(resamples)
    )
    tail = (1 - confidence) / 2
    low = means[int(tail * (resamples - 1))] * 100
    high = means[int((1 - tail) * (resamples - 1))] * 100
    return round(low, 3), round(high, 3)
