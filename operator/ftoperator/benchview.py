"""What ``ftctl benchmarks KEY`` shows of one benchmark: its upstream evaluation files, how
items and splits are built, the metric, the split sizes (from a prepared cache when there is
one, else from upstream's size) and one rendered prompt."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from ftapi.catalog import Benchmark
from ftapi.evalsets import EvalRow, EvalSet, SourceRow, Splits, get_evalset
from ftapi.evalsets.base import head_tail
from ftapi.prompts import task_prompt
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.prepare import read_evaluation_set


def _layout(cache: Path) -> CampaignLayout:
    paths = MountPaths(
        models=str(cache / "models"), datasets=str(cache / "datasets"), workspace=str(cache)
    )
    return CampaignLayout(paths, "-", "-")


def prepared(cache: Path, key: str) -> tuple[list[EvalRow], Splits] | None:
    """The cache's evaluation set and its default splits (limits 100/100), if prepared."""
    layout = _layout(cache)
    items = read_evaluation_set(layout.benchmark_file(key))
    splits_file = layout.splits_file(key, 100, 100)
    if items is None or not splits_file.is_file():
        return None
    return items, Splits.model_validate_json(splits_file.read_text(encoding="utf-8"))


def example_item(evalset: EvalSet) -> EvalRow | None:
    if evalset.example is None:
        return None
    items = evalset.build([SourceRow(file=evalset.files[0], position=0, row=evalset.example)])
    return items[0] if items else None


def split_sizes(evalset: EvalSet, found: tuple[list[EvalRow], Splits] | None) -> str:
    if found is not None:
        items, splits = found
        return (
            f"{len(items)} items: validation {len(splits.validation)}, test {len(splits.test)} "
            f"(limits 100/100, sha256 {splits.sha256[:16]}; prepared cache)"
        )
    if evalset.upstream_size is not None and evalset.upstream_splits is not None:
        validation_size, test_size = evalset.upstream_splits
        return (
            f"{evalset.upstream_size} items upstream: validation {validation_size}, "
            f"test {test_size} (limits 100/100, cut per group)"
        )
    if evalset.upstream_size is None:
        return "known after prepare (upstream's size is not recorded here)"
    validation, test = head_tail(evalset.upstream_size, 100)
    return (
        f"{evalset.upstream_size} items upstream: validation {len(validation)}, "
        f"test {len(test)} (limits 100/100)"
    )


def show(console: Console, bench: Benchmark, cache: Path, description: str) -> None:
    evalset = get_evalset(bench.key)
    found = prepared(cache, bench.key)
    table = Table(show_header=False, title=f"{bench.key} ({bench.domain})", expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("evaluation set", evalset.repo)
    table.add_row("files", "\n".join(evalset.files))
    if evalset.shots_files:
        table.add_row(f"{bench.shots}-shot examples", "\n".join(evalset.shots_files))
    table.add_row("items", evalset.question_note)
    table.add_row("splits", evalset.split_note)
    table.add_row("split sizes", split_sizes(evalset, found))
    table.add_row("metric", f"{bench.metric} — {bench.metric_note}")
    table.add_row("answer format", str(bench.answer_format))
    table.add_row("training datasets", ", ".join(bench.datasets))
    table.add_row("sources", "\n".join(evalset.sources))
    console.print(table)
    if found is not None:
        items, splits = found
        first = {item.id: item for item in items}[splits.validation[0]]
        origin = f"first validation item, {first.id}"
    else:
        example = example_item(evalset)
        first, origin = example, "a made-up item in the upstream layout"
    if first is None:
        console.print("no prompt to show: prepare the benchmark into --cache first")
        return
    prompt = task_prompt(description, first.question)
    console.print(
        Panel(
            Group(prompt, f"\n[bold]gold:[/bold] {first.answer}"),
            title=f"prompt ({origin})",
        )
    )
