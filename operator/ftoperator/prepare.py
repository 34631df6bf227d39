"""The prepare step (``python -m ftoperator.prepare``, operator image): download the base
model, the raw training datasets and the benchmark's evaluation set into the caches once,
with huggingface_hub. Anything already in the cache is not downloaded again.

Reads the :class:`~ftapi.steps.StepRequest` from ``FT_STEP_REQUEST`` and writes one
:class:`~ftapi.results.StepResult` to the termination-message file.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ftapi.campaign import Evaluation, EvaluationSetStatus
from ftapi.catalog import get_benchmark, get_dataset
from ftapi.evalsets import (
    EvalRow,
    EvalSet,
    LayoutError,
    SourceRow,
    Splits,
    cut_splits,
    fingerprints,
    get_evalset,
)
from ftapi.jsonlines import JsonLineError, parse_json_lines
from ftapi.leakindex import NGRAM, build_leak_index, words
from ftapi.results import FailureKind, StepResult
from ftapi.steps import (
    DEFAULT_TERMINATION_LOG,
    STEP_REQUEST_ENV,
    TERMINATION_LOG_ENV,
    StepKind,
    StepRequest,
)
from ftapi.workspace import CampaignLayout, is_local_model
from ftoperator.hubretry import http_status, is_transient, with_retries
from ftoperator.oracles import OracleUnavailable, fetch_oracles, required_files

COMPLETE_MARKER = ".ftagent-complete"


def _complete(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).exists()


def _mark(folder: Path) -> None:
    (folder / COMPLETE_MARKER).write_text("ok\n")


def fetch_model(model: str, target: Path, token: str | None) -> bool:
    """True when something was downloaded."""
    if _complete(target) or (is_local_model(model) and (target / "config.json").exists()):
        return False
    if is_local_model(model):
        raise FileNotFoundError(f"base model {model!r} is a path and {target} has no config.json")
    from huggingface_hub import snapshot_download

    snapshot_download(
        repo_id=model,
        local_dir=target,
        token=token,
        allow_patterns=[
            "*.json",
            "*.safetensors",
            "*.model",
            "*.txt",
            "*.py",
            "*.tiktoken",
            "tokenizer*",
        ],
    )
    _mark(target)
    return True


def fetch_dataset(key: str, target: Path, token: str | None) -> bool:
    if _complete(target):
        return False
    from huggingface_hub import snapshot_download

    ds = get_dataset(key)
    snapshot_download(
        repo_id=ds.hf_id,
        repo_type="dataset",
        local_dir=target,
        token=token,
        ignore_patterns=list(ds.exclude_patterns) or None,
    )
    for pattern in ds.exclude_patterns:  # belt and braces: never keep benchmark content
        for path in target.rglob("*"):
            if path.is_file() and fnmatch.fnmatch(path.name, pattern):
                path.unlink()
    _mark(target)
    return True


def read_rows(evalset: EvalSet, folder: Path, files: Sequence[str]) -> list[SourceRow]:
    """Every row of ``files`` (downloaded under ``folder``) in file order, read as upstream's
    loaders read them: parquet through pyarrow (structs as dicts), a JSON array, JSON Lines,
    or CSV (every cell a string; an unnamed first column has the key "")."""
    rows: list[SourceRow] = []
    for name in files:
        path = folder / name
        if not path.is_file():
            raise LayoutError(name, None, f"not in {evalset.repo} (the layout names this file)")
        fmt = evalset.file_format(name)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            records: list[Any] = pq.read_table(path).to_pylist()
        elif fmt == "csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                records = list(csv.DictReader(handle))
        elif fmt == "jsonl":
            try:
                records = [row for _, row in parse_json_lines(path.read_text(encoding="utf-8"))]
            except JsonLineError as exc:
                raise LayoutError(name, exc.number, f"not JSON ({exc.msg})") from exc
        else:
            try:
                records = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise LayoutError(name, None, f"not JSON ({exc.msg})") from exc
            if not isinstance(records, list):
                raise LayoutError(name, None, "is not a JSON array of rows")
        for position, record in enumerate(records):
            if not isinstance(record, dict):
                raise LayoutError(name, position, "is not an object")
            rows.append(SourceRow(file=name, position=position, row=record))
    return rows


def _write_jsonl(path: Path, rows: Sequence[EvalRow]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(row.model_dump_json() + "\n" for row in rows), encoding="utf-8")
    tmp.replace(path)


def _write_json(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_evaluation_set(path: Path) -> list[EvalRow] | None:
    """The items of a prepared ``eval.jsonl``; None when it is missing or was written by an
    operator version without item ids (it is then prepared again)."""
    if not path.is_file():
        return None
    try:
        return [
            EvalRow.model_validate(row)
            for _, row in parse_json_lines(path.read_text(encoding="utf-8"))
        ]
    except (JsonLineError, ValidationError):
        return None


def _download(evalset: EvalSet, files: Sequence[str], folder: Path, token: str | None) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(
        repo_id=evalset.repo,
        repo_type="dataset",
        local_dir=folder,
        token=token,
        allow_patterns=list(files),
    )


def write_evaluation_set(
    layout: CampaignLayout,
    evalset: EvalSet,
    items: Sequence[EvalRow],
    validation_limit: int,
    test_limit: int,
) -> Splits:
    """The split ids with their hash for these limits, and the exclusion fingerprints, next to
    an evaluation set already written; returns the splits."""
    splits = cut_splits(evalset, items, validation_limit, test_limit)
    target = layout.splits_file(evalset.benchmark, validation_limit, test_limit)
    text = splits.model_dump_json(indent=1)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        _write_json(target, text)
    exclusion = json.dumps(
        {"benchmark": evalset.benchmark, "fingerprints": fingerprints(items)}, indent=0
    )
    _write_json(layout.exclusion_file(evalset.benchmark), exclusion)
    scored = {*splits.validation, *splits.test}
    index = build_leak_index(
        evalset.benchmark,
        (text for item in items if item.id in scored for text in leak_texts(item)),
    )
    _write_json(
        layout.leak_index_file(evalset.benchmark, validation_limit, test_limit),
        index.model_dump_json(),
    )
    return splits


def leak_texts(item: EvalRow) -> list[str]:
    """What identifies a scored item in training data: its identifying texts (``keys``: the
    question core, without the instructions and templates many items share; the rendered
    question when none is long enough to be recognised), and its gold answer when that is a
    text of its own (a long answer, not "B" or "42")."""
    texts = [key for key in item.keys if len(words(key)) >= NGRAM] or [item.question]
    if len(words(item.answer)) >= NGRAM:
        texts.append(item.answer)
    return texts


def install_evaluation_set(
    layout: CampaignLayout,
    benchmark: str,
    items: Sequence[EvalRow],
    validation_limit: int = 100,
    test_limit: int = 100,
) -> Splits:
    """Write ``items`` as the benchmark's evaluation set with its splits and fingerprints, as
    prepare would from upstream files (the demo's and the tests' own benchmarks)."""
    _write_jsonl(layout.benchmark_file(benchmark), items)
    return write_evaluation_set(layout, get_evalset(benchmark), items, validation_limit, test_limit)


def fetch_benchmark(
    key: str, layout: CampaignLayout, evaluation: Evaluation, token: str | None
) -> tuple[bool, Splits]:
    """The evaluation set exactly as its upstream layout declares (``ftapi.evalsets``): the
    named files only, built into items, cut into the campaign's splits. A prepared set is
    kept; each file is written whole (renamed into place). Returns (downloaded, splits)."""
    evalset = get_evalset(key)
    target, shots = layout.benchmark_file(key), layout.shots_file(key)
    folder = target.parent
    downloaded = False
    items = read_evaluation_set(target)
    if items is None:
        _download(evalset, evalset.files, folder / "raw", token)
        items = evalset.build(read_rows(evalset, folder / "raw", evalset.files))
        if not items:
            raise LayoutError(", ".join(evalset.files), None, "no evaluation items")
        _write_jsonl(target, items)
        downloaded = True
    if evalset.shots_files and read_evaluation_set(shots) is None:
        _download(evalset, evalset.shots_files, folder / "raw-shots", token)
        rows = read_rows(evalset, folder / "raw-shots", evalset.shots_files)
        _write_jsonl(shots, evalset.build_shots(rows))
        downloaded = True
    splits = write_evaluation_set(
        layout, evalset, items, evaluation.validation_limit, evaluation.test_limit
    )
    return downloaded, splits


def root_cause(exc: BaseException) -> BaseException:
    """huggingface_hub wraps the Hub's answer (e.g. RepositoryNotFoundError) in a local-cache
    error; the first one in the chain is the one worth showing."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


