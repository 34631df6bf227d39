"""Every catalog benchmark on files in its real upstream layout, end to end through the parts
that touch data: the real prepare step downloads from a fake Hub (huggingface_hub over HTTP),
the splits hold exactly the recorded items, the benchmark's adapter gives a gold reply 100 and
a wrong reply a low score, and the default datasets' built-in recipes build training data that
holds no evaluation item.

The files come from ``fixtures.hub_layouts.<family>`` (generated in the upstream layouts; each
family's own tests check the layout details and the scorer against hand-computed values).
"""

from __future__ import annotations

import importlib
import json
import urllib.parse
from pathlib import Path
from types import ModuleType

import pytest

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import BENCHMARKS, get_dataset
from ftapi.evalsets import EvalRow, Splits, get_evalset
from ftapi.leakindex import LeakMatcher, build_leak_index
from ftapi.workspace import CampaignLayout
from fteval.adapters import EvalItem, get_adapter
from harness.fake_hub import FakeHub
from harness.prepare import run_prepare

FAMILIES = {
    "aime": "aime",
    "panorama": "panorama",
    "chemcotbench": "chemcot",
    "tablebench": "tablebench",
    "FinanceIQ": "financeiq",
    "bioprobench": "bioprobench",
}
MODEL = "tiny-local"
TOKENS = TokenCounter()


def family(benchmark: str) -> ModuleType:
    prefix = "aime" if benchmark.startswith("aime") else benchmark.split("_")[0]
    return importlib.import_module(f"fixtures.hub_layouts.{FAMILIES[prefix]}")


def read_items(layout: CampaignLayout, benchmark: str) -> list[EvalRow]:
    lines = layout.benchmark_file(benchmark).read_text(encoding="utf-8").splitlines()
    return [EvalRow.model_validate_json(line) for line in lines if line.strip()]


def served(hub: FakeHub) -> set[tuple[str, str]]:
    """(repo, path) of every file the fake Hub handed out."""
    out = set()
    for request in hub.requests:
        path = urllib.parse.unquote(urllib.parse.urlsplit(request.split(" ", 1)[-1]).path)
        if "/resolve/" not in path:
            continue
        repo, _, rest = path.removeprefix("/datasets/").partition("/resolve/")
        out.add((repo, rest.split("/", 1)[1]))
    return out


def judge_all(benchmark: str, items: list[EvalRow], reply) -> float:
    adapter = get_adapter(benchmark)
    judgements = [
        adapter.judge(
            reply(benchmark, item),
            EvalItem(index=i, question=item.question, answer=item.answer, extra=item.extra),
        )
        for i, item in enumerate(items)
    ]
    metrics = adapter.aggregate(judgements)
    return metrics[BENCHMARKS[benchmark].metric.value]


def prepared(tmp_path: Path, benchmark: str, oracle_env: dict[str, str]):
    fx = family(benchmark)
    models = tmp_path / "models" / MODEL
    models.mkdir(parents=True)
    (models / "config.json").write_text('{"model_type": "qwen2"}')
    with FakeHub() as hub:
        for repo, files in fx.repos().items():
            hub.add("dataset", repo, files)
        result, layout = run_prepare(
            tmp_path, hub, env=oracle_env, baseModel=MODEL, benchmark=benchmark
        )
        files = served(hub)
    return fx, result, layout, files


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_benchmark_works_on_its_real_layout(
    benchmark: str, tmp_path: Path, oracle_env: dict[str, str]
) -> None:
    fx, result, layout, files = prepared(tmp_path, benchmark, oracle_env)
    assert result.ok, result.message
    evalset = get_evalset(benchmark)

    # Only the layout's evaluation files (and the default datasets) were downloaded.
    bench_files = {path for repo, path in files if repo == evalset.repo}
    training = {get_dataset(key).hf_id for key in BENCHMARKS[benchmark].datasets}
    if evalset.repo not in training:
        assert bench_files == {*evalset.files, *evalset.shots_files}

    # The splits are the recorded ones: disjoint, as large as upstream cuts them, hashed.
    items = read_items(layout, benchmark)
    by_id = {item.id: item for item in items}
    splits = Splits.model_validate_json(layout.splits_file(benchmark, 100, 100).read_text())
    summary = result.evaluation_set
    assert summary is not None and summary.sha256 == splits.sha256
    assert (summary.items, summary.validation, summary.test) == (
        len(items),
        len(splits.validation),
        len(splits.test),
    )
    assert not set(splits.validation) & set(splits.test)
    groups: dict[str | None, int] = {}
    for item in items:
        groups[item.group] = groups.get(item.group, 0) + 1
    assert len(splits.validation) == sum(min(100, n // 2) for n in groups.values()) > 0
    scored = [by_id[i] for i in [*splits.validation, *splits.test]]

    # The official scorer: a gold reply scores 100, a wrong one low.
    assert judge_all(benchmark, scored, fx.gold_reply) == pytest.approx(100.0)
    assert judge_all(benchmark, scored, fx.wrong_reply) < 50.0

    # Training data from the default datasets holds no evaluation item.
    exclude = frozenset(json.loads(layout.exclusion_file(benchmark).read_text())["fingerprints"])
    leaks = LeakMatcher(build_leak_index(benchmark, [item.question for item in items]))
    excluded = 0
    for key in BENCHMARKS[benchmark].datasets:
        raw = discover(get_dataset(key), layout.raw_dataset_dir(key))
        run = RecipeRun(
            benchmark=BENCHMARKS[benchmark],
            limit=200,
            seed=1,
            tokens=TOKENS,
            max_tokens=1_000_000,
            exclude=exclude,
        )
        built = get_recipe(key).build(raw, run)
        assert built.records, built.summary()
        excluded += built.excluded
        for record in built.records:
            assert record.instruction.strip() and record.output.strip()
            assert not leaks.leaks(record.instruction, record.input, record.output), (
                record.instruction[:200]
            )
    assert excluded > 0, "the fixture plants evaluation items in the training data"
