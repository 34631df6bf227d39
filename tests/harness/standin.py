"""A stand-in worker for the operator's cluster tests: plays any step (prepare, agent, smoke,
train, eval) without a GPU, following a per-test scenario file.

The test kubelet runs it in place of the real image. It reads the real
:class:`~ftapi.steps.StepRequest` and writes a real :class:`~ftapi.results.StepResult` to
``$FT_TERMINATION_LOG``. The scenario (``$FT_TEST_SCENARIO``, a JSON file) maps job-name glob
patterns to behaviour; the first match wins:

    {"demo-smoke-0-r0-*": {"ok": false, "failure": "config", "message": "bad rank"},
     "demo-train-*": {"sleep": 30},
     "demo-eval-1-*": {"scores": {"validation": 50}}}

Keys: ok, failure, message, scores, sleep (seconds before finishing), exit (exit code without
writing a result), raw (write this text as the termination message).
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import time
from pathlib import Path

from ftapi.results import StepResult
from ftapi.steps import StepKind, StepRequest


def default_result(request: StepRequest) -> dict:
    step, it = request.step, request.iteration or 0
    if step is StepKind.BASELINE:
        return {"scores": {"validation": 10.0, "test": 8.0}, "metric": "accuracy"}
    if step is StepKind.AGENT:
        return {
            "hypothesis": f"hypothesis {it}.{request.repair_round}",
            "method": "lora",
            "samples": 100,
            "llm_cost": 0.0,
        }
    if step in (StepKind.SMOKE, StepKind.TRAIN):
        return {"train_loss": 1.0 / (it + 1), "steps": 10}
    if step is StepKind.EVAL:
        return {"scores": {"validation": 10.0 + 5.0 * it}, "metric": "accuracy"}
    if step is StepKind.FINAL:
        return {"scores": {"test": 20.0 + (request.iteration or 0)}, "metric": "accuracy"}
    return {"message": "caches already complete"}


def main() -> int:
    request = StepRequest.model_validate_json(os.environ["FT_STEP_REQUEST"])
    job = os.environ.get("FT_TEST_JOB") or Path.cwd().name
    scenario_file = os.environ.get("FT_TEST_SCENARIO")
    behaviour: dict = {}
    if scenario_file and Path(scenario_file).exists():
        for pattern, spec in json.loads(Path(scenario_file).read_text()).items():
            if fnmatch.fnmatch(job, pattern):
                behaviour = spec
                break
    if behaviour.get("sleep"):
        time.sleep(float(behaviour["sleep"]))
    out = Path(os.environ["FT_TERMINATION_LOG"])
    if "exit" in behaviour:
        return int(behaviour["exit"])
    if "raw" in behaviour:
        out.write_text(behaviour["raw"])
        return 1
    fields = default_result(request)
    fields.update(
        {
            k: v
            for k, v in behaviour.items()
            if k in ("ok", "failure", "message", "scores", "hypothesis", "train_loss")
        }
    )
    result = StepResult(step=request.step, **{"ok": True, **fields})
    out.write_text(result.dump_message())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
