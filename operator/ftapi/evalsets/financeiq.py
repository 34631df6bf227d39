"""Evaluation-set layouts of the financeiq family (to be written: see base.py)."""

from __future__ import annotations

from collections.abc import Mapping

from ftapi.evalsets.base import EvalSet

EVALSETS: Mapping[str, EvalSet] = {}
