"""Reading the campaign's history from the workspace."""

from __future__ import annotations

from pathlib import Path

from ftagent.history import load_history
from ftagent.pipeline import run_step
from ftapi.results import FailureKind, TrainingResult

from .workspace import layout_of, make_request, read_plan, record_iteration, write


def test_history_collects_plans_scores_and_smoke_failures(tmp_path: Path) -> None:
    first = make_request(tmp_path, "aime25")
    assert run_step(first).ok
    layout = layout_of(first)
    write(
        layout.smoke_dir(0, 0) / "result.json",
        TrainingResult(mode="smoke", ok=False, failure=FailureKind.OOM, message="oom"),
    )
    repair = make_request(tmp_path, "aime25", repair_round=1)
    assert run_step(repair).ok
    record_iteration(layout, read_plan(repair), score=20.0, losses=[1.0, 0.5])
    second = make_request(tmp_path, "aime25", iteration=1)
    assert run_step(second).ok
    record_iteration(layout, read_plan(second), score=10.0)
    # A corrupt file is skipped, not fatal.
    layout.eval_file(None, "validation").parent.mkdir(parents=True)
    layout.eval_file(None, "validation").write_text("{not json")

    history = load_history(layout, iteration=2, repair_round=0)
    assert [it.index for it in history.iterations] == [0, 1]
    it0 = history.iterations[0]
    assert [r.index for r in it0.rounds] == [0, 1]
    assert it0.rounds[0].smoke is not None and it0.rounds[0].smoke.failure is FailureKind.OOM
    assert it0.plan is not None and it0.plan.repair_round == 1  # the plan that was trained
    assert it0.train is not None and it0.train.final_loss == 0.5
    best = history.best()
    assert best is not None and best.index == 0 and best.score == 20.0
    assert history.baseline is None
    assert len(history.plans()) == 3
    assert history.llm_spent == 0.0


def test_current_iteration_rounds_stop_at_the_requested_round(tmp_path: Path) -> None:
    first = make_request(tmp_path, "aime25")
    assert run_step(first).ok
    layout = layout_of(first)
    assert load_history(layout, 0, 0).current_rounds == []
    history = load_history(layout, 0, 1)
    previous = history.previous_round()
    assert previous is not None and previous.index == 0 and previous.plan is not None
    assert previous.smoke is None
