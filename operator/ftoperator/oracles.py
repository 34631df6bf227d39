"""Property-oracle model files for ChemCoTBench molecule optimisation (prepare side).

``chemcotbench_mol_opt`` scores a candidate molecule by whether a property oracle rates it above
the source molecule. For the protein targets (subtasks ``drd``, ``jnk``, ``gsk``) the fork's
evaluator asks PyTDC for ``Oracle(name='drd2' | 'jnk3' | 'gsk3b')``; PyTDC (1.1.15,
``tdc/oracles.py``) maps these to the pickled scikit-learn classifiers ``drd2_current.pkl``,
``jnk3_current.pkl`` and ``gsk3b_current.pkl`` (scikit-learn >= 0.24) and downloads them from
Harvard Dataverse by file id (``tdc/metadata.py`` ``oracle2id``; ``tdc/utils/load.py``
``oracle_download_wrapper``). Evaluation pods run offline, so the prepare step fetches them once
into the model cache, ``<models>/oracles/``, where :mod:`fteval.oracles` reads them.

Downloads resume from a ``.part`` file (HTTP Range), are checked for completeness (length
announced by the server; a whole pickle stream of a fitted scikit-learn estimator, inspected
with :mod:`pickletools` without running it) and are renamed into place atomically. A file that
cannot be obtained raises :class:`OracleUnavailable`, whose message names the file, the URL tried
and how to provide it; the campaign then fails at prepare, never after training.

``FT_ORACLE_BASE_URL`` (or ``base_url``) replaces Dataverse with a mirror that serves
``<base>/<file name>``, e.g. ``<base>/drd2_current.pkl``.
"""

from __future__ import annotations

import http.client
import io
import os
import pickletools
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ftapi.steps import ORACLE_SUBDIR

BASE_URL_ENV = "FT_ORACLE_BASE_URL"
DATAVERSE_URL = "https://dataverse.harvard.edu/api/access/datafile/{id}"

# TDC oracle name -> the file PyTDC loads for it with scikit-learn >= 0.24 (tdc/oracles.py
# appends "_current"; tdc/chem_utils/oracle/oracle.py opens "oracle/<name>_current.pkl").
ORACLE_FILES: dict[str, str] = {
    "drd2": "drd2_current.pkl",
    "jnk3": "jnk3_current.pkl",
    "gsk3b": "gsk3b_current.pkl",
}
# Harvard Dataverse file ids, PyTDC 1.1.15 tdc/metadata.py oracle2id.
DATAVERSE_IDS: dict[str, int] = {
    "drd2_current.pkl": 6413411,
    "jnk3_current.pkl": 6413420,
    "gsk3b_current.pkl": 6413412,
}
# Benchmark key -> the TDC oracles its scorer needs (the fork's PROP_NAME_MAP: drd -> drd2,
# jnk -> jnk3, gsk -> gsk3b; logp, qed and solubility are computed with RDKit).
BENCHMARK_ORACLES: dict[str, tuple[str, ...]] = {
    "chemcotbench_mol_opt": ("drd2", "jnk3", "gsk3b"),
}

ATTEMPTS = 3
TIMEOUT_S = 60.0
_CHUNK = 1 << 20
# scikit-learn 1.3 added ``missing_go_to_left`` to the decision-tree node array; tree models
# pickled by an earlier version raise "node array from the pickle has an incompatible dtype"
# when the evaluator's scikit-learn (constraints.txt: 1.5.0) reads them.
_TREE_FORMAT_SINCE = (1, 3)


class _CutOff(OSError):
    """The body ended before the announced length: resumable."""


