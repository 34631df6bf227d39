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
DEFAULT_CACHE = Path.home() / ".cache" / "ft-operator" / "cache"

REPO_ROOT = Path(__file__).resolve().parents[2]


CRD_DIRS = (REPO_ROOT / "crds", REPO_ROOT / "helm" / "ft-operator" / "crds")
"""Where the CRD lives: crds/ and the Helm chart's copy (kept identical)."""


@app.command()
def crds(
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Write only here (default: crds/ and the chart's crds/)."
    ),
    check: bool = typer.Option(
        False, "--check", help="Exit 1 if a file on disk differs from the models."
    ),
) -> None:
    """Generate the FineTuneCampaign CRD from the API models."""
    from ftapi.crd import CRD_FILENAME, render_crd_yaml

    rendered = render_crd_yaml()
    targets = [d / CRD_FILENAME for d in ([output_dir] if output_dir else CRD_DIRS)]
    stale = []
    for target in targets:
        current = target.read_text() if target.exists() else ""
        if check:
            if current != rendered:
                stale.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered)
        console.print(f"wrote {target}")
    if stale:
        for target in stale:
            err_console.print(f"[red]{target} is out of date: run `ftctl crds`[/red]")
        raise typer.Exit(1)
    if check:
        console.print("CRDs are up to date")


@app.command()
def benchmarks(
    key: str | None = typer.Argument(None, help="Show one benchmark in full."),
    cache: Path = typer.Option(
        DEFAULT_CACHE, help="A cache prepared by `ftctl run`: split sizes and a real prompt."
    ),
) -> None:
    """List the benchmark catalog (or describe one benchmark: its upstream evaluation files,
    how items and splits are built, the metric, the split sizes and one rendered prompt)."""
    from ftapi.catalog import BENCHMARKS, DATASETS, UnknownKeyError, get_benchmark
    from ftoperator.benchview import show

    if key is not None:
        try:
            bench = get_benchmark(key)
        except UnknownKeyError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        show(console, bench, cache, bench.description)
        return

    table = Table(title="Benchmark catalog")
    for column in ("Key", "Domain", "Datasets", "Eval set", "Answer format", "Metric"):
        table.add_column(column, overflow="fold")
    for bench in BENCHMARKS.values():
        table.add_row(
            bench.key,
            str(bench.domain),
            ", ".join(bench.datasets),
            bench.eval_hf_id,
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


def _progress_table(campaign, started: float):
    import time

    from rich.table import Table as RichTable

    status = campaign.status
    elapsed = int(time.monotonic() - started)
    current = status.active_job or next(
        (it.job for it in reversed(status.iterations) if it.job), None
    )
    title = (
        f"{campaign.metadata.name}: {status.phase} | step {current or '-'} | "
        f"iteration {status.current_iteration if status.current_iteration is not None else '-'}"
        f" | {elapsed // 60}m{elapsed % 60:02d}s"
    )
    table = RichTable(title=title, caption=status.message or "")
    for column in ("#", "phase", "method", "hypothesis", "loss", "validation", "best"):
        table.add_column(column, overflow="fold")
    baseline = status.baseline
    if baseline is not None:
        table.add_row(
            "base",
            "-",
            "-",
            "base model",
            "-",
            f"{baseline.validation:.2f}",
            "*" if status.best and status.best.iteration is None else "",
        )
    for it in status.iterations:
        table.add_row(
            str(it.index),
            str(it.phase),
            str(it.method or "-"),
            (it.hypothesis or it.message or "")[:60],
            "-" if it.train_loss is None else f"{it.train_loss:.3f}",
            "-" if it.validation is None else f"{it.validation:.2f}",
            "*" if status.best and status.best.iteration == it.index else "",
        )
    return table


@app.command()
def run(
    manifest: Path = typer.Argument(
        ..., exists=True, readable=True, help="A FineTuneCampaign manifest."
    ),
    cache: Path = typer.Option(DEFAULT_CACHE, help="Model and dataset cache (reused)."),
    workdir: Path = typer.Option(Path(".ftctl"), help="Workspace and run state."),
    quiet: bool = typer.Option(False, help="No live table."),
    retry_failed: bool = typer.Option(
        False,
        "--retry-failed",
        help="A Failed run retries its failed step (finished steps are kept), like the "
        "ftagent.dev/resume annotation on a cluster.",
    ),
) -> None:
    """Run a whole campaign on this machine: the operator's state machine with local
    processes instead of Jobs. Interrupt it any time; the same command resumes."""
    import time

    from rich.live import Live

    from ftoperator.local import LocalPaths, LocalRun
    from ftoperator.manifest import ManifestError, load_campaign
    from ftoperator.report import write_report

    try:
        campaign = load_campaign(manifest)
    except ManifestError as exc:
        err_console.print(f"[red]invalid manifest[/red] {manifest}:\n{exc}")
        raise typer.Exit(2) from exc
    name = campaign.metadata.name or manifest.stem
    campaign.metadata.name = name
    paths = LocalPaths(
        cache=cache.resolve(),
        workspace=(workdir / "workspace").resolve(),
        state=(workdir / "runs" / name).resolve(),
    )
    started = time.monotonic()
    runner = LocalRun.resume_or_start(campaign, paths, retry_failed=retry_failed)
    try:
        if quiet:
            final = runner.run()
        else:
            with Live(
                _progress_table(runner.campaign, started), console=console, refresh_per_second=2
            ) as live:
                runner.on_decision = lambda c, _d: live.update(_progress_table(c, started))
                final = runner.run()
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted; state kept in {paths.state}. Run the same command to resume."
        )
        raise typer.Exit(130) from None
    report = write_report(final, paths.mounts(), paths.state)
    console.print(report.read_text())
    console.print(f"report: {report} (plot: {report.with_suffix('.png')})")
    console.print(f"dashboard: ftctl ui {workdir}  (then open http://127.0.0.1:8080)")
    if final.status.phase != "Succeeded":
        raise typer.Exit(1)


