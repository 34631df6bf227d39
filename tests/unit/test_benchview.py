"""`ftctl benchmarks KEY`: the upstream files, rules, metric, split sizes and one prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftapi.catalog import BENCHMARKS
from ftapi.evalsets import EVALSETS, EvalRow
from ftapi.prompts import task_prompt
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.benchview import example_item
from ftoperator.cli import app
from ftoperator.prepare import install_evaluation_set

RUNNER = CliRunner()


def show(key: str, cache: Path) -> str:
    result = RUNNER.invoke(app, ["benchmarks", key, "--cache", str(cache)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("key", sorted(BENCHMARKS))
def test_every_benchmark_shows_its_files_metric_sizes_and_a_rendered_prompt(
    key: str, tmp_path: Path
) -> None:
    out = show(key, tmp_path)
    evalset = EVALSETS[key]
    for name in evalset.files:
        assert name in out
    assert str(BENCHMARKS[key].metric) in out
    if evalset.upstream_size is not None:
        assert f"{evalset.upstream_size} items upstream" in out
    else:
        assert "known after prepare" in out
    item = example_item(evalset)
    assert item is not None, f"{key}: no example row to render"
    first_line = task_prompt(BENCHMARKS[key].description, item.question).splitlines()[0]
    assert first_line[:60] in out


def test_a_prepared_cache_gives_the_real_sizes_hash_and_first_validation_prompt(
    tmp_path: Path,
) -> None:
    paths = MountPaths(
        models=str(tmp_path / "models"), datasets=str(tmp_path / "datasets"), workspace="/x"
    )
    items = [
        EvalRow(id=f"t{i}", question=f"Toy question number {i}?", answer=str(i)) for i in range(9)
    ]
    splits = install_evaluation_set(CampaignLayout(paths, "-", "-"), "aime25", items)
    out = show("aime25", tmp_path)
    assert "9 items: validation 4, test 4" in out and splits.sha256[:16] in out
    assert "Toy question number 0?" in out and "first validation item, t0" in out


def test_unknown_key_suggests_the_closest() -> None:
    result = RUNNER.invoke(app, ["benchmarks", "aime2025"])
    assert result.exit_code == 2 and "aime25" in result.output
