"""Benchmark adapters: answer extraction plus core metric, one adapter per catalog benchmark.

An adapter judges one model response against one evaluation item (per-item score, whether it
counts as right, what was extracted) and aggregates the judgements into the benchmark's core
metric (0-100) plus any secondary metrics. :data:`ADAPTERS` has an entry for every key of
:data:`ftapi.catalog.BENCHMARKS`; a benchmark added to the catalog without an adapter fails
the tests. Called by the OpenCompass evaluator (:mod:`fteval.evaluator`).

Each family module says which gold and extra fields its adapters read; the items come from
``ftapi.evalsets.<family>`` (the upstream layouts) and the scoring rules from the OpenCompass
fork RD-Agent runs (docs/benchmarks/<family>.md). A judgement's ``weight`` makes the weighted
mean of the item scores equal the core metric (corpus-level ratios such as micro F1), and an
adapter's ``reweigh`` sets weights that depend on the whole split (means over subtasks).
"""

from __future__ import annotations

from collections.abc import Mapping

from ftapi.catalog import BENCHMARKS
from fteval.adapters import bioprobench, chemcot, financeiq, math, panorama, tablebench
from fteval.adapters.base import MALFORMED, Adapter, EvalItem, Judgement
from fteval.adapters.math import BoxedIntegerAdapter
from fteval.judge import JudgeConfig

__all__ = [
    "ADAPTERS",
    "MALFORMED",
    "Adapter",
    "BoxedIntegerAdapter",
    "EvalItem",
    "Judgement",
    "MissingAdapterError",
    "get_adapter",
]

# ----------------------------------------------------------------------------- registry

ADAPTERS: Mapping[str, Adapter] = {
    **bioprobench.ADAPTERS,
    **chemcot.ADAPTERS,
    **financeiq.ADAPTERS,
    **math.ADAPTERS,
    **panorama.ADAPTERS,
    **tablebench.ADAPTERS,
}


class MissingAdapterError(KeyError):
    """A catalog benchmark without an adapter (a bug: every benchmark needs one)."""


def get_adapter(benchmark: str, judge: JudgeConfig | None = None) -> Adapter:
    """The adapter of ``benchmark``, with the LLM judge attached where it is allowed."""
    try:
        adapter = ADAPTERS[benchmark]
    except KeyError:
        known = "known" if benchmark in BENCHMARKS else "unknown"
        raise MissingAdapterError(f"no adapter for {known} benchmark {benchmark!r}") from None
    if isinstance(adapter, BoxedIntegerAdapter):
        return adapter.with_judge(judge)
    return adapter
