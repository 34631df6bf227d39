"""Benchmark adapters: answer extraction plus core metric, one adapter per catalog benchmark.

An adapter judges one model response against one evaluation item (per-item score, whether it
counts as right, what was extracted) and aggregates the judgements into the benchmark's core
metric (0-100) plus any secondary metrics. :data:`ADAPTERS` has an entry for every key of
:data:`ftapi.catalog.BENCHMARKS`; a benchmark added to the catalog without an adapter fails
the tests. Called by the OpenCompass evaluator (:mod:`fteval.evaluator`).

Gold answers (the ``answer`` field of the benchmark's ``eval.jsonl``, written by the prepare
step) and the optional extra fields each adapter reads:

- ``aime24``/``aime25``: the integer, e.g. ``"204"`` (any LaTeX math-verify can parse).
- ``panorama_par4pc``: the cited candidate letters, ``"A"``, ``"A,C"`` or ``'["A", "C"]'``.
- ``panorama_pi4pc``: the gold paragraph number(s), ``"12"`` or ``"[12, 40]"``.
- ``panorama_noc4pc``: ``"ALLOW"``, ``"102"`` or ``"103"``.
- ``chemcotbench_mol_und``: the count, ``yes``/``no`` or a SMILES.
- ``chemcotbench_mol_edit``: the reference SMILES; with extras ``source`` (input SMILES) and
  ``added_group``/``removed_group`` (functional-group names, :data:`fteval.chem.
  FUNCTIONAL_GROUPS`) the edit itself is checked instead.
- ``chemcotbench_mol_opt``: extras ``source``, ``property`` (logp, qed, solubility) and
  optional ``direction`` (increase, the default, or decrease).
- ``chemcotbench_reaction``: the product/reactant SMILES (or the text answer).
- ``tablebench_*``: the short answer (``"Yes"``, ``"42.5"``, ``"A, B"``), extra ``qsubtype``;
  ``tablebench_visualization``: the reference code, extra ``table``
  (``{"columns": [...], "data": [[...]]}``) or a precomputed ``chart``.
- ``FinanceIQ_gen``: the option letter; extra ``choices`` ({letter: text} or a list).
- ``bioprobench_gen``: the reference protocol text; ``bioprobench_ord``: the correct order,
  ``"[2, 0, 3, 1]"``; ``bioprobench_err``: ``"True"`` (step correct) or ``"False"``;
  ``bioprobench_pqa``: the correct option text, extra ``choices``.
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
