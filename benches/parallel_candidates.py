"""Campaign wall time at parallelism 1, 2 and 4 with fixed-duration stand-in steps.

Runs the real lifecycle through the local executor (``ftctl run``'s), every step a stand-in
worker process that sleeps ``STEP_SECONDS`` and reports a valid result. Prints the wall time
per parallelism and its ratio to the sequential run (ideal: 1/parallelism for the loop part;
prepare, baseline and final stay sequential).

Usage: ``.venv/bin/python benches/parallel_candidates.py [iterations] [step_seconds]``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from ftapi.campaign import FineTuneCampaign
from ftoperator.lifecycle import Settings
from ftoperator.local import LocalPaths, LocalRun

STANDIN = Path(__file__).resolve().parents[1] / "tests" / "harness" / "standin.py"


def wall_time(parallelism: int, iterations: int, step_seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = root / "scenario.json"
        scenario.write_text(json.dumps({"*": {"sleep": step_seconds}}))
        campaign = FineTuneCampaign.model_validate(
            {
                "apiVersion": "ftagent.dev/v1alpha1",
                "kind": "FineTuneCampaign",
                "metadata": {"name": f"par{parallelism}"},
                "spec": {
                    "baseModel": "tiny",
                    "benchmark": "aime25",
                    "parallelism": parallelism,
                    "budget": {"maxIterations": iterations},
                },
            }
        )
        run = LocalRun.resume_or_start(
            campaign,
            LocalPaths(root / "cache", root / "ws", root / "state"),
            settings=Settings(),
            poll_seconds=0.05,
            command_for=lambda _r: [sys.executable, str(STANDIN)],
        )
        run.extra_env = {"FT_TEST_SCENARIO": str(scenario)}
        started = time.monotonic()
        final = run.run()
        assert final.status.phase == "Succeeded", final.status.message
        return time.monotonic() - started


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    step = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    print(
        f"{iterations} iterations, stand-in steps of {step:.1f}s "
        f"(4 steps per iteration + prepare, baseline, final)"
    )
    print(f"{'parallelism':>11} {'wall s':>7} {'ratio':>6} {'ideal':>6}")
    sequential = None
    for parallelism in (1, 2, 4):
        wall = wall_time(parallelism, iterations, step)
        sequential = sequential or wall
        loop_share = 4 * iterations / (4 * iterations + 3)
        ideal = (1 - loop_share) + loop_share / parallelism
        print(f"{parallelism:>11} {wall:>7.1f} {wall / sequential:>6.2f} {ideal:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
