"""What each dashboard page shows, assembled from a :class:`CampaignRecord` (no I/O beyond
reading the campaign's workspace folder). Charts are plotly figures, sent as JSON and drawn in
the browser by plotly.js."""

from __future__ import annotations

import difflib
import functools
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import plotly.graph_objects as go
from pydantic import BaseModel, ValidationError

from ftapi.campaign import FineTuneCampaign, IterationStatus
from ftapi.plan import Plan
from ftapi.results import EvaluationResult, TrainingResult, decode_item_scores, decode_item_weights
from ftapi.steps import Split
from ftapi.traces import LLM_CALLS_NAME, read_llm_calls
from ftoperator.acceptance import interval
from ftoperator.dashboard.sources import CampaignRecord, read_json, tail

SAMPLES = 3
SAMPLE_CHARS = 1500
SCRIPT_CHARS = 20_000
GATEWAY_LOG = "llm_gateway.jsonl"
JUDGE_LOG = "judge-calls.jsonl"
SCRIPT_NAME = "process_data.py"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _age(since: datetime | None) -> str:
    if since is None:
        return "-"
    seconds = int((datetime.now(UTC) - since).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def campaign_url(record: CampaignRecord) -> str:
    return f"/campaigns/{record.namespace}/{record.name}"


def _created(campaign: FineTuneCampaign) -> datetime | None:
    stamp = campaign.metadata.creation_timestamp
    if stamp is not None:
        return stamp if isinstance(stamp, datetime) else None
    return campaign.status.start_time


# ---------------------------------------------------------------------- campaigns


def campaign_row(record: CampaignRecord) -> dict[str, Any]:
    campaign = record.campaign
    status, spec = campaign.status, campaign.spec
    best = status.best
    return {
        "name": record.name,
        "namespace": record.namespace,
        "url": campaign_url(record),
        "model": spec.base_model,
        "benchmark": spec.benchmark,
        "phase": str(status.phase),
        "baseline": _fmt(status.baseline.validation if status.baseline else None),
        "best": _fmt(best.validation if best else None),
        "test": _fmt(best.test if best else None),
        "iterations": len(status.iterations),
        "gpu_hours": _fmt((status.gpu_seconds or 0) / 3600),
        "llm_cost": f"${status.llm_cost or 0:.4f}",
        "age": _age(_created(campaign)),
    }


def campaign_grid(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch view from the campaigns' rows: one cell per (model, benchmark), the last
    campaign's best."""
    cells = {(row["model"], row["benchmark"]): row for row in rows}
    models = sorted({m for m, _ in cells})
    benchmarks = sorted({b for _, b in cells})
    return {
        "models": models,
        "benchmarks": benchmarks,
        "rows": [[cells.get((m, b)) for b in benchmarks] for m in models],
    }


# ---------------------------------------------------------------------- one campaign


M = TypeVar("M", bound=BaseModel)


def _read_model(path: Path | None, model: type[M]) -> M | None:
    """A result file of the workspace as its model; None when missing or not valid."""
    data = read_json(path) if path is not None else None
    try:
        return model.model_validate(data) if data is not None else None
    except ValidationError:
        return None


def _plan(record: CampaignRecord, iteration: int, repair_round: int) -> Plan | None:
    layout = record.layout
    return _read_model(layout and layout.plan_file(iteration, repair_round), Plan)


def _training(folder: Path | None) -> TrainingResult | None:
    return _read_model(folder and folder / "result.json", TrainingResult)


def _evaluation(
    record: CampaignRecord, iteration: int | None, split: Split, final: bool = False
) -> EvaluationResult | None:
    layout = record.layout
    return _read_model(layout and layout.eval_file(iteration, split, final=final), EvaluationResult)


@functools.lru_cache(maxsize=1024)
def _interval(index: int, item_scores: str, item_weights: str | None) -> tuple[float, float] | None:
    items = decode_item_scores(item_scores)
    if not items:
        return None
    return interval(items, decode_item_weights(item_weights), seed_key=f"it-{index}")


def score_interval(it: IterationStatus) -> tuple[float, float] | None:
    """The 90% bootstrap interval of an iteration's validation score (from its per-item
    scores; cached, since pages redraw every few seconds from the same status)."""
    if not it.item_scores:
        return None
    return _interval(it.index, it.item_scores, it.item_weights)


def scores_figure(record: CampaignRecord) -> dict[str, Any]:
    """Validation per iteration with its 90% bootstrap interval, the baseline as a line."""
    status = record.campaign.status
    done = [it for it in status.iterations if it.validation is not None]
    xs, ys, plus, minus, text = [], [], [], [], []
    for it in done:
        assert it.validation is not None
        xs.append(it.index)
        ys.append(it.validation)
        bounds = score_interval(it)
        plus.append(max(0.0, bounds[1] - it.validation) if bounds else 0.0)
        minus.append(max(0.0, it.validation - bounds[0]) if bounds else 0.0)
        verdict = "accepted" if it.accepted else "not accepted"
        text.append(f"{it.hypothesis or ''}<br>{verdict}")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers+lines",
            name="validation",
            error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True},
            hovertext=text,
        )
    )
    if status.best and status.best.iteration is not None and status.best.validation is not None:
        fig.add_trace(
            go.Scatter(
                x=[status.best.iteration],
                y=[status.best.validation],
                mode="markers",
                marker={"size": 14, "symbol": "star"},
                name="best",
            )
        )
    if status.baseline and status.baseline.validation is not None:
        fig.add_hline(
            y=status.baseline.validation,
            line_dash="dash",
            annotation_text=f"baseline {status.baseline.validation:.2f}",
        )
    fig.update_layout(
        xaxis_title="iteration",
        yaxis_title="validation score",
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
        height=320,
    )
    return json.loads(fig.to_json())


