"""The final report of a campaign: Markdown plus a PNG of validation scores per iteration and
training-loss curves. Written by ``ftctl run`` (and ``ftctl report``) from the campaign's
status and the training results on the workspace."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ftapi.campaign import FineTuneCampaign
from ftapi.results import TrainingResult
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def loss_curves(
    campaign: FineTuneCampaign, paths: MountPaths
) -> dict[int, list[tuple[int, float]]]:
    layout = CampaignLayout(
        paths, campaign.metadata.namespace or "local", campaign.metadata.name or "campaign"
    )
    curves: dict[int, list[tuple[int, float]]] = {}
    for it in campaign.status.iterations:
        path = layout.train_dir(it.index) / "result.json"
        if not path.exists():
            continue
        try:
            result = TrainingResult.model_validate_json(path.read_text())
        except ValidationError:
            continue
        points = [(p.step, p.loss) for p in result.loss_history if p.loss is not None]
        if points:
            curves[it.index] = points
    return curves


def render_markdown(campaign: FineTuneCampaign, plot_name: str | None = None) -> str:
    status = campaign.status
    spec = campaign.spec
    baseline = status.baseline
    best = status.best
    lines = [
        f"# Campaign {campaign.metadata.name}",
        "",
        f"- base model: `{spec.base_model}`",
        f"- benchmark: `{spec.benchmark}` (datasets: {', '.join(spec.resolved_datasets())})",
        f"- phase: **{status.phase}** — {status.message or ''}",
        f"- baseline: validation {_fmt(baseline.validation if baseline else None)}, "
        f"test {_fmt(baseline.test if baseline else None)}",
    ]
    if best is not None:
        which = "base model" if best.iteration is None else f"iteration {best.iteration}"
        lines.append(f"- best: {which}, validation {_fmt(best.validation)}, test {_fmt(best.test)}")
    lines += [
        f"- GPU-seconds: {status.gpu_seconds:.0f}, LLM cost: ${status.llm_cost:.4f}",
        "",
        "| iteration | phase | method | hypothesis | train loss | validation | accepted |",
        "|---|---|---|---|---|---|---|",
    ]
    for it in status.iterations:
        hypothesis = (it.hypothesis or it.message or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {it.index} | {it.phase} | {it.method or '-'} | {hypothesis[:120]} | "
            f"{_fmt(it.train_loss)} | {_fmt(it.validation)} | "
            f"{'yes' if it.accepted else 'no' if it.accepted is False else '-'} |"
        )
    if plot_name:
        lines += ["", f"![validation and training loss]({plot_name})"]
    return "\n".join(lines) + "\n"


def render_plot(campaign: FineTuneCampaign, paths: MountPaths, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    its = [it for it in campaign.status.iterations if it.validation is not None]
    left.plot([it.index for it in its], [it.validation for it in its], "o-", label="iteration")
    baseline = campaign.status.baseline
    if baseline is not None and baseline.validation is not None:
        left.axhline(baseline.validation, color="grey", linestyle="--", label="baseline")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("iteration")
    left.set_ylabel(f"validation ({campaign.spec.benchmark})")
    left.set_title("Validation score per iteration")
    left.legend()
    for index, points in loss_curves(campaign, paths).items():
        right.plot([p[0] for p in points], [p[1] for p in points], label=f"iteration {index}")
    right.set_xlabel("step")
    right.set_ylabel("training loss")
    right.set_title("Training loss")
    if right.lines:
        right.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_report(campaign: FineTuneCampaign, paths: MountPaths, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plot = render_plot(campaign, paths, folder / "report.png")
    report = folder / "report.md"
    report.write_text(render_markdown(campaign, plot.name))
    return report
