"""Protein-activity oracles (DRD2, JNK3, GSK3-beta) for ChemCoTBench molecule optimisation.

The fork's ``ChemCoTBenchMolOptEvaluator`` scores these subtasks with PyTDC's
``Oracle(name='drd2' | 'jnk3' | 'gsk3b')``. PyTDC itself cannot be installed next to this image's
pinned stack (its requirements pin rdkit < 2024.3.1, transformers < 4.51, datasets < 2.20 and
accelerate 0.33) and its oracle module does not import with current RDKit (it imports the
removed ``rdkit.six``). So this module reads the same files the same way PyTDC 1.1.15 does
(``tdc/chem_utils/oracle/oracle.py``):

* the model: ``pickle.load`` of ``<name>_current.pkl`` (a fitted scikit-learn classifier);
* DRD2 features: ``AllChem.GetMorganFingerprint(mol, 3, useCounts=True, useFeatures=True)``,
  counts folded into 2048 int32 columns (index modulo 2048);
* JNK3 / GSK3-beta features: ``AllChem.GetMorganFingerprintAsBitVect(mol, 2, nBits=2048)`` as a
  float64 row;
* the score: ``predict_proba(features)[0, 1]``;
* a SMILES RDKit cannot parse scores 0.0, and so does a molecule whose features or prediction
  fail (``Oracle.__call__`` returns its ``default_property`` 0.0 in both cases). The fork never
  asks the oracle about an invalid SMILES: it counts such an answer as not improved.

Unlike the fork (which sets its oracle to ``None`` on any load error and then scores every item
as not improved), a missing or unreadable model file raises :class:`OracleError`.

The files are put into the model cache by the prepare step (``ftoperator.oracles``); the folder
is ``<models>/oracles`` or, when no folder is given, ``$FT_ORACLE_DIR``.
"""

from __future__ import annotations

import os
import pickle
import threading
import warnings
from pathlib import Path
from typing import Any

from ftapi.steps import ORACLE_DIR_ENV, ORACLE_SUBDIR

FINGERPRINT_SIZE = 2048

# TDC oracle name -> file PyTDC loads with scikit-learn >= 0.24 ("oracle/<name>_current.pkl").
ORACLE_FILES: dict[str, str] = {
    "drd2": "drd2_current.pkl",
    "jnk3": "jnk3_current.pkl",
    "gsk3b": "gsk3b_current.pkl",
}
# ChemCoTBench subtask -> TDC oracle name (the fork's PROP_NAME_MAP).
SUBTASK_ORACLES: dict[str, str] = {"drd": "drd2", "jnk": "jnk3", "gsk": "gsk3b"}

_lock = threading.Lock()
_models: dict[Path, Any] = {}


class OracleError(RuntimeError):
    """An oracle model is missing or cannot be used."""


def oracle_name(property_name: str) -> str:
    key = property_name.strip().lower()
    name = SUBTASK_ORACLES.get(key, key)
    if name not in ORACLE_FILES:
        raise OracleError(
            f"no model oracle for property {property_name!r}: "
            f"known are {sorted(ORACLE_FILES)} (subtasks {sorted(SUBTASK_ORACLES)})"
        )
    return name


def oracle_folder(models_dir: Path | None = None) -> Path:
    """``<models_dir>/oracles``; without ``models_dir``, the folder ``$FT_ORACLE_DIR``."""
    if models_dir is not None:
        return Path(models_dir) / ORACLE_SUBDIR
    env = os.environ.get(ORACLE_DIR_ENV)
    if not env:
        raise OracleError(
            f"no oracle folder: pass models_dir or set {ORACLE_DIR_ENV} to the model cache's "
            f"{ORACLE_SUBDIR}/ folder"
        )
    return Path(env)


def _load(path: Path) -> Any:
    if not path.is_file():
        raise OracleError(
            f"oracle model {path} is missing: the prepare step puts it into the model cache "
            f"({ORACLE_SUBDIR}/ folder); run prepare again or copy the file there"
        )
    try:
        with path.open("rb") as handle, warnings.catch_warnings():
            # scikit-learn warns when the pickle came from another version (TDC's do)
            warnings.simplefilter("ignore")
            model = pickle.load(handle)
    except Exception as exc:
        raise OracleError(
            f"oracle model {path} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(getattr(model, "predict_proba", None)):
        raise OracleError(f"oracle model {path} is a {type(model).__name__} with no predict_proba")
    width = getattr(model, "n_features_in_", FINGERPRINT_SIZE)
    if width != FINGERPRINT_SIZE:
        raise OracleError(
            f"oracle model {path} expects {width} features, not {FINGERPRINT_SIZE} fingerprint bits"
        )
    return model


def load_model(name: str, folder: Path) -> Any:
    """The classifier of TDC oracle ``name`` from ``folder``, loaded once per process."""
    path = (Path(folder) / ORACLE_FILES[name]).resolve()
    with _lock:
        model = _models.get(path)
        if model is None:
            model = _models[path] = _load(path)
    return model


def features(name: str, mol: Any) -> Any:
    """The feature row PyTDC builds for oracle ``name`` from an RDKit molecule."""
    import numpy as np
    from rdkit import DataStructs, rdBase
    from rdkit.Chem import AllChem

    with rdBase.BlockLogs():  # the legacy Morgan calls PyTDC uses print deprecation notes
        if name == "drd2":
            counts = AllChem.GetMorganFingerprint(mol, 3, useCounts=True, useFeatures=True)
            row = np.zeros((1, FINGERPRINT_SIZE), np.int32)
            for index, count in counts.GetNonzeroElements().items():
                row[0, index % FINGERPRINT_SIZE] += int(count)
            return row
        bits = AllChem.GetMorganFingerprintAsBitVect(mol, 2, nBits=FINGERPRINT_SIZE)
    array = np.zeros((1,))
    DataStructs.ConvertToNumpyArray(bits, array)
    return array.reshape(1, -1)


def score(property_name: str, smiles: str, models_dir: Path | None = None) -> float:
    """The oracle's probability that ``smiles`` is active on the target of ``property_name``
    (``drd2``/``jnk3``/``gsk3b`` or the subtask names ``drd``/``jnk``/``gsk``); 0.0 for a
    SMILES RDKit cannot parse, as PyTDC's ``Oracle`` returns."""
    name = oracle_name(property_name)
    model = load_model(name, oracle_folder(models_dir))
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return 0.0
    try:
        return float(model.predict_proba(features(name, mol))[0, 1])
    except Exception:  # PyTDC's Oracle.__call__ scores a failing molecule default_property 0.0
        return 0.0
