"""Chemistry checks for the ChemCoTBench adapters, on RDKit.

SMILES validity and canonical forms, functional-group counts (SMARTS) for molecule editing,
and the properties molecule optimisation may target. Protein-activity oracles (DRD2, JNK3,
GSK3-beta) need trained models that this image does not carry: asking for one raises
:class:`UnsupportedPropertyError`, and the evaluation fails loudly instead of scoring 0.
Called by :mod:`fteval.adapters`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

# Functional groups by the names ChemCoTBench's editing tasks use (lower case, spaces or
# underscores). The SMARTS count each group once.
FUNCTIONAL_GROUPS: dict[str, str] = {
    "hydroxyl": "[OX2H][#6;!$(C=O)]",
    "alcohol": "[OX2H][CX4]",
    "phenol": "[OX2H]c",
    "carboxyl": "[CX3](=O)[OX2H1]",
    "carboxylic acid": "[CX3](=O)[OX2H1]",
    "aldehyde": "[CX3H1](=O)[#6]",
    "ketone": "[#6][CX3](=O)[#6]",
    "ester": "[#6][CX3](=O)[OX2H0][#6]",
    "ether": "[OD2]([#6;!$(C=O)])[#6;!$(C=O)]",
    "amide": "[NX3][CX3](=[OX1])[#6]",
    "amine": "[NX3;H2,H1,H0;!$(NC=O);!$(N=*);!$(N#*);!$(N-[!#6;!#1])]",
    "primary amine": "[NX3;H2;!$(NC=O)]",
    "nitro": "[$([NX3](=O)=O),$([NX3+](=O)[O-])]",
    "nitrile": "[NX1]#[CX2]",
    "cyano": "[NX1]#[CX2]",
    "halo": "[F,Cl,Br,I]",
    "fluoro": "[F]",
    "chloro": "[Cl]",
    "bromo": "[Br]",
    "iodo": "[I]",
    "thiol": "[#16X2H]",
    "sulfonamide": "[SX4](=[OX1])(=[OX1])[NX3]",
    "sulfonyl": "[SX4](=[OX1])(=[OX1])",
    "benzene": "c1ccccc1",
    "benzene ring": "c1ccccc1",
    "methyl": "[CH3]",
    "alkene": "[CX3]=[CX3]",
    "alkyne": "[CX2]#[CX2]",
}

SUPPORTED_PROPERTIES = ("logp", "qed", "solubility")
ORACLE_PROPERTIES = ("drd2", "jnk3", "gsk3b", "gsk3-beta", "gsk3")


class UnsupportedPropertyError(ValueError):
    """A property (or functional group) this image cannot compute."""


def mol_from_smiles(smiles: Any) -> Any | None:
    """An RDKit molecule, or None when ``smiles`` is not a valid SMILES string."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem.MolFromSmiles(smiles.strip())


def is_valid_smiles(smiles: Any) -> bool:
    return mol_from_smiles(smiles) is not None


@lru_cache(maxsize=4096)
def canonical_smiles(smiles: str) -> str | None:
    """RDKit's canonical SMILES, or None when invalid."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    from rdkit import Chem

    return Chem.MolToSmiles(mol)


def same_molecule(left: Any, right: Any) -> bool:
    """True when both are valid SMILES of the same molecule."""
    if not isinstance(left, str) or not isinstance(right, str):
        return False
    a, b = canonical_smiles(left), canonical_smiles(right)
    return a is not None and a == b


def _group_key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def count_group(smiles: str, group: str) -> int:
    """How often the named functional group occurs in the molecule."""
    key = _group_key(group)
    if key.endswith(" group"):
        key = key.removesuffix(" group")
    pattern = FUNCTIONAL_GROUPS.get(key)
    if pattern is None:
        raise UnsupportedPropertyError(f"unknown functional group {group!r}")
    mol = mol_from_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    from rdkit import Chem

    return len(mol.GetSubstructMatches(Chem.MolFromSmarts(pattern)))


def molecular_property(smiles: str, name: str) -> float:
    """LogP (Crippen), QED, or ESOL solubility (log mol/L, Delaney's equation)."""
    key = name.lower().replace("_", "").replace(" ", "")
    if key in ORACLE_PROPERTIES:
        raise UnsupportedPropertyError(
            f"property {name!r} needs a trained activity oracle, which this image lacks"
        )
    mol = mol_from_smiles(smiles)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles!r}")
    from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

    if key == "logp":
        return float(Crippen.MolLogP(mol))
    if key == "qed":
        return float(QED.qed(mol))
    if key in ("solubility", "esol", "logs"):
        heavy = mol.GetNumHeavyAtoms()
        aromatic = sum(atom.GetIsAromatic() for atom in mol.GetAtoms())
        proportion = aromatic / heavy if heavy else 0.0
        return float(
            0.16
            - 0.63 * Crippen.MolLogP(mol)
            - 0.0062 * Descriptors.MolWt(mol)
            + 0.066 * rdMolDescriptors.CalcNumRotatableBonds(mol)
            - 0.74 * proportion
        )
    raise UnsupportedPropertyError(
        f"unknown property {name!r}; supported: {', '.join(SUPPORTED_PROPERTIES)}"
    )


def improves(source: str, candidate: str, name: str, direction: str = "increase") -> bool:
    """True when ``candidate`` is valid and moves the property the wanted way."""
    before = molecular_property(source, name)  # raises first for an unsupported property
    if mol_from_smiles(candidate) is None:
        return False
    after = molecular_property(candidate, name)
    if math.isnan(after):
        return False
    return after < before if direction.lower().startswith("dec") else after > before
