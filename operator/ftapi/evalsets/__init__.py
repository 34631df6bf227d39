"""Every benchmark's evaluation set as upstream lays it out (one module per family).

:data:`EVALSETS` maps each catalog key to its :class:`~ftapi.evalsets.base.EvalSet`; a test
fails when a catalog benchmark has none. See :mod:`ftapi.evalsets.base` for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ftapi.evalsets import aime, bioprobench, chemcot, financeiq, panorama, tablebench
from ftapi.evalsets.base import (
    EvalRow,
    EvalSet,
    LayoutError,
    SourceRow,
    Splits,
    cut_splits,
    fingerprint,
    fingerprints,
    normalize,
)

__all__ = [
    "EVALSETS",
    "EvalRow",
    "EvalSet",
    "LayoutError",
    "SourceRow",
    "Splits",
    "cut_splits",
    "fingerprint",
    "fingerprints",
    "get_evalset",
    "normalize",
]

EVALSETS: Mapping[str, EvalSet] = MappingProxyType(
    {
        **aime.EVALSETS,
        **panorama.EVALSETS,
        **chemcot.EVALSETS,
        **tablebench.EVALSETS,
        **financeiq.EVALSETS,
        **bioprobench.EVALSETS,
    }
)


def get_evalset(benchmark: str) -> EvalSet:
    """The evaluation-set layout of catalog benchmark ``benchmark``."""
    try:
        return EVALSETS[benchmark]
    except KeyError:
        raise KeyError(f"benchmark {benchmark!r} has no evaluation-set layout") from None