class OracleUnavailable(RuntimeError):
    """An oracle file could not be obtained or is not usable. ``unreachable`` is True when no
    server answered (a network problem rather than a missing or bad file)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class PickleFacts:
    """What a pickle stream says about itself, read without executing it."""

    modules: frozenset[str]
    fitted: bool
    sklearn_version: str | None


def oracle_dir(models_dir: Path) -> Path:
    return Path(models_dir) / ORACLE_SUBDIR


def required_files(benchmark_key: str) -> list[str]:
    return [ORACLE_FILES[name] for name in BENCHMARK_ORACLES.get(benchmark_key, ())]


def source_url(file_name: str, base_url: str | None = None) -> str:
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or None
    if base:
        return base.rstrip("/") + "/" + file_name
    return DATAVERSE_URL.format(id=DATAVERSE_IDS[file_name])


def inspect_pickle(data: bytes) -> PickleFacts:
    """Walk the opcodes of a pickle (nothing is imported or run). Raises ValueError when the
    stream is not one whole pickle (truncated, an HTML error page, trailing bytes)."""
    stream = io.BytesIO(data)
    strings: list[str] = []
    modules: set[str] = set()
    stopped = False
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            if opcode.name == "STOP":
                stopped = True
            elif opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                modules.add(arg.split(" ", 1)[0])
            elif isinstance(arg, str):
                strings.append(arg)
                if opcode.name.endswith("UNICODE") and arg.startswith("sklearn."):
                    modules.add(arg)
    except Exception as exc:  # pickletools raises ValueError for bad or truncated streams
        raise ValueError(f"not a complete pickle ({exc})") from exc
    if not stopped:
        raise ValueError("not a complete pickle (no STOP opcode)")
    if stream.tell() != len(data):
        raise ValueError(f"{len(data) - stream.tell()} bytes follow the end of the pickle")
    version = None
    if "_sklearn_version" in strings:
        after = strings[strings.index("_sklearn_version") + 1 :]
        version = after[0] if after else None
    return PickleFacts(frozenset(modules), "classes_" in strings, version)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_oracle_file(data: bytes) -> PickleFacts:
    """Raise ValueError when ``data`` is not a usable oracle model for the evaluator."""
    facts = inspect_pickle(data)
    if not any(m == "sklearn" or m.startswith("sklearn.") for m in facts.modules):
        raise ValueError("the pickle holds no scikit-learn estimator")
    if not facts.fitted:
        raise ValueError("the pickled estimator is not fitted (it has no classes_)")
    trees = any(m.startswith("sklearn.tree") for m in facts.modules)
    if (
        trees
        and facts.sklearn_version is not None
        and _version_tuple(facts.sklearn_version) < _TREE_FORMAT_SINCE
    ):
        raise ValueError(
            f"it holds decision trees pickled by scikit-learn {facts.sklearn_version}; "
            "scikit-learn >= 1.3 (the evaluator's) cannot read tree node arrays written before "
            "1.3: re-pickle the same model with the evaluator's scikit-learn"
        )
    return facts


def _how_to_provide(file_name: str, folder: Path) -> str:
    return (
        f"Provide it: copy {file_name} into {folder}/ (the model cache's {ORACLE_SUBDIR}/ "
        f"folder), or set {BASE_URL_ENV} to a mirror that serves <base>/{file_name}."
    )


def _download(url: str, part: Path) -> None:
    """Fetch ``url`` into ``part``, resuming what is there. Raises HTTPError, URLError or
    OSError (``_CutOff`` when the body is shorter than announced, to be resumed), or ValueError
    when it is longer."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ft-agent-operator"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the range starts at the end: the part may be whole
            exc.close()
            return
        raise
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        announced = response.headers.get("Content-Length")
        expected = have + int(announced) if announced is not None else None
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        if resumed and total.isdigit():
            expected = int(total)
        with part.open("ab" if resumed else "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
    size = part.stat().st_size
    if expected is not None and size < expected:
        raise _CutOff(f"received {size} of {expected} bytes")
    if expected is not None and size > expected:
        raise ValueError(f"received {size} bytes, the server announced {expected}")


def _fetch_one(name: str, file_name: str, folder: Path, url: str) -> None:
    target = folder / file_name
    part = folder / (file_name + ".part")
    last: BaseException | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.5 * attempt)
        try:
            _download(url, part)
            check_oracle_file(part.read_bytes())
        except urllib.error.HTTPError as exc:
            exc.close()
            part.unlink(missing_ok=True)
            raise OracleUnavailable(
                f"oracle file {file_name} (TDC oracle {name!r}) is missing: {url} answered "
                f"HTTP {exc.code} {exc.reason}. " + _how_to_provide(file_name, folder)
            ) from exc
        except ValueError as exc:  # a whole answer that is not the model: do not resume it
            part.unlink(missing_ok=True)
            raise OracleUnavailable(
                f"oracle file {file_name} (TDC oracle {name!r}) downloaded from {url} is not "
                f"usable: {exc}. " + _how_to_provide(file_name, folder)
            ) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # unreachable, or cut off (the .part is kept and resumed): try again
            last = exc
            continue
        os.replace(part, target)
        return
    reason = getattr(last, "reason", None) or last
    raise OracleUnavailable(
        f"oracle file {file_name} (TDC oracle {name!r}) is missing: {url} could not be reached "
        f"after {ATTEMPTS} attempts ({type(last).__name__}: {reason}). "
        + _how_to_provide(file_name, folder),
        unreachable=True,
    ) from last


def fetch_oracles(benchmark_key: str, models_dir: Path, base_url: str | None = None) -> list[str]:
    """Make sure every oracle file ``benchmark_key`` needs is in ``<models_dir>/oracles/``;
    return the names of the files downloaded now (empty when all were there). Files already
    present are checked, never downloaded again. Raises :class:`OracleUnavailable`."""
    files = [(name, ORACLE_FILES[name]) for name in BENCHMARK_ORACLES.get(benchmark_key, ())]
    if not files:
        return []
    folder = oracle_dir(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    downloaded: list[str] = []
    for name, file_name in files:
        target = folder / file_name
        if target.exists():
            try:
                check_oracle_file(target.read_bytes())
            except ValueError as exc:
                raise OracleUnavailable(
                    f"oracle file {target} (TDC oracle {name!r}) is in the model cache but not "
                    f"usable: {exc}. Replace it with a good copy or delete it so that prepare "
                    f"downloads it from {source_url(file_name, base_url)}."
                ) from exc
            continue
        _fetch_one(name, file_name, folder, source_url(file_name, base_url))
        downloaded.append(file_name)
    return downloaded
