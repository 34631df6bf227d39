"""Adapters for ChemCoTBench (mol_und, mol_edit, mol_opt, reaction), as the fork scores them.

The OpenCompass fork RD-Agent runs (Jensen246/opencompass@abc7c91a,
``opencompass/datasets/chemcotbench/*.py``) scores every subtask with its own evaluator and
answer parser; RD-Agent's benchmark processor (``rdagent/app/finetune/llm/ui/benchmarks/
chemcotbench.py``) reduces a task to one number: the mean over the subtask datasets of each
subtask's core metric, skipping subtasks whose evaluator does not report the metric it looks
for. What that yields with the fork's evaluators:

- mol_und ``accuracy``: the processor asks fg_count/ring_count for ``accuracy`` (the fork
  reports ``mae``), Murcko_scaffold for ``scaffold_hard`` (the fork reports a Tanimoto mean)
  and ring_system_scaffold for ``score`` (the fork reports ``accuracy``): only equivalence
  counts. The other subtasks are reported as secondary metrics, as the fork computes them.
- mol_edit ``correct_rate``, mol_opt ``success_rate``: mean over the subtasks.
- reaction ``exact_match``: mean over fs, retro, nepp, rcr (exact match) and mechsel (its
  ``accuracy``, the processor's fallback).

Per item, :class:`ChemJudgement` carries the subtask; :func:`reweigh` gives every item of a
counted subtask the weight ``L / n_subtask`` (items of other subtasks weight 0), so the weighted
mean of the per-item scores is exactly the mean over subtasks. ``aggregate`` applies it.

Molecule optimisation for DRD2, JNK3 and GSK3-beta calls :func:`fteval.oracles.score` with the
models directory named by the environment variable ``FT_ORACLE_DIR`` (read at judge time).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ftapi.catalog import AnswerFormat, Metric
from fteval.adapters.base import Adapter, EvalItem, Judgement, weighted_mean

ORACLE_DIR_ENV = "FT_ORACLE_DIR"
"""Directory of the trained DRD2/JNK3/GSK3-beta oracle models (``<model cache>/oracles``)."""
ORACLE_PROPERTIES = ("drd2", "jnk3", "gsk3b")
MAX_WEIGHT = 63.75
"""Largest per-item weight the results encoding carries (``ftapi.results``)."""


class UnsupportedPropertyError(ValueError):
    """A property this image cannot compute (never a silent 0)."""


@dataclass(frozen=True)
class ChemJudgement(Judgement):
    """A judgement with the subtask it belongs to and the subtask's own per-item value."""

    subtask: str = ""
    value: float = 0.0
    """The subtask metric's per-item term: absolute error (counts), Tanimoto (Murcko),
    property improvement (mol_opt), else the 0/1 score."""
    valid: bool = False
    """The extracted SMILES parses (mol_edit, mol_opt, SMILES reactions)."""


# ----------------------------------------------------------------------------- parsing

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_JSON_FENCE = re.compile(r"```json\s*(.*?)\s*```", re.DOTALL)
_ANY_FENCE = re.compile(r"```\s*(.*?)\s*```", re.DOTALL)
_SMILES_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9@\[\]\(\)=#\-\+\.\\\/]{4,}")


class _Fallback(str):
    """The whole response, returned by the fork's parsers when nothing else matched."""


def _prepare(response: str) -> tuple[str, Any]:
    """The fork's common first steps: strip, drop ``<think>`` blocks, take the first fenced
    block (a ```json one first), join the lines and try ``json.loads``. Returns the text the
    regex fallbacks search and the parsed JSON (None when it does not parse)."""
    response = _THINK.sub("", response.strip())
    if "```json" in response:
        match = _JSON_FENCE.search(response)
        if match:
            response = match.group(1)
    elif "```" in response:
        match = _ANY_FENCE.search(response)
        if match:
            response = match.group(1)
    cleaned = response.replace("\n    ", "").replace("\n", "")
    try:
        return response, json.loads(cleaned)
    except json.JSONDecodeError:
        return response, None


