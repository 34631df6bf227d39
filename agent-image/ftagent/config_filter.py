"""Filter a proposed LLaMA-Factory training config down to what may reach the trainer.

A proposal (from the search planner or, untrusted, from an LLM) keeps only keys that
LLaMA-Factory really accepts (``llamafactory_keys.json``, derived from its argument dataclasses
by ``agent-image/scripts/derive_llamafactory_keys.py``), with values coerced to the key's type.
Only the allowed hyper-parameters within their bounds pass (:mod:`ftapi.hyperparameters`; the
trainer applies the same allow-list again). Operator-managed keys
(:data:`ftapi.plan.OPERATOR_MANAGED_KEYS`) are removed and replaced by the agent's values where
it knows them; keys that reach outside services (hub uploads, Ray)
or fight the operator's multi-GPU setup are dropped; any path-like value (keys ending in
``_dir``/``_path``/``_file``, values starting with ``/`` or ``~`` or containing ``..``) that is
not inside the workspace is dropped. Every dropped or overridden key is reported. Called by
:mod:`ftagent.pipeline` and by the LLM planner's tests of its proposals.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from ftapi.hyperparameters import HYPERPARAMETERS, allowed_hyperparameters
from ftapi.plan import OPERATOR_MANAGED_KEYS

KEYS_RESOURCE = "llamafactory_keys.json"
PATH_SUFFIXES = ("_dir", "_path", "_file")
DENIED_PREFIXES = ("export_", "ray_", "push_to_hub")
DENIED_KEYS = frozenset({"use_ray", "fsdp", "fsdp_config", "fsdp_min_num_params"})
"""Multi-GPU sharding is the operator's (DeepSpeed ZeRO); FSDP settings would fight it."""

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


@dataclass(frozen=True)
class KeyTable:
    """The LLaMA-Factory keys and their coarse types."""

    keys: Mapping[str, Mapping[str, Any]]
    llamafactory: str

    def __contains__(self, key: object) -> bool:
        return key in self.keys


@lru_cache(maxsize=1)
def load_key_table() -> KeyTable:
    """The key table shipped with the agent (package data)."""
    text = resources.files("ftagent").joinpath(KEYS_RESOURCE).read_text(encoding="utf-8")
    data = json.loads(text)
    return KeyTable(keys=data["keys"], llamafactory=data.get("llamafactory", "?"))


@dataclass
class FilteredConfig:
    """The config that may reach the trainer, and what was taken out of the proposal."""

    config: dict[str, Any]
    dropped: list[str] = field(default_factory=list)
    """Proposed keys removed: unknown, denied, a bad value or a path outside the workspace."""
    overridden: list[str] = field(default_factory=list)
    """Proposed operator-managed keys, replaced (or removed) by the agent."""
    reasons: dict[str, str] = field(default_factory=dict)


def is_denied(key: str) -> bool:
    """Keys that talk to outside services or conflict with the operator's placement."""
    return key in DENIED_KEYS or "hub" in key or key.startswith(DENIED_PREFIXES)


def is_inside(path: str, root: str) -> bool:
    """``path`` is absolute, has no ``..`` and lies under ``root``."""
    if not path.startswith("/") or ".." in PurePosixPath(path).parts:
        return False
    normal = os.path.normpath(path)
    root = os.path.normpath(root)
    return normal == root or normal.startswith(root.rstrip("/") + "/")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _path_problem(key: str, value: Any, workspace: str) -> str | None:
    path_key = key.endswith(PATH_SUFFIXES)
    for text in _strings(value):
        looks_like_path = path_key or text.startswith(("/", "~")) or ".." in text
        if looks_like_path and not is_inside(text, workspace):
            return f"path {text!r} is not inside the workspace {workspace}"
    return None


def coerce(value: Any, spec: Mapping[str, Any]) -> Any:
    """``value`` as the key's type; raises ValueError when it cannot be."""
    kind = spec.get("type", "any")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"expected a boolean, got {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueError(f"expected an integer, got {value!r}") from None
            if number.is_integer():
                return int(number)
        raise ValueError(f"expected an integer, got {value!r}")
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if kind == "str":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ",".join(value)  # LLaMA-Factory takes lists as comma-separated strings
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        choices = spec.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value
    return value


def filter_config(
    proposed: Mapping[str, Any],
    *,
    workspace: str,
    forced: Mapping[str, Any],
    table: KeyTable | None = None,
) -> FilteredConfig:
    """Keep the proposal's valid keys, then set ``forced`` (the operator-managed values the
    agent knows, plus values it insists on such as ``finetuning_type``)."""
    table = table or load_key_table()
    result = FilteredConfig(config={})

    def drop(key: str, reason: str) -> None:
        result.dropped.append(key)
        result.reasons[key] = reason

    for key, value in proposed.items():
        key = str(key)
        if key in OPERATOR_MANAGED_KEYS:
            result.overridden.append(key)
            result.reasons[key] = "operator-managed"
            continue
        if key not in table:
            drop(key, "not a LLaMA-Factory training argument")
            continue
        if is_denied(key):
            drop(key, "not allowed in campaigns (outside services or multi-GPU placement)")
            continue
        bound = HYPERPARAMETERS.get(key)
        if bound is None:
            drop(key, "not an allowed training hyper-parameter (ftapi.hyperparameters)")
            continue
        if value is None:
            drop(key, "null value (LLaMA-Factory's default applies)")
            continue
        problem = _path_problem(key, value, workspace)
        if problem:
            drop(key, problem)
            continue
        try:
            value = coerce(value, table.keys[key])
        except ValueError as exc:
            drop(key, str(exc))
            continue
        value = bound.coerce(value)
        if problem := bound.check(value):
            drop(key, problem)
            continue
        result.config[key] = value
    for key, value in forced.items():
        result.config[key] = value
    kept, _ = allowed_hyperparameters(
        {k: v for k, v in result.config.items() if k not in OPERATOR_MANAGED_KEYS}
    )
    result.config = {
        k: v for k, v in result.config.items() if k in OPERATOR_MANAGED_KEYS or k in kept
    } | kept
    return result
