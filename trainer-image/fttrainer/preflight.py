"""Checks before launching LLaMA-Factory: the training data, and the argument types.

LLaMA-Factory accepts ``learning_rate: "abc"`` and fails minutes later inside the
optimizer; an empty or misshaped dataset fails deep in ``datasets``. These checks fail in
seconds with a message the agent can act on:

- :func:`check_dataset`: ``dataset_info.json`` names the ``train`` dataset, its file exists,
  holds records, and every record has the mapped prompt and response columns (Alpaca by
  default: ``instruction``/``input``/``output``; ShareGPT: a non-empty conversation list);
- :func:`coerce_arguments`: each value matches the type LLaMA-Factory declares for its key
  (numbers given as strings are converted; unknown keys are left to LLaMA-Factory, whose own
  error names them).

``check_dataset`` is called by :mod:`fttrainer.main` before anything heavy loads;
``coerce_arguments`` by :mod:`fttrainer.launch`, inside the training process.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from ftapi.jsonlines import JsonLineError, parse_json_lines
from fttrainer.config import DATASET_NAME


class DataError(ValueError):
    """The round's training data is missing, empty or misshaped."""


class ArgumentError(ValueError):
    """A training argument has a value of the wrong type."""


def _records(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        try:
            return [row for _, row in parse_json_lines(text)]
        except JsonLineError as exc:
            raise DataError(f"{path.name}:{exc.number}: not JSON ({exc.msg})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, list):
        raise DataError(f"{path.name}: expected a JSON list of records")
    return data


def check_dataset(data_dir: Path) -> int:
    """Validate the round's ``train`` dataset; return its number of records."""
    info_file = data_dir / "dataset_info.json"
    if not info_file.is_file():
        raise DataError(f"{info_file} is missing")
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"dataset_info.json is not JSON ({exc.msg})") from exc
    entry = info.get(DATASET_NAME) if isinstance(info, dict) else None
    if not isinstance(entry, dict) or not entry.get("file_name"):
        raise DataError(f'dataset_info.json has no "{DATASET_NAME}" dataset with a file_name')
    data_file = data_dir / str(entry["file_name"])
    if not data_file.is_file():
        raise DataError(f"training data file {data_file.name} is missing")
    records = _records(data_file)
    if not records:
        raise DataError(f"training data file {data_file.name} holds no records")
    columns = entry.get("columns") or {}
    if entry.get("formatting", "alpaca") == "sharegpt":
        messages = columns.get("messages", "conversations")
        for number, record in enumerate(records):
            if not isinstance(record, dict) or not record.get(messages):
                raise DataError(f"record {number}: no {messages!r} conversation")
        return len(records)
    prompt = columns.get("prompt", "instruction")
    response = columns.get("response", "output")
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"record {number} is not an object")
        missing = [key for key in (prompt, response) if key not in record]
        if missing:
            found = ", ".join(sorted(record)) or "none"
            raise DataError(
                f"record {number} lacks column(s) {', '.join(missing)} (found: {found})"
            )
        if not str(record[prompt]).strip() or not str(record[response]).strip():
            raise DataError(f"record {number} has an empty {prompt!r} or {response!r}")
    return len(records)


@lru_cache(maxsize=1)
def argument_types() -> dict[str, Any]:
    """Declared type of every LLaMA-Factory training argument (imports LLaMA-Factory)."""
    from llamafactory.hparams import (
        DataArguments,
        FinetuningArguments,
        GeneratingArguments,
        ModelArguments,
    )
    from llamafactory.hparams.training_args import TrainingArguments

    types_by_key: dict[str, Any] = {}
    groups = (ModelArguments, DataArguments, TrainingArguments, FinetuningArguments)
    for cls in (*groups, GeneratingArguments):
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            types_by_key.setdefault(item.name, hints.get(item.name, item.type))
    return types_by_key


_MISMATCH = object()


def _coerce(value: Any, annotation: Any) -> Any:
    """``value`` converted to ``annotation``, or ``_MISMATCH``."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        # Prefer an option that takes the value as it is.
        for option in options:
            if option is not type(None) and _coerce(value, option) is value:
                return value
        for option in options:
            if option is type(None):
                continue
            converted = _coerce(value, option)
            if converted is not _MISMATCH:
                return converted
        return _MISMATCH
    if origin is typing.Literal:
        return value if value in typing.get_args(annotation) else _MISMATCH
    if origin in (list, dict, tuple):
        return value if isinstance(value, origin) else _MISMATCH
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return _MISMATCH
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return _MISMATCH
        return _MISMATCH
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                return _MISMATCH
        return _MISMATCH
    if annotation is str:
        return value if isinstance(value, str) else _MISMATCH
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = {member.value for member in annotation}
        return value if value in values else _MISMATCH
    return value  # dict, object and other rich types: LLaMA-Factory decides


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(repr(m.value) for m in annotation)
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def coerce_arguments(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with values converted to LLaMA-Factory's declared types.

    Raises :class:`ArgumentError` listing every value that fits no declared type.
    """
    declared = argument_types()
    result: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in config.items():
        if key not in declared:
            result[key] = value
            continue
        converted = _coerce(value, declared[key])
        if converted is _MISMATCH:
            problems.append(f"{key}: {value!r} is not {_describe(declared[key])}")
        else:
            result[key] = converted
    if problems:
        raise ArgumentError("invalid training arguments: " + "; ".join(problems))
    return result