def _first(patterns: Sequence[str], text: str, flags: int = 0) -> str | None:
    for pattern in patterns:
        match = re.search(pattern, text, flags)
        if match:
            return match.group(1)
    return None


def parse_mol_und(response: str, subtask: str) -> Any:
    """``_extract_answer_from_response`` of chemcotbench_mol_und.py."""
    if not response:
        return None
    response, data = _prepare(response)
    if isinstance(data, dict):
        if subtask in ("fg_count", "ring_count"):
            answer = data.get("count", data.get("answer"))
        elif subtask in ("equivalence", "ring_system_scaffold"):
            answer = data.get("output", data.get("answer"))
        elif subtask == "Murcko_scaffold":
            answer = data.get("Output Scaffold", data.get("output", data.get("answer")))
        else:
            answer = data.get("answer", data.get("output", data.get("count")))
        if answer is not None:
            return str(answer).strip()
    if subtask in ("fg_count", "ring_count"):
        found = _first([r'"count"\s*:\s*"?(\d+)"?', r'"answer"\s*:\s*"?(\d+)"?'], response)
        if found is not None:
            return found
        match = re.search(r"\b(\d+)\b", response)
        if match:
            return match.group(1)
    elif subtask in ("equivalence", "ring_system_scaffold"):
        found = _first(
            [r'"output"\s*:\s*"(Yes|No)"', r'"answer"\s*:\s*"(Yes|No)"'], response, re.IGNORECASE
        )
        if found is not None:
            return found
        if re.search(r"\byes\b", response, re.IGNORECASE):
            return "Yes"
        if re.search(r"\bno\b", response, re.IGNORECASE):
            return "No"
    elif subtask == "Murcko_scaffold":
        found = _first(
            [
                r'"Output Scaffold"\s*:\s*"([^"]*)"',
                r'"output"\s*:\s*"([^"]*)"',
                r'"answer"\s*:\s*"([^"]*)"',
            ],
            response,
            re.IGNORECASE,
        )
        if found is not None:
            return found.strip()
    return _Fallback(response.strip())


def _parse_smiles(response: str, keys: Sequence[str], patterns: Sequence[str]) -> Any:
    """``_extract_smiles_from_response`` of mol_edit (keys output/answer) and mol_opt (Final
    Target Molecule first, keys joined with ``or``)."""
    if not response:
        return None
    response, data = _prepare(response)
    if isinstance(data, dict):
        if len(keys) == 2:  # mol_edit: data.get('output', data.get('answer'))
            answer = data.get(keys[0], data.get(keys[1]))
        else:  # mol_opt: data.get(k1) or data.get(k2) or ...
            answer = None
            for key in keys:
                answer = data.get(key)
                if answer:
                    break
        if answer is not None:
            return str(answer).strip()
    found = _first(patterns, response, re.IGNORECASE)
    if found is not None:
        return found.strip()
    matches = _SMILES_LIKE.findall(response)
    if matches:
        return max(matches, key=len)
    return _Fallback(response.strip())


def parse_mol_edit(response: str) -> Any:
    return _parse_smiles(
        response,
        ("output", "answer"),
        (r'"output"\s*:\s*"([^"]*)"', r'"answer"\s*:\s*"([^"]*)"'),
    )


def parse_mol_opt(response: str) -> Any:
    return _parse_smiles(
        response,
        ("Final Target Molecule", "Final_Target_Molecule", "output", "answer"),
        (
            r'"Final Target Molecule"\s*:\s*"([^"]*)"',
            r'"Final_Target_Molecule"\s*:\s*"([^"]*)"',
            r'"output"\s*:\s*"([^"]*)"',
            r'"answer"\s*:\s*"([^"]*)"',
        ),
    )


_REACTION_KEYS = {
    "fs": ("Major Product", "output", "answer"),
    "retro": ("Reactants", "output", "answer"),
    "rcr": ("condition", "answer"),
    "nepp": ("output", "answer"),
}