@app.command()
def ui(
    folder: Path = typer.Argument(
        Path(".ftctl"), help="The work folder of `ftctl run` / `ftctl demo` (its runs/)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    cluster: bool = typer.Option(
        False, help="Show the cluster's campaigns (kubeconfig, or in-cluster) instead."
    ),
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="With --cluster: only these namespaces (default: all)."
    ),
    workspace: Path | None = typer.Option(
        None, help="With --cluster: where the workspace claim is mounted (read-only)."
    ),
    refresh_ms: int = typer.Option(2000, min=250, help="How often pages refresh themselves."),
) -> None:
    """A read-only web dashboard of campaigns: scores, loss curves, timelines, plans, data,
    LLM calls, logs. Pages update while a campaign runs."""
    import uvicorn

    from ftoperator.dashboard.app import create_app
    from ftoperator.dashboard.sources import ClusterSource, LocalSource, Source

    source: Source
    if cluster:
        from kubernetes import config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        from kubernetes import client

        source = ClusterSource(client.ApiClient(), namespaces=namespace, workspace=workspace)
        where = "cluster"
    else:
        if not (folder / "runs").is_dir():
            err_console.print(
                f"[yellow]{folder} has no runs/ yet[/yellow]: start one with `ftctl demo` or "
                "`ftctl run`; the dashboard shows it as soon as it appears."
            )
        source = LocalSource(folder.resolve())
        where = f"local: {folder}"
    console.print(f"dashboard on http://{host}:{port} ({where})")
    uvicorn.run(create_app(source, where=where, refresh_ms=refresh_ms), host=host, port=port)


@app.command()
def demo(
    cache: Path = typer.Option(
        DEFAULT_CACHE.parent / "demo-cache", help="Where the tiny model and toy data are made."
    ),
    workdir: Path = typer.Option(Path(".ftctl"), help="Workspace and run state."),
    iterations: int = typer.Option(2, min=1, help="Experiments to run."),
    quiet: bool = typer.Option(False, help="No live table."),
) -> None:
    """Make a tiny local model, a toy benchmark and dataset (no downloads), write
    demo.yaml and run it end to end with real LLaMA-Factory and OpenCompass on CPU."""
    from ftoperator.demo import build_demo_assets, write_demo_manifest

    console.print(f"making demo assets in {cache} ...")
    build_demo_assets(cache)
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = write_demo_manifest(workdir / "demo.yaml", iterations=iterations)
    console.print(f"wrote {manifest}")
    run(manifest, cache=cache, workdir=workdir, quiet=quiet)


@app.command()
def batch(
    tasks: Path = typer.Argument(
        ..., exists=True, readable=True, help="Task file: rows of model and benchmark (YAML/JSON)."
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Write one <name>.yaml per campaign here (else stdout)."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="metadata.namespace of every campaign (overrides the file)."
    ),
) -> None:
    """Render one FineTuneCampaign manifest per (model, benchmark) row of a task file, for
    `kubectl apply` or git (the paper's tasks.json workflow)."""
    from ftoperator.batch import (
        BatchError,
        dump_multi,
        load_task_file,
        render_batch,
        write_campaigns,
    )

    try:
        campaigns = render_batch(load_task_file(tasks), namespace=namespace)
    except BatchError as exc:
        err_console.print(f"[red]invalid task file[/red] {tasks}:\n{exc}")
        raise typer.Exit(2) from exc
    if output_dir is None:
        typer.echo(dump_multi(campaigns), nl=False)
        return
    paths = write_campaigns(campaigns, output_dir)
    err_console.print(f"wrote {len(paths)} campaign(s) to {output_dir}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