def loss_figure(record: CampaignRecord) -> dict[str, Any]:
    """Every iteration's training loss per step, on one chart."""
    fig = go.Figure()
    for it in record.campaign.status.iterations:
        result = _training(record.layout and record.layout.train_dir(it.index))
        if result is None or not result.loss_history:
            continue
        points = [p for p in result.loss_history if p.loss is not None]
        fig.add_trace(
            go.Scatter(
                x=[p.step for p in points],
                y=[p.loss for p in points],
                mode="lines+markers",
                name=f"iteration {it.index}",
            )
        )
    fig.update_layout(
        xaxis_title="step",
        yaxis_title="training loss",
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
        height=320,
    )
    return json.loads(fig.to_json())


def timeline(record: CampaignRecord) -> list[dict[str, Any]]:
    rows = []
    earliest = min((j.started for j in record.jobs if j.started), default=None)
    for job in sorted(record.jobs, key=lambda j: j.started or datetime.max.replace(tzinfo=UTC)):
        offset = (job.started - earliest).total_seconds() if job.started and earliest else None
        rows.append(
            {
                "name": job.name,
                "step": job.step,
                "iteration": "-" if job.iteration is None else job.iteration,
                "attempt": job.attempt,
                "retry": job.attempt > 0,
                "start": "-" if offset is None else f"+{offset:.0f}s",
                "seconds": _fmt(job.seconds, 1),
                "outcome": job.outcome,
                "message": job.message,
            }
        )
    return rows


OUTCOME_COLORS = {
    "succeeded": "#2da44e",
    "failed": "#cf222e",
    "running": "#bf8700",
    "interrupted": "#8250df",
    "pending": "#8c959f",
}


def timeline_figure(record: CampaignRecord) -> dict[str, Any]:
    """The steps as bars on a time axis (seconds since the first step started), one row per
    Job, coloured by outcome; retries are their own rows."""
    jobs = sorted((j for j in record.jobs if j.started is not None), key=lambda j: j.started or 0)
    fig = go.Figure()
    if jobs:
        first = jobs[0].started
        assert first is not None
        for outcome, color in OUTCOME_COLORS.items():
            chosen = [j for j in jobs if j.outcome == outcome]
            if not chosen:
                continue
            fig.add_trace(
                go.Bar(
                    y=[j.name for j in chosen],
                    x=[j.seconds or 0.0 for j in chosen],
                    base=[((j.started or first) - first).total_seconds() for j in chosen],
                    orientation="h",
                    name=outcome,
                    marker_color=color,
                    hovertext=[j.message[:200] for j in chosen],
                )
            )
    fig.update_layout(
        xaxis_title="seconds since the first step",
        yaxis={
            "autorange": "reversed",
            "categoryorder": "array",
            "categoryarray": [j.name for j in jobs],
        },
        barmode="overlay",
        height=max(200, 24 * len(jobs) + 80),
        margin={"l": 160, "r": 20, "t": 20, "b": 40},
    )
    return json.loads(fig.to_json())


