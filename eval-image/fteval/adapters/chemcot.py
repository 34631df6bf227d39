"""Adapters for ChemCoTBench (mol_und, mol_edit, mol_opt, reaction)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from fteval import answers, chem, metrics
from fteval.adapters.base import (
    MALFORMED,
    Adapter,
    EvalItem,
    Judgement,
    _binary,
)

# ----------------------------------------------------------------------------- ChemCoTBench

_YES = {"yes", "true", "same"}
_NO = {"no", "false", "different"}


def _yes_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = metrics.normalize_text(str(value))
    return True if text in _YES else False if text in _NO else None


def _extra_smiles(item: EvalItem) -> str:
    for key in ("source", "src", "molecule", "smiles"):
        if isinstance(item.extra.get(key), str) and item.extra[key].strip():
            return item.extra[key].strip()
    raise ValueError(f"item {item.index}: needs the input molecule as extra field 'source'")


@dataclass(frozen=True)
class MoleculeUnderstandingAdapter(Adapter):
    """Counts, yes/no and SMILES answers in ``{"output": ...}``; accuracy."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        value = answers.extract_json_output(prediction)
        if value is None:
            return MALFORMED
        gold_number = metrics.parse_number(item.answer)
        if gold_number is not None and _yes_no(item.answer) is None:
            number = value if isinstance(value, int | float) else metrics.parse_number(str(value))
            ok = number is not None and not isinstance(number, bool) and number == gold_number
            return _binary(ok, value)
        gold_bool = _yes_no(item.answer)
        if gold_bool is not None:
            return _binary(_yes_no(value) == gold_bool, value)
        ok = chem.same_molecule(value, item.answer) or (
            metrics.normalize_text(str(value)) == metrics.normalize_text(item.answer)
        )
        return _binary(ok, value)


@dataclass(frozen=True)
class MoleculeEditAdapter(Adapter):
    """A valid SMILES carrying the requested edit (group counts), else the reference."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        added, removed = item.extra.get("added_group"), item.extra.get("removed_group")
        value = answers.extract_json_output(prediction)
        if not added and not removed:
            if value is None:
                return MALFORMED
            return _binary(chem.same_molecule(value, item.answer), value)
        source = _extra_smiles(item)
        # Unknown group names raise before the prediction is looked at: never a silent 0.
        expected = {g: chem.count_group(source, g) for g in (added, removed) if g}
        if not isinstance(value, str) or not chem.is_valid_smiles(value):
            return _binary(False, value)
        ok = True
        if added:
            ok &= chem.count_group(value, added) == expected[added] + 1
        if removed:
            ok &= chem.count_group(value, removed) == expected[removed] - 1
        return _binary(ok, value)


@dataclass(frozen=True)
class MoleculeOptimisationAdapter(Adapter):
    """A valid SMILES that improves the target property over the input molecule."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        prop = item.extra.get("property")
        if not isinstance(prop, str):
            raise ValueError(f"item {item.index}: needs the target as extra field 'property'")
        source = _extra_smiles(item)
        direction = str(item.extra.get("direction", "increase"))
        value = answers.extract_json_output(prediction)
        candidate = value if isinstance(value, str) else ""
        ok = chem.improves(source, candidate, prop, direction)
        return _binary(ok, value)


@dataclass(frozen=True)
class ReactionAdapter(Adapter):
    """Exact match of the canonical SMILES (normalised text for non-SMILES answers)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        value = answers.extract_json_output(prediction)
        if value is None:
            return MALFORMED
        if chem.is_valid_smiles(item.answer) and isinstance(value, str):
            return _binary(chem.same_molecule(value, item.answer), value)
        ok = metrics.normalize_text(str(value)) == metrics.normalize_text(item.answer)
        return _binary(ok, value)


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "chemcotbench_mol_und": MoleculeUnderstandingAdapter(_F.json_output, _M.accuracy),
    "chemcotbench_mol_edit": MoleculeEditAdapter(_F.json_output, _M.correct_rate),
    "chemcotbench_mol_opt": MoleculeOptimisationAdapter(_F.json_output, _M.success_rate),
    "chemcotbench_reaction": ReactionAdapter(_F.json_output, _M.exact_match),
}