RETRY_ATTEMPTS = 5
"""Tries of one download within the step before it counts as an infrastructure failure."""


def _retry_base() -> float:
    """First backoff in seconds (``FT_PREPARE_RETRY_BASE_SECONDS``, default 2)."""
    return float(os.environ.get("FT_PREPARE_RETRY_BASE_SECONDS", "2"))


def _warn(what: str) -> Callable[[int, float, BaseException], None]:
    def warn(attempt: int, delay: float, exc: BaseException) -> None:
        cause = root_cause(exc)
        print(
            f"prepare: {what}: {type(cause).__name__}: {str(cause)[:200]}; "
            f"retry {attempt}/{RETRY_ATTEMPTS - 1} in {delay:.0f}s",
            file=sys.stderr,
        )

    return warn


def explain(exc: BaseException, what: str) -> tuple[FailureKind, str]:
    if isinstance(exc, OracleUnavailable):  # its own message names file, URL and remedy
        kind = FailureKind.INFRASTRUCTURE if exc.unreachable else FailureKind.ENVIRONMENT
        return kind, f"{what}: {exc}"
    cause = root_cause(exc)
    name = type(cause).__name__
    if is_transient(exc):
        return FailureKind.INFRASTRUCTURE, (
            f"{what}: the Hub kept failing after {RETRY_ATTEMPTS} tries ({name}: "
            f"{str(cause)[:300]}); the step will be retried"
        )
    if isinstance(cause, LayoutError):
        return FailureKind.ENVIRONMENT, (
            f"{what}: the files do not have the upstream layout this operator reads: {cause}"
        )
    # By the HTTP status, never by digits in the message (a URL's port can hold "403").
    status = http_status(exc)
    if name == "GatedRepoError" or status in (401, 403):
        return FailureKind.ENVIRONMENT, (
            f"{what}: access denied by the Hub ({name}). The repository is gated or private: "
            "accept its terms on the Hub and set spec.hfTokenSecretRef to a Secret holding a "
            "token with access."
        )
    if name in ("RepositoryNotFoundError", "EntryNotFoundError") or status == 404:
        return FailureKind.ENVIRONMENT, (
            f"{what}: not found on the Hub ({name}). Check the id, or set "
            "spec.hfTokenSecretRef if it is private."
        )
    return FailureKind.ENVIRONMENT, f"{what}: {name}: {cause}"