def campaign_view(record: CampaignRecord) -> dict[str, Any]:
    campaign = record.campaign
    status = campaign.status
    iterations = []
    for it in status.iterations:
        bounds = score_interval(it)
        iterations.append(
            {
                "index": it.index,
                "url": f"{campaign_url(record)}/iterations/{it.index}",
                "phase": str(it.phase),
                "method": str(it.method or "-"),
                "hypothesis": it.hypothesis or "",
                "loss": _fmt(it.train_loss, 3),
                "validation": _fmt(it.validation),
                "interval": f"[{bounds[0]:.1f}, {bounds[1]:.1f}]" if bounds else "-",
                "accepted": it.accepted,
                "best": status.best is not None and status.best.iteration == it.index,
                "verdict": verdict(it),
                "repairs": it.repair_rounds,
            }
        )
    final = _evaluation(record, None, "test", final=True)
    return {
        "row": campaign_row(record),
        "spec": campaign.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "status": {
            "phase": str(status.phase),
            "message": status.message or "",
            "baseline_validation": _fmt(status.baseline.validation if status.baseline else None),
            "baseline_test": _fmt(status.baseline.test if status.baseline else None),
            "best_iteration": "-"
            if not status.best or status.best.iteration is None
            else status.best.iteration,
            "best_validation": _fmt(status.best.validation if status.best else None),
            "best_test": _fmt(status.best.test if status.best else None),
            "final_items": final.n_items if final else None,
        },
        "iterations": iterations,
        "conditions": [
            {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "since": str(c.last_transition_time),
            }
            for c in status.conditions
        ],
        "events": [
            {
                "time": "-" if e.time is None else e.time.strftime("%H:%M:%S"),
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "count": e.count,
            }
            for e in record.events
        ],
        "timeline": timeline(record),
        "figures": {
            "scores": scores_figure(record),
            "losses": loss_figure(record),
            "timeline": timeline_figure(record),
        },
        "where": record.where,
    }


def verdict(it: IterationStatus) -> str:
    """Why the iteration ended as it did, in words."""
    if it.accepted:
        detail = ""
        if it.comparison is not None and it.comparison.low is not None:
            c = it.comparison
            detail = f" (+{c.estimate:.2f} points, interval [{c.low:.2f}, {c.high:.2f}])"
        return "accepted as the new best" + detail
    if it.phase in ("Failed",):
        return f"failed: {it.message or 'see the logs'}"
    if it.comparison is not None and it.validation is not None:
        c = it.comparison
        if c.low is not None and c.high is not None:
            return (
                f"within noise: {c.estimate:+.2f} points, interval [{c.low:.2f}, {c.high:.2f}]"
                f", P(better) {c.p_better or 0:.2f}"
            )
        return f"not better ({c.estimate:+.2f} points)"
    if it.validation is not None:
        return "not better than the best"
    return str(it.phase)


# ---------------------------------------------------------------------- one iteration


def _config_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return ""
    a = json.dumps(before, indent=1, sort_keys=True).splitlines()
    b = json.dumps(after, indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "best", "this", lineterm="", n=1))


def _samples(record: CampaignRecord, iteration: int, repair_round: int) -> list[dict[str, str]]:
    if record.layout is None:
        return []
    data = read_json(record.layout.data_dir(iteration, repair_round) / "train.json")
    if not isinstance(data, list):
        return []
    out = []
    for row in data[:SAMPLES]:
        if isinstance(row, dict):
            out.append(
                {k: str(row.get(k, ""))[:SAMPLE_CHARS] for k in ("instruction", "input", "output")}
            )
    return out


def _json_lines(path: Any, limit: int = 500) -> list[dict]:
    calls: list[dict] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:limit]:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict):
                calls.append(item)
    return calls


def _gateway_calls(record: CampaignRecord, iteration: int, repair_round: int) -> list[dict]:
    if record.layout is None:
        return []
    return _json_lines(record.layout.round_dir(iteration, repair_round) / GATEWAY_LOG)


