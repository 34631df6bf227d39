"""What the LLM planner shows the model: raw-data views (samples, schema, token statistics)
and the campaign's history, as plain data for the prompt templates.

Long values are shortened for prompts only; scripts get full rows. Test-split content never
appears (history holds validation results only).
"""

from __future__ import annotations

import json
from typing import Any

from ftagent.context import AgentContext
from ftagent.history import IterationRecord
from ftagent.recipes import RECIPES
from ftagent.recipes.base import text
from ftagent.tokens import percentile
from ftapi.plan import OPERATOR_MANAGED_KEYS

SAMPLE_ROWS = 3
STAT_ROWS = 200
SHORT_TEXT = 400
SHORT_LIST = 6


def shorten(value: Any, limit: int = SHORT_TEXT) -> Any:
    """A copy of ``value`` with long strings and lists cut, for prompts."""
    if isinstance(value, str):
        return (
            value
            if len(value) <= limit
            else f"{value[:limit]}... [{len(value) - limit} more chars]"
        )
    if isinstance(value, dict):
        return {str(k): shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [shorten(v, limit) for v in value[:SHORT_LIST]]
        if len(value) > SHORT_LIST:
            items.append(f"... [{len(value) - SHORT_LIST} more items]")
        return items
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def jsonable(value: Any) -> Any:
    """Rows as JSON-safe data (parquet may hold dates, bytes or decimals)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def sample_rows(ctx: AgentContext, dataset_key: str, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` rows of one dataset in seeded order, with their file, as JSON-safe data."""
    dataset = next(d for d in ctx.datasets if d.key == dataset_key)
    rows = []
    for file, row in ctx.raw_files(dataset).sampled_rows(seed):
        rows.append({"dataset": dataset.key, "file": file.relative, "row": jsonable(row)})
        if len(rows) >= count:
            break
    return rows


def dataset_views(ctx: AgentContext, seed: int) -> list[dict[str, Any]]:
    """Per dataset: description, files, schema, token statistics and a few shortened rows."""
    views = []
    for dataset in ctx.datasets:
        files = ctx.raw_files(dataset)
        rows = [item["row"] for item in sample_rows(ctx, dataset.key, STAT_ROWS, seed)]
        schema: dict[str, set[str]] = {}
        lengths: dict[str, list[int]] = {}
        for row in rows:
            for key, value in row.items():
                schema.setdefault(key, set()).add(type(value).__name__)
                if isinstance(value, str | list | dict):
                    lengths.setdefault(key, []).append(ctx.tokens.count(text(value)))
        views.append(
            {
                "key": dataset.key,
                "description": dataset.description,
                "files": [f.relative for f in files.files],
                "schema": {key: "|".join(sorted(types)) for key, types in schema.items()},
                "token_stats": {
                    key: [percentile(v, 50), percentile(v, 99), max(v)]
                    for key, v in lengths.items()
                    if v
                },
                "samples": [shorten(row) for row in rows[:SAMPLE_ROWS]],
                "builtin": dataset.key in RECIPES,
            }
        )
    return views


def _loss_curve(record: IterationRecord, points: int = 8) -> str:
    history = record.train.loss_history if record.train else []
    losses = [(p.step, p.loss) for p in history if p.loss is not None]
    if not losses:
        return "none"
    stride = max(1, len(losses) // points)
    chosen = losses[::stride][-points:]
    return ", ".join(f"{step}:{loss:.3g}" for step, loss in chosen)


def history_view(ctx: AgentContext) -> list[dict[str, Any]]:
    view = []
    for record in ctx.history.iterations:
        plan = record.plan
        if plan is None:
            continue
        failures = [
            f"round {r.index}: {r.smoke.failure}: {r.smoke.message[:200]}"
            for r in record.rounds
            if r.smoke is not None and not r.smoke.ok
        ]
        view.append(
            {
                "index": record.index,
                "hypothesis": plan.hypothesis[:400],
                "method": str(plan.method),
                "sample_size": plan.recipe.sample_size,
                "config": {
                    k: v for k, v in plan.training_config.items() if k not in OPERATOR_MANAGED_KEYS
                },
                "score": record.score,
                "final_loss": record.train.final_loss if record.train else None,
                "loss_curve": _loss_curve(record),
                "smoke_failures": failures,
            }
        )
    return view


def wrong_answers_view(ctx: AgentContext, limit: int = 5) -> list[dict[str, str]]:
    best = ctx.history.best()
    source = best or next(
        (it for it in reversed(ctx.history.iterations) if it.validation is not None), None
    )
    if source is None or source.validation is None:
        return []
    return [
        {
            "prompt": shorten(item.prompt, 300),
            "expected": shorten(item.expected, 200),
            "predicted": shorten(item.predicted, 200),
        }
        for item in source.validation.wrong_answers[:limit]
    ]