def run(request: StepRequest) -> StepResult:
    layout = CampaignLayout.of(request)
    spec = request.spec
    token = os.environ.get("HF_TOKEN") or None
    bench = get_benchmark(spec.benchmark)
    work: list[tuple[str, str, Callable[[], bool]]] = [
        (
            f"base model {spec.base_model!r}",
            spec.base_model,
            lambda: fetch_model(spec.base_model, layout.base_model_dir(spec.base_model), token),
        )
    ]
    for key in spec.resolved_datasets():
        work.append(
            (
                f"dataset {key!r} ({get_dataset(key).hf_id})",
                key,
                lambda key=key: fetch_dataset(key, layout.raw_dataset_dir(key), token),
            )
        )
    prepared: list[Splits] = []

    def benchmark() -> bool:
        downloaded, splits = fetch_benchmark(spec.benchmark, layout, spec.evaluation, token)
        prepared.append(splits)
        return downloaded

    work.append((f"benchmark {spec.benchmark!r} ({bench.eval_hf_id})", spec.benchmark, benchmark))
    if required_files(spec.benchmark):
        work.append(
            (
                f"property oracles of {spec.benchmark!r}",
                "oracles",
                lambda: bool(fetch_oracles(spec.benchmark, Path(request.paths.models))),
            )
        )
    fetched: list[str] = []
    for what, label, fetch in work:
        try:
            if with_retries(
                fetch, attempts=RETRY_ATTEMPTS, base=_retry_base(), on_retry=_warn(what)
            ):
                fetched.append(label)
        except Exception as exc:  # every failure becomes a clear result for the status
            kind, message = explain(exc, what)
            return StepResult(step=StepKind.PREPARE, ok=False, failure=kind, message=message[:2000])
    message = ("downloaded " + ", ".join(fetched)) if fetched else "caches already complete"
    splits = prepared[-1]
    summary = EvaluationSetStatus(
        items=splits.items,
        validation=len(splits.validation),
        test=len(splits.test),
        sha256=splits.sha256,
    )
    message += (
        f"; {spec.benchmark}: {splits.items} items, validation {summary.validation}, "
        f"test {summary.test} (sha256 {splits.sha256[:12]})"
    )
    return StepResult(step=StepKind.PREPARE, ok=True, message=message, evaluation_set=summary)


def main() -> int:
    request = StepRequest.model_validate_json(os.environ[STEP_REQUEST_ENV])
    result = run(request)
    path = Path(os.environ.get(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG))
    path.write_text(result.dump_message())
    print(result.message, file=sys.stderr if not result.ok else sys.stdout)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