def parse_reaction(response: str, subtask: str) -> Any:
    """``_extract_answer_from_response`` of chemcotbench_reaction.py. A JSON object answers
    for fs/retro/rcr/nepp even without the key (the value is then None)."""
    if not response:
        return None
    response, data = _prepare(response)
    if isinstance(data, dict):
        if subtask == "mechsel":
            choice = data.get("choice", data.get("answer"))
            if choice:
                return str(choice).strip().upper()
        else:
            keys = _REACTION_KEYS.get(subtask, ("answer", "output"))
            value = data.get(keys[-1])
            for key in reversed(keys[:-1]):
                value = data.get(key, value)
            return value
    if subtask == "mechsel":
        found = _first([r'"choice"\s*:\s*"([A-Z])"', r'"answer"\s*:\s*"([A-Z])"'], response)
        if found is not None:
            return found.upper()
        match = re.search(r"\b([A-Z])\b", response)
        if match:
            return match.group(1)
    elif subtask in ("fs", "retro"):
        first = "Major Product" if subtask == "fs" else "Reactants"
        found = _first(
            [
                rf'"{first}"\s*:\s*"([^"]*)"',
                r'"output"\s*:\s*"([^"]*)"',
                r'"answer"\s*:\s*"([^"]*)"',
            ],
            response,
            re.IGNORECASE,
        )
        if found is not None:
            return found.strip()
    return _Fallback(response.strip())


def _shown(value: Any) -> Any:
    """What a judgement reports as extracted: None when the parser found nothing."""
    return None if value is None or isinstance(value, _Fallback) else value


# ----------------------------------------------------------------------------- chemistry


def _mol(smiles: Any) -> Any:
    """``Chem.MolFromSmiles`` (None for a non-string or an unparsable SMILES)."""
    if not isinstance(smiles, str):
        return None
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        return Chem.MolFromSmiles(smiles)
    except Exception:  # the fork treats any RDKit failure as invalid
        return None


def is_valid_smiles(smiles: Any) -> bool:
    """The fork's ``_is_valid_smiles``: non-empty and parsed by RDKit."""
    return bool(smiles) and _mol(smiles) is not None


def morgan_tanimoto(left: str, right: str, n_bits: int) -> float:
    """Tanimoto similarity of radius-2 Morgan bit vectors (0 when either does not parse)."""
    mol1, mol2 = _mol(left), _mol(right)
    if mol1 is None or mol2 is None:
        return 0.0
    from rdkit import DataStructs
    from rdkit.Chem import AllChem

    fp1 = AllChem.GetMorganFingerprintAsBitVect(mol1, 2, nBits=n_bits)
    fp2 = AllChem.GetMorganFingerprintAsBitVect(mol2, 2, nBits=n_bits)
    return float(DataStructs.TanimotoSimilarity(fp1, fp2))


GROUP_TO_SMARTS: Mapping[str, str] = {
    "benzene": "[cR1]1[cR1][cR1][cR1][cR1][cR1]1",
    "benzene_ring": "[cR1]1[cR1][cR1][cR1][cR1][cR1]1",
    "hydroxyl": "[OX2H]",
    "aldehyde": "[CX3H1](=O)[#6]",
    "ketone": "[#6][CX3](=O)[#6]",
    "carboxyl": "[CX3](=O)[OX2H1]",
    "ester": "[#6][CX3](=O)[OX2H0][#6]",
    "anhydride": "[CX3](=[OX1])[OX2][CX3](=[OX1])",
    "amine": "[NX3;H2,H1;!$(NC=O)]",
    "amide": "[NX3][CX3](=[OX1])[#6]",
    "nitro": "[$([NX3](=O)=O),$([NX3+](=O)[O-])][!#8]",
    "halo": "[F,Cl,Br,I]",
    "thiol": "[#16X2H]",
    "thioether": "[SX2][CX4]",
    "disulfide": "[#16X2H0][#16X2H0]",
    "sulfoxide": "[$([#16X3]=[OX1]),$([#16X3+][OX1-])]",
    "sulfone": "[$([#16X4](=[OX1])=[OX1]),$([#16X4+2]([OX1-])[OX1-])]",
    "sulfide": "[#16X2H0]",
    "nitrile": "[NX1]#[CX2]",
    "borane": "[BX3]",
}
"""The fork's functional-group SMARTS (``GROUP_TO_SMARTS`` of chemcotbench_mol_edit.py); a
group name outside it makes the edit incorrect, as there."""