def _judge_calls(record: CampaignRecord, iteration: int) -> list[dict]:
    """The evaluation's LLM-judge calls (model, tokens, cost, latency, verdict; no text)."""
    if record.layout is None:
        return []
    folder = record.layout.eval_file(iteration, "validation").parent
    return _json_lines(folder / JUDGE_LOG)


def iteration_view(record: CampaignRecord, index: int) -> dict[str, Any] | None:
    status = record.campaign.status
    it = next((i for i in status.iterations if i.index == index), None)
    if it is None:
        return None
    best_plan = None
    if status.best and status.best.iteration is not None and status.best.iteration != index:
        best = next((i for i in status.iterations if i.index == status.best.iteration), None)
        if best is not None:
            best_plan = _plan(record, best.index, best.repair_rounds)
    rounds = []
    for repair_round in range(it.repair_rounds + 1):
        plan = _plan(record, index, repair_round)
        round_dir = record.layout.round_dir(index, repair_round) if record.layout else None
        smoke = _training(record.layout and record.layout.smoke_dir(index, repair_round))
        script = ""
        if round_dir is not None and (round_dir / SCRIPT_NAME).is_file():
            script = (round_dir / SCRIPT_NAME).read_text(errors="replace")[:SCRIPT_CHARS]
        calls = read_llm_calls(round_dir / LLM_CALLS_NAME) if round_dir else []
        rounds.append(
            {
                "round": repair_round,
                "plan": plan.model_dump(mode="json") if plan else None,
                "config": json.dumps(plan.training_config, indent=1, sort_keys=True)
                if plan
                else "",
                "diff": _config_diff(
                    best_plan.training_config if best_plan else None,
                    plan.training_config,
                )
                if plan
                else "",
                "samples": _samples(record, index, repair_round),
                "script": script,
                "llm_calls": [c.model_dump(mode="json") for c in calls],
                "gateway_calls": _gateway_calls(record, index, repair_round),
                "smoke": smoke.model_dump(mode="json") if smoke else None,
            }
        )
    train = _training(record.layout and record.layout.train_dir(index))
    train_log = ""
    if record.layout is not None:
        train_log = tail(record.layout.train_dir(index) / "train.log")
    evaluation = _evaluation(record, index, "validation")
    jobs = [j for j in record.jobs if j.iteration == index]
    return {
        "row": campaign_row(record),
        "campaign_url": campaign_url(record),
        "index": index,
        "phase": str(it.phase),
        "hypothesis": it.hypothesis or "",
        "method": str(it.method or "-"),
        "validation": _fmt(it.validation),
        "verdict": verdict(it),
        "message": it.message or "",
        "rounds": rounds,
        "train": train.model_dump(mode="json") if train else None,
        "train_log": train_log,
        "evaluation": {
            "score": evaluation.score,
            "n_items": evaluation.n_items,
            "metric": evaluation.metric,
            "wrong_answers": [w.model_dump(mode="json") for w in evaluation.wrong_answers[:20]],
            "judge_calls": _judge_calls(record, index),
        }
        if evaluation
        else None,
        "jobs": [
            {
                "name": j.name,
                "step": j.step,
                "outcome": j.outcome,
                "seconds": _fmt(j.seconds, 1),
                "log": tail(j.log, 80),
            }
            for j in jobs
        ],
        "losses": _iteration_losses(train, rounds),
    }


def _iteration_losses(train: TrainingResult | None, rounds: list[dict]) -> dict[str, Any]:
    fig = go.Figure()
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rounds:
        smoke = r["smoke"]
        if smoke:
            for p in smoke.get("loss_history") or []:
                if p.get("loss") is not None:
                    series[f"smoke (round {r['round']})"].append((p["step"], p["loss"]))
    if train is not None:
        series["training"] = [(p.step, p.loss) for p in train.loss_history if p.loss is not None]
    for name, points in series.items():
        fig.add_trace(
            go.Scatter(
                x=[s for s, _ in points], y=[v for _, v in points], name=name, mode="lines+markers"
            )
        )
    fig.update_layout(xaxis_title="step", yaxis_title="loss", height=280, margin={"t": 20, "b": 40})
    return json.loads(fig.to_json())
