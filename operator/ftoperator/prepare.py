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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftapi.catalog import Benchmark, get_benchmark, get_dataset
from ftapi.results import FailureKind, StepResult
from ftapi.steps import (
    DEFAULT_TERMINATION_LOG,
    STEP_REQUEST_ENV,
    TERMINATION_LOG_ENV,
    StepKind,
    StepRequest,
)
from ftapi.workspace import CampaignLayout, is_local_model

COMPLETE_MARKER = ".ftagent-complete"
QUESTION_KEYS = ("question", "problem", "prompt", "query", "input", "instruction")
ANSWER_KEYS = ("answer", "final_answer", "output", "label", "target", "solution")
DATA_FILES = ["*.json", "*.jsonl", "*.parquet", "*.csv"]
"""The files `_rows` reads."""


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


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    """A CSV file's rows; the file name is the subject (FinanceIQ: one file per subject)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [{"subject": path.stem, **row} for row in csv.DictReader(handle)]


def _rows(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".csv":
            rows += _csv_rows(path)
        elif path.suffix == ".jsonl":
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        elif path.suffix == ".json" and path.name not in ("dataset_info.json",):
            data = json.loads(path.read_text())
            rows += data if isinstance(data, list) else []
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows += pq.read_table(path).to_pylist()
    return rows


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    return True


def _first_filled(row: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The row's column for the first of ``keys`` (any case) that holds a value."""
    by_name = {str(k).casefold(): k for k in row}
    for key in keys:
        column = by_name.get(key)
        if column is not None and row[column] not in (None, ""):
            return column
    return None


def normalize_eval_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Maps an evaluation set's columns onto ``{"question", "answer", ...}``. Extra columns
    are kept for benchmark adapters, structured ones too (TableBench's ``table``); the same
    item repeated (TableBench ships one file per prompting style) is kept once."""
    out = []
    seen: set[str] = set()
    for row in rows:
        question_key = _first_filled(row, QUESTION_KEYS)
        answer_key = _first_filled(row, ANSWER_KEYS)
        if question_key is None or answer_key is None:
            continue
        question, answer = row[question_key], row[answer_key]
        extra = {
            k: v
            for k, v in row.items()
            if k not in (question_key, answer_key) and v is not None and _jsonable(v)
        }
        choices = option_columns(row)
        if choices and "choices" not in extra:
            extra = {k: v for k, v in extra.items() if k not in choices} | {"choices": choices}
        item = {**extra, "question": str(question), "answer": str(answer)}
        identity = json.dumps(
            {k: v for k, v in item.items() if not k.startswith("instruction")},
            sort_keys=True,
            ensure_ascii=False,
        )
        if identity not in seen:
            seen.add(identity)
            out.append(item)
    return out


def option_columns(row: dict[str, Any]) -> dict[str, str]:
    """Options given as one column per letter (FinanceIQ's ``A``..``D``) as {letter: text}."""
    letters = [letter for letter in "ABCDEFGH" if isinstance(row.get(letter), str)]
    if letters[:2] != ["A", "B"] or letters != list("ABCDEFGH"[: len(letters)]):
        return {}
    return {letter: row[letter] for letter in letters}


def in_subset(row: dict[str, Any], subset: str) -> bool:
    """Whether a row belongs to the benchmark's subset when the Hub repository does not split
    it into files: one of its text fields names it (e.g. TableBench's ``qtype``)."""
    wanted = subset.casefold()
    return any(isinstance(v, str) and v.casefold() == wanted for v in row.values())


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(path)


def _benchmark_rows(
    bench: Benchmark, subset: str | None, folder: Path, token: str | None
) -> list[dict[str, Any]]:
    """The normalised rows of ``subset`` of the benchmark's repository (all when None)."""
    from huggingface_hub import snapshot_download

    def download(patterns: list[str] | None) -> list[dict[str, Any]]:
        snapshot_download(
            repo_id=bench.eval_hf_id,
            repo_type="dataset",
            local_dir=folder,
            token=token,
            allow_patterns=patterns,
        )
        return _rows(folder)

    if subset:
        # The subset is a file (PANORAMA's PAR4PC...) or a column value (TableBench's qtype).
        rows = download([f"*{subset}*"])
        if not rows:
            rows = [r for r in download(DATA_FILES) if in_subset(r, subset)]
    else:
        rows = download(None)
    rows = normalize_eval_rows(rows)
    if not rows:
        named = f" (subset {subset})" if subset else ""
        raise ValueError(f"no question/answer rows found in {bench.eval_hf_id}{named}")
    return rows


def fetch_benchmark(key: str, layout: CampaignLayout, token: str | None) -> bool:
    """The evaluation set and, for a few-shot benchmark, its in-context examples; each file
    is written whole (renamed into place), so one that exists is complete."""
    bench = get_benchmark(key)
    target, shots = layout.benchmark_file(key), layout.shots_file(key)
    need_shots = bench.shots > 0 and not shots.exists()
    if target.exists() and not need_shots:
        return False
    folder = target.parent
    if need_shots:
        rows = _benchmark_rows(bench, bench.shots_subset, folder / "raw-shots", token)
        _write_jsonl(shots, rows)
    if not target.exists():
        _write_jsonl(target, _benchmark_rows(bench, bench.eval_subset, folder / "raw", token))
    return True


def root_cause(exc: BaseException) -> BaseException:
    """huggingface_hub wraps the Hub's answer (e.g. RepositoryNotFoundError) in a local-cache
    error; the first one in the chain is the one worth showing."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


def explain(exc: BaseException, what: str) -> tuple[FailureKind, str]:
    cause = root_cause(exc)
    name = type(cause).__name__
    if name in ("GatedRepoError",) or "401" in str(cause) or "403" in str(cause):
        return FailureKind.ENVIRONMENT, (
            f"{what}: access denied by the Hub ({name}). The repository is gated or private: "
            "accept its terms on the Hub and set spec.hfTokenSecretRef to a Secret holding a "
            "token with access."
        )
    if name == "RepositoryNotFoundError" or "404" in str(cause):
        return FailureKind.ENVIRONMENT, (
            f"{what}: not found on the Hub ({name}). Check the id, or set "
            "spec.hfTokenSecretRef if it is private."
        )
    if name in (
        "ConnectionError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ProtocolError",
        "RemoteDisconnected",
    ):
        return FailureKind.INFRASTRUCTURE, f"{what}: cannot reach the Hub ({name}: {cause})"
    return FailureKind.ENVIRONMENT, f"{what}: {name}: {cause}"


def run(request: StepRequest) -> StepResult:
    layout = CampaignLayout(request.paths, request.namespace, request.campaign)
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
    work.append(
        (
            f"benchmark {spec.benchmark!r} ({bench.eval_hf_id})",
            spec.benchmark,
            lambda: fetch_benchmark(spec.benchmark, layout, token),
        )
    )
    fetched: list[str] = []
    for what, label, fetch in work:
        try:
            if fetch():
                fetched.append(label)
        except Exception as exc:  # every failure becomes a clear result for the status
            kind, message = explain(exc, what)
            return StepResult(step=StepKind.PREPARE, ok=False, failure=kind, message=message[:2000])
    message = ("downloaded " + ", ".join(fetched)) if fetched else "caches already complete"
    return StepResult(step=StepKind.PREPARE, ok=True, message=message)


def main() -> int:
    request = StepRequest.model_validate_json(os.environ[STEP_REQUEST_ENV])
    result = run(request)
    path = Path(os.environ.get(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG))
    path.write_text(result.dump_message())
    print(result.message, file=sys.stderr if not result.ok else sys.stdout)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