def count_group(smiles: str, group: str) -> int | None:
    """``_count_functional_group``: substructure matches (sulfide minus disulfides)."""
    if group not in GROUP_TO_SMARTS:
        return None
    mol = _mol(smiles)
    if mol is None:
        return None
    from rdkit import Chem

    try:
        count = len(mol.GetSubstructMatches(Chem.MolFromSmarts(GROUP_TO_SMARTS[group])))
        if group == "sulfide":
            disulfide = Chem.MolFromSmarts("[#16X2H0][#16X2H0]")
            count -= len(mol.GetSubstructMatches(disulfide))
    except Exception:  # as the fork: any failure is no count
        return None
    return count


def edit_is_correct(source: str, target: str, added: str | None, removed: str | None) -> bool:
    """``_check_edit_add_valid`` / ``_del_valid`` / ``_sub_valid``: both SMILES valid, the
    added group's count one higher, the removed group's one lower."""
    groups = [g for g in (added, removed) if g]
    if not groups or any(g not in GROUP_TO_SMARTS for g in groups):
        return False
    if not is_valid_smiles(source) or not is_valid_smiles(target):
        return False
    for group, delta in ((added, 1), (removed, -1)):
        if not group:
            continue
        before, after = count_group(source, group), count_group(target, group)
        if before is None or after is None or after != before + delta:
            return False
    return True


_Descriptor = namedtuple("_Descriptor", "mw logp rotors ap")

ESOL_INTERCEPT = 0.26121066137801696
ESOL_COEF = {
    "mw": -0.0066138847738667125,
    "logp": -0.7416739523408995,
    "rotors": 0.003451545565957996,
    "ap": -0.42624840441316975,
}
"""The fork's ESOL refit (``ESOLCalculator.calc_esol`` of chemcotbench_mol_opt.py)."""


def esol(smiles: str) -> float | None:
    """ESOL log-solubility with the fork's coefficients; aromatic proportion = aromatic atoms
    (SMARTS ``a``) over all atoms of the molecule."""
    mol = _mol(smiles)
    if mol is None:
        return None
    from rdkit import Chem
    from rdkit.Chem import Crippen, Descriptors, Lipinski

    atoms = mol.GetNumAtoms()
    aromatic = len(mol.GetSubstructMatches(Chem.MolFromSmarts("a")))
    desc = _Descriptor(
        mw=Descriptors.MolWt(mol),
        logp=Crippen.MolLogP(mol),
        rotors=Lipinski.NumRotatableBonds(mol),
        ap=aromatic / atoms if atoms > 0 else 0,
    )
    return (
        ESOL_INTERCEPT
        + ESOL_COEF["logp"] * desc.logp
        + ESOL_COEF["mw"] * desc.mw
        + ESOL_COEF["rotors"] * desc.rotors
        + ESOL_COEF["ap"] * desc.ap
    )


def _rdkit_property(name: str) -> Callable[[str], float | None]:
    def oracle(smiles: str) -> float | None:
        mol = _mol(smiles)
        if mol is None:
            return None
        from rdkit.Chem import Descriptors

        return float(Descriptors.MolLogP(mol) if name == "logp" else Descriptors.qed(mol))

    return oracle


