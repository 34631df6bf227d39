"""Assets for ``ftctl demo``: a tiny local model, a toy benchmark and a toy raw dataset, made
on this machine with no download, in the same cache layout the prepare step fills.

The toy task keeps the benchmark's real format (aime25: an integer in ``\\boxed{}``) but is
learnable by a 100k-parameter model in a few hundred CPU steps: most answers are the same
number, so a model that learns the output format and the common answer beats the base
model, which has never seen the format. The training questions never repeat evaluation
questions (the agent's leak check would drop them).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from ftapi.evalsets import EvalRow
from ftapi.steps import MountPaths
from ftapi.workspace import CampaignLayout
from ftoperator.prepare import install_evaluation_set, read_evaluation_set

DEMO_MODEL = "tiny-qwen"
DEMO_BENCHMARK = "aime25"
DEMO_DATASET = "deepscaler"
COMMON_ANSWER = 7


def _question(rng: random.Random, tag: str) -> tuple[str, int]:
    a, b = rng.randint(1, 50), rng.randint(1, 50)
    answer = COMMON_ANSWER if rng.random() < 0.8 else rng.randint(0, 9)
    return f"Puzzle {tag}: given {a} and {b}, what is the key?", answer


def build_demo_assets(
    cache: Path, seed: int = 0, eval_items: int = 40, train_rows: int = 64
) -> None:
    """Fills ``cache`` (models/ and datasets/) unless already done."""
    paths = MountPaths(
        models=str(cache / "models"),
        datasets=str(cache / "datasets"),
        workspace=str(cache / "unused"),
    )
    layout = CampaignLayout(paths, "demo", "demo")
    model_dir = layout.base_model_dir(DEMO_MODEL)
    if not (model_dir / "config.json").exists():
        from fttrainer.tiny_model import build_tiny_model

        build_tiny_model(model_dir, seed=seed)
    rng = random.Random(seed)
    if read_evaluation_set(layout.benchmark_file(DEMO_BENCHMARK)) is None:
        items = []
        for i in range(eval_items):
            q, a = _question(rng, f"E{i}")
            items.append(EvalRow(id=f"demo-{i}", question=q, answer=str(a), keys=[q]))
        install_evaluation_set(layout, DEMO_BENCHMARK, items)
    raw = layout.raw_dataset_dir(DEMO_DATASET)
    if not (raw / "deepscaler.json").exists():
        raw.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(train_rows):
            q, a = _question(rng, f"T{i}")
            rows.append({"problem": q, "solution": f"The key is {a}.", "answer": str(a)})
        # DeepScaleR's real layout: one JSON array, deepscaler.json, at the repository root.
        (raw / "deepscaler.json").write_text(json.dumps(rows))
        (raw / ".ftagent-complete").write_text("ok\n")


def demo_manifest(name: str = "demo", iterations: int = 2) -> dict:
    return {
        "apiVersion": "ftagent.dev/v1alpha1",
        "kind": "FineTuneCampaign",
        "metadata": {"name": name},
        "spec": {
            "baseModel": DEMO_MODEL,
            "benchmark": DEMO_BENCHMARK,
            "benchmarkDescription": (
                "Toy puzzles in the AIME answer format. Each answer is an integer from 0 to "
                "999. Expected Output Format: put the final answer within \\boxed{}, for "
                "example \\boxed{42}."
            ),
            "budget": {
                "maxIterations": iterations,
                "timeout": "2h",
                "upperDataSizeLimit": 200,
                "maxRepairRounds": 2,
            },
            "training": {"gpus": 0},
            "evaluation": {"gpus": 0, "validationLimit": 20, "testLimit": 20, "maxOutLen": 32},
        },
    }


def write_demo_manifest(path: Path, **kwargs) -> Path:
    path.write_text(yaml.safe_dump(demo_manifest(**kwargs), sort_keys=False))
    return path
