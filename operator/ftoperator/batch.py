"""Batch rendering: one FineTuneCampaign manifest per (model, benchmark) row of a task file.

The paper's ``tasks.json`` workflow for ``kubectl apply`` or git (``ftctl batch tasks.yaml``;
:mod:`ftoperator.cli` only wires the command). A task file is YAML or JSON, either a list of
rows or a mapping::

    namePrefix: ft                 # optional; names become <prefix>-<model>-<benchmark>
    namespace: research            # optional; metadata.namespace of every campaign
    labels: {team: nlp}            # optional; metadata.labels of every campaign
    annotations: {}                # optional
    defaults:                      # optional; a partial spec applied to every row
      budget: {maxIterations: 5}
    tasks:
      - model: Qwen/Qwen2.5-7B-Instruct
        benchmark: aime25
      - model: Qwen/Qwen2.5-7B-Instruct
        benchmark: gsm8k
        name: qwen-gsm8k           # optional explicit name
        budget: {timeout: 24h}     # any spec field: a per-row override

A row holds ``model`` (or ``baseModel``), ``benchmark``, optionally ``name``, ``namespace``,
``labels``, ``annotations``, ``description`` (= ``benchmarkDescription``), and any other
``spec`` field, merged over ``defaults`` like a JSON merge patch (mappings merge, ``null``
removes a key, lists and scalars replace).
``benchmarkDescription`` is the catalog's description unless the row or the defaults give one,
so every manifest is self-contained. Each manifest is validated with
:class:`~ftapi.campaign.FineTuneCampaign`; names are DNS-1123 labels of at most 63 characters
(shortened with a hash of the row when longer), and duplicates are an error.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ftapi import API_GROUP, API_VERSION, KIND
from ftapi.base import DNS1123_LABEL
from ftapi.campaign import FineTuneCampaign
from ftapi.catalog import UnknownKeyError, get_benchmark
from ftapi.errors import format_validation_error

MAX_NAME = 63
"""Campaign names become label values (``ftagent.dev/campaign``) and prefixes of Job names:
keep them DNS-1123 labels (63 characters, k8s.io/apimachinery validation)."""
HASH_LEN = 8
FILE_KEYS = frozenset({"namePrefix", "namespace", "labels", "annotations", "defaults", "tasks"})
ROW_META_KEYS = frozenset({"name", "namespace", "labels", "annotations"})
MODEL_KEYS = ("model", "baseModel", "base_model")


class BatchError(ValueError):
    """A task file that cannot be turned into valid campaigns."""


@dataclass(frozen=True)
class RenderedCampaign:
    """One campaign of a batch: its name and the manifest to apply."""

    name: str
    manifest: dict[str, Any]


def slugify(text: str) -> str:
    """Lower-case DNS-1123 label characters only (``Qwen2.5-7B`` -> ``qwen2-5-7b``)."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:HASH_LEN]