def property_oracle(name: str) -> Callable[[str], float | None]:
    """The fork's ``PropertyOracle`` in the environment it runs in: logp and qed by RDKit
    (``Descriptors.MolLogP``/``qed``), solubility by ESOL, and the protein targets by the
    trained TDC models through :func:`fteval.oracles.score`."""
    if name in ("logp", "qed"):
        return _rdkit_property(name)
    if name == "solubility":
        return esol
    if name in ORACLE_PROPERTIES:
        directory = os.environ.get(ORACLE_DIR_ENV)
        if not directory:
            raise UnsupportedPropertyError(
                f"property {name!r} needs the activity oracle models: set {ORACLE_DIR_ENV}"
            )
        try:
            from fteval import oracles
        except ImportError as exc:
            raise UnsupportedPropertyError(f"no activity oracle for {name!r}: {exc}") from exc

        def oracle(smiles: str) -> float | None:
            # No models_dir: fteval.oracles reads the folder from $FT_ORACLE_DIR itself.
            return float(oracles.score(name, smiles))

        return oracle
    raise UnsupportedPropertyError(f"unknown mol_opt property {name!r}")


def exact_match_inchi(left: Any, right: str) -> bool:
    """``_exact_match_smiles``: equal InChI strings of two parsed molecules."""
    mol1, mol2 = _mol(left), _mol(right)
    if mol1 is None or mol2 is None:
        return False
    from rdkit import Chem

    try:
        return bool(Chem.MolToInchi(mol1) == Chem.MolToInchi(mol2))
    except Exception:  # as the fork: no match
        return False


def canonical_smiles(smiles: Any) -> str | None:
    """``_convert_to_canonical_smiles``: non-isomeric canonical SMILES, None if invalid."""
    if not smiles:
        return None
    mol = _mol(smiles)
    if mol is None:
        return None
    from rdkit import Chem

    return Chem.MolToSmiles(mol, isomericSmiles=False, canonical=True)


# ----------------------------------------------------------------------------- adapters


def _subtask(item: EvalItem) -> str:
    subtask = item.extra.get("subtask")
    if not isinstance(subtask, str) or not subtask:
        raise ValueError(f"item {item.index}: needs the subtask as extra field 'subtask'")
    return subtask


def _extra_text(item: EvalItem, name: str) -> str:
    value = item.extra.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"item {item.index}: needs extra field {name!r}")
    return value


def _lcm(values: Sequence[int]) -> int:
    result = 1
    for value in values:
        result = result * value // math.gcd(result, value)
    return result


def reweigh(judgements: Sequence[Judgement], counted: Sequence[str]) -> list[Judgement]:
    """Weights that make the weighted mean of the scores the mean over the ``counted``
    subtasks of each subtask's mean: ``L / n_k`` for an item of subtask k (L the least common
    multiple of the n_k, so the weights are whole numbers when they fit the results encoding,
    else ``N / (K n_k)``); items of other subtasks weigh 0."""
    sizes: dict[str, int] = {}
    for j in judgements:
        subtask = getattr(j, "subtask", "")
        if subtask in counted:
            sizes[subtask] = sizes.get(subtask, 0) + 1
    if not sizes:
        return [replace(j, weight=0.0) for j in judgements]
    scale = float(_lcm(list(sizes.values())))
    if scale / min(sizes.values()) > MAX_WEIGHT:
        scale = sum(sizes.values()) / len(sizes)
    return [
        replace(j, weight=scale / sizes[s] if (s := getattr(j, "subtask", "")) in sizes else 0.0)
        for j in judgements
    ]


def _by_subtask(judgements: Sequence[Judgement]) -> dict[str, list[ChemJudgement]]:
    groups: dict[str, list[ChemJudgement]] = {}
    for j in judgements:
        if isinstance(j, ChemJudgement):
            groups.setdefault(j.subtask, []).append(j)
    return groups


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class ChemCoTAdapter(Adapter):
    """Shared aggregation: the core metric is the mean over :attr:`counted` subtasks."""

    counted: tuple[str, ...] = ()

    def reweigh(self, judgements: Sequence[Judgement]) -> list[Judgement]:
        return reweigh(judgements, self.counted)

    def aggregate(self, judgements: Sequence[Judgement]) -> dict[str, float]:
        core = 100.0 * weighted_mean(self.reweigh(judgements))
        return {self.metric.value: core, **self.secondary(_by_subtask(judgements))}

    def secondary(self, groups: Mapping[str, list[ChemJudgement]]) -> dict[str, float]:
        return {}


