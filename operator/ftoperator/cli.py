"""``ftctl``: the command-line entry point (console script in pyproject.toml).

Commands import what they need lazily, so ``ftctl benchmarks`` starts fast and works
without the operator's heavy dependencies.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="ftctl",
    help="FT-Agent Operator: autonomous, benchmark-driven LLM fine-tuning.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

REPO_ROOT = Path(__file__).resolve().parents[2]


@app.command()
def crds(
    output_dir: Path = typer.Option(
        REPO_ROOT / "crds", "--output-dir", "-o", help="Folder to write the CRD YAML into."
    ),
    check: bool = typer.Option(
        False, "--check", help="Exit 1 if the file on disk differs from the models."
    ),
) -> None:
    """Generate the FineTuneCampaign CRD from the API models."""
    from ftapi.crd import CRD_FILENAME, render_crd_yaml

    target = output_dir / CRD_FILENAME
    rendered = render_crd_yaml()
    if check:
        current = target.read_text() if target.exists() else ""
        if current != rendered:
            err_console.print(f"[red]{target} is out of date: run `ftctl crds`[/red]")
            raise typer.Exit(1)
        console.print(f"{target} is up to date")
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered)
    console.print(f"wrote {target}")


@app.command()
def benchmarks(
    key: str | None = typer.Argument(None, help="Show one benchmark in full."),
) -> None:
    """List the benchmark catalog (or describe one benchmark)."""
    from ftapi.catalog import BENCHMARKS, DATASETS, UnknownKeyError, get_benchmark

    if key is not None:
        try:
            bench = get_benchmark(key)
        except UnknownKeyError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        table = Table(show_header=False, title=bench.key)
        for name, value in bench.model_dump().items():
            table.add_row(name, str(value))
        console.print(table)
        return

    table = Table(title="Benchmark catalog")
    for column in ("Key", "Domain", "Datasets", "Eval set", "Answer format", "Metric"):
        table.add_column(column, overflow="fold")
    for bench in BENCHMARKS.values():
        table.add_row(
            bench.key,
            str(bench.domain),
            ", ".join(bench.datasets),
            bench.eval_hf_id + (f" [{bench.eval_subset}]" if bench.eval_subset else ""),
            str(bench.answer_format),
            str(bench.metric),
        )
    console.print(table)
    datasets = Table(title="Raw training datasets")
    for column in ("Key", "Hugging Face id", "Notes"):
        datasets.add_column(column, overflow="fold")
    for ds in DATASETS.values():
        datasets.add_row(ds.key, ds.hf_id, ds.description)
    console.print(datasets)


@app.command()
def validate(manifest: Path = typer.Argument(..., exists=True, readable=True)) -> None:
    """Check a FineTuneCampaign manifest against the API models (what the API server checks
    and more: catalog keys, planner settings)."""
    from ftoperator.manifest import ManifestError, load_campaign

    try:
        campaign = load_campaign(manifest)
    except ManifestError as exc:
        err_console.print(f"[red]invalid manifest[/red] {manifest}:\n{exc}")
        raise typer.Exit(2) from exc
    console.print(
        f"[green]ok[/green] {campaign.metadata.name or '(unnamed)'}: "
        f"{campaign.spec.base_model} on {campaign.spec.benchmark}, "
        f"datasets {', '.join(campaign.spec.resolved_datasets())}"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