def campaign_name(prefix: str | None, model: str, benchmark: str, *, qualify: bool = False) -> str:
    """``<prefix>-<model's last path part>-<benchmark>``, a DNS-1123 label of at most 63
    characters. Longer names (and, with ``qualify``, every name: two models that share their
    last path part) keep their start and the benchmark around a hash of the model id, so a
    name only changes when the model or the benchmark does."""
    parts = [slugify(p) for p in (prefix or "", model.rstrip("/").split("/")[-1], benchmark)]
    name = "-".join(p for p in parts if p) or "campaign"
    if len(name) <= MAX_NAME and not qualify:
        return name
    digest = short_hash({"model": model, "benchmark": benchmark})
    bench = parts[2][: MAX_NAME // 2]
    head = "-".join(p for p in parts[:2] if p)
    head = head[: MAX_NAME - len(bench) - HASH_LEN - 2].rstrip("-")
    return "-".join(p for p in (head, digest, bench) if p)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base`` with JSON merge patch semantics (RFC 7386): mappings merge
    key by key, ``null`` removes a key, anything else (lists too) replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BatchError(f"{what} must be a mapping, not {type(value).__name__}")
    return dict(value)


def _string_map(value: Any, what: str) -> dict[str, str]:
    raw = _mapping(value, what)
    bad = [k for k, v in raw.items() if not isinstance(v, str)]
    if bad:
        raise BatchError(f"{what}: values must be strings ({', '.join(map(str, bad))})")
    return {str(k): v for k, v in raw.items()}


def parse_task_file(data: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split a loaded task file into (file-level settings, rows)."""
    if isinstance(data, list):
        settings: dict[str, Any] = {}
        rows = data
    elif isinstance(data, Mapping):
        unknown = sorted(set(data) - FILE_KEYS)
        if unknown:
            raise BatchError(
                f"unknown top-level keys {unknown}; expected some of {sorted(FILE_KEYS)}"
            )
        settings = {k: v for k, v in data.items() if k != "tasks"}
        rows = data.get("tasks")
    else:
        raise BatchError("a task file is a list of rows or a mapping with `tasks`")
    if not isinstance(rows, list) or not rows:
        raise BatchError("no tasks: give at least one row with model and benchmark")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise BatchError(f"tasks[{index}] must be a mapping, not {type(row).__name__}")
    return settings, [dict(r) for r in rows]


def render_row(
    index: int,
    row: Mapping[str, Any],
    settings: Mapping[str, Any],
    namespace: str | None = None,
    *,
    qualify: bool = False,
) -> RenderedCampaign:
    """The validated manifest of one row (``qualify``: see :func:`campaign_name`)."""
    where = f"tasks[{index}]"
    row = dict(row)
    models = [k for k in MODEL_KEYS if k in row]
    if len(models) != 1:
        raise BatchError(f"{where}: give the base model exactly once as `model`")
    model = row.pop(models[0])
    benchmark = row.pop("benchmark", None)
    if not isinstance(model, str) or not model:
        raise BatchError(f"{where}: `model` must be a non-empty string")
    if not isinstance(benchmark, str) or not benchmark:
        raise BatchError(f"{where}: `benchmark` must be a non-empty string")
    try:
        bench = get_benchmark(benchmark)
    except UnknownKeyError as exc:
        raise BatchError(f"{where}: {exc}") from exc
    if "description" in row:
        if "benchmarkDescription" in row:
            raise BatchError(f"{where}: give `description` or `benchmarkDescription`, not both")
        row["benchmarkDescription"] = row.pop("description")
    meta_row = {k: row.pop(k) for k in ROW_META_KEYS if k in row}
    spec = deep_merge(_mapping(settings.get("defaults"), "defaults"), row)
    spec["baseModel"] = model
    spec["benchmark"] = benchmark
    spec.setdefault("benchmarkDescription", bench.description)
    # Key order of the manifest: identity first, then the rest as written.
    spec = {
        "baseModel": model,
        "benchmark": benchmark,
        "benchmarkDescription": spec.pop("benchmarkDescription"),
        **{k: v for k, v in spec.items() if k not in ("baseModel", "benchmark")},
    }

    name = meta_row.get("name")
    if name is None:
        name = campaign_name(settings.get("namePrefix"), model, benchmark, qualify=qualify)
    if not isinstance(name, str) or len(name) > MAX_NAME or not re.fullmatch(DNS1123_LABEL, name):
        raise BatchError(
            f"{where}: name {name!r} is not a DNS-1123 label of at most {MAX_NAME} characters"
        )
    metadata: dict[str, Any] = {"name": name}
    ns = namespace or meta_row.get("namespace") or settings.get("namespace")
    if ns:
        metadata["namespace"] = ns
    labels = {
        **_string_map(settings.get("labels"), "labels"),
        **_string_map(meta_row.get("labels"), f"{where}.labels"),
    }
    annotations = {
        **_string_map(settings.get("annotations"), "annotations"),
        **_string_map(meta_row.get("annotations"), f"{where}.annotations"),
    }
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    manifest = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": spec,
    }
    try:
        FineTuneCampaign.model_validate(manifest)
    except ValidationError as exc:
        raise BatchError(
            f"{where} ({model} on {benchmark}): {format_validation_error(exc)}"
        ) from exc
    return RenderedCampaign(name, manifest)


def render_batch(data: Any, namespace: str | None = None) -> list[RenderedCampaign]:
    """Every row's manifest, in row order; errors name the row."""
    settings, rows = parse_task_file(data)
    prefix = settings.get("namePrefix")
    if prefix is not None and (not isinstance(prefix, str) or not slugify(prefix)):
        raise BatchError("namePrefix must be a string with letters or digits")
    rendered = [render_row(i, row, settings, namespace) for i, row in enumerate(rows)]
    # Different models with the same last path part (org/a and other/a) would share a name:
    # qualify those rows' names with a hash of their model id.
    models_by_name: dict[str, set[str]] = {}
    for campaign in rendered:
        models_by_name.setdefault(campaign.name, set()).add(campaign.manifest["spec"]["baseModel"])
    rendered = [
        render_row(i, row, settings, namespace, qualify=True)
        if "name" not in row and len(models_by_name[campaign.name]) > 1
        else campaign
        for i, (row, campaign) in enumerate(zip(rows, rendered, strict=True))
    ]
    seen: dict[tuple[str | None, str], int] = {}
    for index, campaign in enumerate(rendered):
        key = (campaign.manifest["metadata"].get("namespace"), campaign.name)
        if key in seen:
            raise BatchError(
                f"tasks[{index}] and tasks[{seen[key]}] both render campaign {campaign.name!r}; "
                "give one of them a `name`"
            )
        seen[key] = index
    return rendered


def load_task_file(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BatchError(f"{path}: not valid YAML or JSON: {exc}") from exc


def dump_manifest(manifest: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(manifest), sort_keys=False, width=100, allow_unicode=True)


def dump_multi(campaigns: Iterable[RenderedCampaign]) -> str:
    """One multi-document YAML stream (``kubectl apply -f -``)."""
    return "".join(f"---\n{dump_manifest(c.manifest)}" for c in campaigns)


def write_campaigns(campaigns: Sequence[RenderedCampaign], output_dir: Path) -> list[Path]:
    """One ``<name>.yaml`` per campaign (``<namespace>.<name>.yaml`` when campaigns of the
    same name go to different namespaces)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in campaigns]
    paths = []
    for campaign in campaigns:
        stem = campaign.name
        if names.count(stem) > 1:
            stem = f"{campaign.manifest['metadata'].get('namespace', 'default')}.{stem}"
        path = output_dir / f"{stem}.yaml"
        path.write_text(dump_manifest(campaign.manifest))
        paths.append(path)
    return paths


__all__ = [
    "BatchError",
    "RenderedCampaign",
    "campaign_name",
    "deep_merge",
    "dump_multi",
    "load_task_file",
    "render_batch",
    "slugify",
    "write_campaigns",
]