def _judgement(subtask: str, ok: bool, extracted: Any, value: float | None = None, **kw: Any):
    return ChemJudgement(
        score=1.0 if ok else 0.0,
        correct=ok,
        extracted=_shown(extracted),
        subtask=subtask,
        value=(1.0 if ok else 0.0) if value is None else value,
        **kw,
    )


@dataclass(frozen=True)
class MoleculeUnderstandingAdapter(ChemCoTAdapter):
    """ChemCoTBenchMolUndEvaluator: MAE for counts, Tanimoto for Murcko scaffolds, Yes/No
    accuracy for ring-system scaffolds and equivalence."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        subtask = _subtask(item)
        value = parse_mol_und(prediction, subtask)
        if subtask in ("fg_count", "ring_count"):
            gold = int(item.answer)
            try:
                error = abs((int(value) if value else 0) - gold)
            except (ValueError, TypeError):
                error = abs(gold)  # an unreadable count counts as 0
            return _judgement(subtask, error == 0, value, float(error))
        if subtask == "Murcko_scaffold":
            similarity = morgan_tanimoto(value, item.answer, 1024) if value and item.answer else 0.0
            ok = similarity == 1.0
            return _judgement(subtask, ok, value, similarity)
        ok = str(value).lower() == str(item.answer).lower()
        return _judgement(subtask, ok, value)

    def secondary(self, groups: Mapping[str, list[ChemJudgement]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for subtask, js in groups.items():
            if subtask in ("fg_count", "ring_count"):
                out[f"{subtask}_mae"] = _mean([j.value for j in js])
            elif subtask == "Murcko_scaffold":
                key = f"{subtask}_tanimoto_similarity_larger_means_better"
                out[key] = _mean([j.value for j in js])  # 0-1, as the fork reports it
            else:
                out[f"{subtask}_accuracy"] = 100.0 * _mean([j.score for j in js])
        return out


@dataclass(frozen=True)
class MoleculeEditAdapter(ChemCoTAdapter):
    """ChemCoTBenchMolEditEvaluator: a valid SMILES whose group counts changed as asked."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        subtask = _subtask(item)
        source = _extra_text(item, "source")
        added = item.extra.get("added_group") if subtask in ("add", "sub") else None
        removed = item.extra.get("removed_group") if subtask in ("delete", "sub") else None
        if not (added or removed):
            raise ValueError(f"item {item.index}: needs added_group/removed_group extras")
        value = parse_mol_edit(prediction)
        valid = is_valid_smiles(value) if value else False
        ok = bool(value) and edit_is_correct(source, value, added, removed)
        similarity = morgan_tanimoto(value, item.answer, 2048) if value and item.answer else 0.0
        return _judgement(subtask, ok, value, similarity, valid=valid)

    def secondary(self, groups: Mapping[str, list[ChemJudgement]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for subtask, js in groups.items():
            out[f"{subtask}_correct_rate"] = 100.0 * _mean([j.score for j in js])
            out[f"{subtask}_valid_rate"] = 100.0 * _mean([float(j.valid) for j in js])
            out[f"{subtask}_tanimoto_similarity"] = 100.0 * _mean([j.value for j in js])
        return out


BEST_THRESHOLD = {"gsk3b": 0.3, "qed": 0.3, "drd2": 0.3, "jnk3": 0.3, "logp": 0.5}
"""The fork's ``threshold_dict`` for best_rate (0.5 for any other property)."""


@dataclass(frozen=True)
class MoleculeOptimisationAdapter(ChemCoTAdapter):
    """ChemCoTBenchMolOptEvaluator: success = a valid SMILES whose oracle value exceeds the
    source molecule's."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        subtask = _subtask(item)
        source = _extra_text(item, "source")
        oracle = property_oracle(_extra_text(item, "property"))  # raises before any scoring
        value = parse_mol_opt(prediction)
        valid = is_valid_smiles(value) if value else False
        improvement: float | None = None
        if valid and is_valid_smiles(source):
            before, after = oracle(source), oracle(value)
            if before is not None and after is not None:
                improvement = after - before
        ok = valid and improvement is not None and improvement > 0
        return _judgement(subtask, ok, value, improvement or 0.0, valid=valid)

    def secondary(self, groups: Mapping[str, list[ChemJudgement]]) -> dict[str, float]:
        import numpy as np

        from ftapi.evalsets.chemcot import PROPERTY_OF_SUBTASK

        out: dict[str, float] = {}
        for subtask, js in groups.items():
            numbers = np.array([j.value for j in js])  # invalid answers count 0, as padded
            lower, upper = np.percentile(numbers, 5), np.percentile(numbers, 95)
            threshold = BEST_THRESHOLD.get(PROPERTY_OF_SUBTASK.get(subtask, subtask), 0.5)
            out[f"{subtask}_success_rate"] = 100.0 * _mean([j.score for j in js])
            out[f"{subtask}_best_rate"] = 100.0 * _mean([float(v >= threshold) for v in numbers])
            out[f"{subtask}_mean_improvement"] = float(np.mean(np.clip(numbers, lower, upper)))
            out[f"{subtask}_valid_smiles_rate"] = 100.0 * _mean([float(j.valid) for j in js])
        return out


@dataclass(frozen=True)
class ReactionAdapter(ChemCoTAdapter):
    """ChemCoTBenchReactionEvaluator: InChI exact match (fs, retro, nepp), lower-cased text
    match (rcr), first capital letter (mechsel)."""

    def judge(self, prediction: str, item: EvalItem) -> Judgement:
        subtask = _subtask(item)
        gold = item.answer
        value = parse_reaction(prediction, subtask)
        if subtask == "mechsel":
            predicted = ""
            if value:
                match = re.search(r"[A-Z]", str(value).upper().strip())
                predicted = match.group() if match else ""
            reference = str(gold).upper().strip()
            match = re.search(r"[A-Z]", reference)
            reference = match.group() if match else reference
            return _judgement(subtask, predicted == reference, value)
        if subtask == "rcr":
            predicted = str(value).lower().strip() if value else ""
            return _judgement(subtask, predicted == str(gold).lower().strip(), value)
        ok = bool(value) and bool(gold) and exact_match_inchi(value, gold)
        valid = canonical_smiles(value) is not None
        return _judgement(subtask, ok, value, valid=valid)

    def secondary(self, groups: Mapping[str, list[ChemJudgement]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for subtask, js in groups.items():
            name = "accuracy" if subtask == "mechsel" else "exact_match"
            out[f"{subtask}_{name}"] = 100.0 * _mean([j.score for j in js])
            if subtask in ("fs", "retro", "nepp"):
                out[f"{subtask}_validity"] = 100.0 * _mean([float(j.valid) for j in js])
        return out


_F = AnswerFormat
_M = Metric

ADAPTERS: Mapping[str, Adapter] = {
    "chemcotbench_mol_und": MoleculeUnderstandingAdapter(
        _F.json_output, _M.accuracy, counted=("equivalence",)
    ),
    "chemcotbench_mol_edit": MoleculeEditAdapter(
        _F.json_output, _M.correct_rate, counted=("add", "delete", "sub")
    ),
    "chemcotbench_mol_opt": MoleculeOptimisationAdapter(
        _F.json_output,
        _M.success_rate,
        counted=("drd", "gsk", "jnk", "logp", "qed", "solubility"),
    ),
    "chemcotbench_reaction": ReactionAdapter(
        _F.json_output, _M.exact_match, counted=("fs", "retro", "rcr", "nepp", "mechsel")
    ),
}
