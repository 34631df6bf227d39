"""The trainer pod's entrypoint: one smoke or full training run of one iteration's plan.

Reads the :class:`ftapi.steps.StepRequest` from ``FT_STEP_REQUEST`` (step ``smoke`` or
``train``), the plan from ``CampaignLayout.plan_file(iteration, repair_round)`` and the data
from the round's ``data/`` folder; renders the LLaMA-Factory config
(:mod:`fttrainer.config`), checks the data (:mod:`fttrainer.preflight`), runs
``llamafactory-cli train`` offline in a child process (through :mod:`fttrainer.launch`, which
checks the argument types first; :mod:`ftapi.worker` streams the log), and reports:

- ``<smoke dir>/result.json`` or ``<train dir>/result.json``: the
  :class:`ftapi.results.TrainingResult` (loss history, output folder, log tail);
- the file named by ``FT_TERMINATION_LOG``: exactly one compact
  :class:`ftapi.results.StepResult`.

Exit status 0 on success, 1 on failure (the failure kind is in the message). A smoke run
passes only if training exits 0 and logged at least one loss. ``FT_MERGE_ADAPTER=1`` (or
``--merge``) also merges a full LoRA run into ``<train dir>/merged``;
``FT_TRAIN_TIMEOUT_SECONDS`` bounds the run. Invoked as ``python -m fttrainer``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from ftapi.campaign import TrainingMethod
from ftapi.digest import DigestError, tree_digest
from ftapi.errors import format_validation_error
from ftapi.plan import Plan
from ftapi.results import FailureKind, StepResult, TrainingResult
from ftapi.steps import (
    STEP_REQUEST_ENV,
    TRAINER_STEPS,
    StepKind,
    StepRequest,
    requested_step,
)
from ftapi.worker import OFFLINE_ENV, run_logged
from ftapi.workspace import CampaignLayout
from fttrainer.config import ConfigError, Mode, render_training_config
from fttrainer.failures import classify_failure
from fttrainer.family import UnknownFamilyError, read_model_config
from fttrainer.history import read_loss_history, total_steps
from fttrainer.launch import CONFIG_ERROR_EXIT, CONFIG_ERROR_PREFIX
from fttrainer.merge import MergeError, merge_adapter
from fttrainer.preflight import DataError, check_dataset

MERGE_ENV = "FT_MERGE_ADAPTER"
TIMEOUT_ENV = "FT_TRAIN_TIMEOUT_SECONDS"
LOG_TAIL_LINES = 60


class StepFailure(Exception):
    """The step failed before or around the training run."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RunPaths:
    """Where one run reads and writes."""

    step_dir: Path
    output_dir: Path
    data_dir: Path
    base_model_dir: Path
    config_file: Path
    deepspeed_file: Path
    log_file: Path
    result_file: Path


def check_method_packages(method: TrainingMethod) -> None:
    """A method whose packages this image lacks fails before anything runs (a config
    failure: the agent repairs with another method)."""
    if method is TrainingMethod.QLORA and importlib.util.find_spec("bitsandbytes") is None:
        raise StepFailure(
            FailureKind.CONFIG,
            "qlora needs bitsandbytes, which this trainer image lacks: use lora or full, or "
            "the GPU trainer image (it installs bitsandbytes)",
        )


def _digest(paths: list[Path]) -> str | None:
    try:
        return tree_digest(paths)
    except DigestError:
        return None


def finite(value: float | None) -> float | None:
    """A diverged run's NaN or infinite loss stays in result.json; the status gets none."""
    return value if value is not None and math.isfinite(value) else None


def run_paths(request: StepRequest, layout: CampaignLayout) -> RunPaths:
    iteration = request.iteration
    if iteration is None:
        raise StepFailure(FailureKind.INTERNAL, f"a {request.step} step needs an iteration")
    if request.step is StepKind.SMOKE:
        step_dir = layout.smoke_dir(iteration, request.repair_round)
    else:
        step_dir = layout.train_dir(iteration)
    return RunPaths(
        step_dir=step_dir,
        output_dir=step_dir / "output",
        data_dir=layout.data_dir(iteration, request.repair_round),
        base_model_dir=layout.base_model_dir(request.spec.base_model),
        config_file=step_dir / "train.yaml",
        deepspeed_file=step_dir / "deepspeed.json",
        log_file=step_dir / "train.log",
        result_file=step_dir / "result.json",
    )


def load_plan(path: Path) -> Plan:
    try:
        return Plan.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StepFailure(FailureKind.INTERNAL, f"plan {path} is missing") from None
    except ValidationError as exc:
        raise StepFailure(
            FailureKind.INTERNAL, f"plan {path} is invalid: {format_validation_error(exc)}"
        ) from exc


def _relative(path: Path, root: str) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _internal_message(exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    return (f"internal error: {exc!r}\n" + "".join(lines[-6:]))[-2048:]


def train(request: StepRequest, *, merge: bool = False, timeout: float | None = None) -> StepResult:
    """Run the step and write its TrainingResult; return the termination message."""
    if request.step not in TRAINER_STEPS:
        raise StepFailure(FailureKind.INTERNAL, f"the trainer cannot run a {request.step} step")
    layout = CampaignLayout.of(request)
    paths = run_paths(request, layout)
    mode: Mode = "smoke" if request.step is StepKind.SMOKE else "full"
    assert request.iteration is not None
    inputs = layout.plan_inputs(request.iteration, request.repair_round)
    if request.inputs_sha256 is not None and _digest(inputs) != request.inputs_sha256:
        raise StepFailure(
            FailureKind.DATA,
            f"the plan or its training data of iteration {request.iteration} round "
            f"{request.repair_round} changed after the agent validated them (their digest is "
            "not the one the agent reported): refusing to train on them",
        )
    plan = load_plan(layout.plan_file(request.iteration, request.repair_round))
    started = time.monotonic()
    try:
        result = _train(request, plan, paths, mode, merge=merge, timeout=timeout)
    except StepFailure as failure:
        result = TrainingResult(
            mode=mode, ok=False, failure=failure.kind, message=str(failure), method=plan.method
        )
    except Exception as exc:  # a bug: still leave a result behind
        result = TrainingResult(
            mode=mode,
            ok=False,
            failure=FailureKind.INTERNAL,
            message=_internal_message(exc),
            method=plan.method,
        )
    result.runtime_seconds = round(time.monotonic() - started, 2)
    paths.step_dir.mkdir(parents=True, exist_ok=True)
    paths.result_file.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    model_digest = None
    if result.ok and mode == "full" and result.output_dir:
        model_digest = tree_digest([Path(request.paths.workspace) / result.output_dir])
    return StepResult(
        step=request.step,
        ok=result.ok,
        failure=result.failure,
        message=result.message[:2048],
        hypothesis=plan.hypothesis[:600],
        method=plan.method,
        train_loss=finite(result.final_loss),
        steps=result.steps,
        outputs_sha256=model_digest,
    )


def _train(
    request: StepRequest,
    plan: Plan,
    paths: RunPaths,
    mode: Mode,
    *,
    merge: bool,
    timeout: float | None,
) -> TrainingResult:
    model_config = read_model_config(paths.base_model_dir)
    if not model_config:
        raise StepFailure(
            FailureKind.ENVIRONMENT,
            f"base model {paths.base_model_dir} has no config.json (has the prepare step run?)",
        )
    try:
        samples = check_dataset(paths.data_dir)
    except DataError as exc:
        raise StepFailure(FailureKind.DATA, f"training data: {exc}") from exc
    gpus = request.spec.training.gpus
    check_method_packages(plan.method)
    try:
        rendered = render_training_config(
            plan,
            mode=mode,
            base_model_dir=paths.base_model_dir,
            data_dir=paths.data_dir,
            output_dir=paths.output_dir,
            gpus=gpus,
            allowed_methods=list(request.spec.training.allowed_methods),
            model_config=model_config,
            deepspeed_file=paths.deepspeed_file,
        )
        config = rendered.config
        for key, why in sorted(rendered.dropped.items()):
            print(f"fttrainer: plan key {key!r} not used: {why}", file=sys.stderr)
        unused = ", ".join(sorted(rendered.dropped))
    except (ConfigError, UnknownFamilyError) as exc:
        raise StepFailure(FailureKind.CONFIG, str(exc)) from exc

    if paths.output_dir.exists():
        shutil.rmtree(paths.output_dir)  # a retried step starts clean
    paths.step_dir.mkdir(parents=True, exist_ok=True)
    paths.log_file.unlink(missing_ok=True)
    paths.config_file.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
    env = dict(os.environ) | OFFLINE_ENV
    if rendered.deepspeed is not None:
        paths.deepspeed_file.write_text(json.dumps(rendered.deepspeed, indent=2), encoding="utf-8")
        env |= {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": str(rendered.nproc)}
    if gpus <= 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    print(f"fttrainer: {mode} run of {len(config)} arguments on {samples} records", flush=True)
    outcome = run_logged(
        [sys.executable, "-m", "fttrainer.launch", "train", str(paths.config_file)],
        log_file=paths.log_file,
        env=env,
        cwd=paths.step_dir,
        timeout=timeout,
    )
    history = read_loss_history(paths.output_dir)
    steps = total_steps(paths.output_dir)
    tail = outcome.tail[-LOG_TAIL_LINES:]
    base = TrainingResult(
        mode=mode,
        ok=False,
        method=plan.method,
        loss_history=history,
        final_loss=history[-1].loss if history else None,
        steps=steps,
        log_tail=tail,
    )
    if outcome.terminated:
        base.failure, base.message = FailureKind.INFRASTRUCTURE, "terminated by a signal"
        return base
    errors = [line for line in outcome.tail if line.startswith(CONFIG_ERROR_PREFIX)]
    if outcome.returncode == CONFIG_ERROR_EXIT and errors:
        base.failure = FailureKind.CONFIG
        base.message = "\n".join(line.removeprefix(CONFIG_ERROR_PREFIX) for line in errors)
        return base
    if outcome.returncode != 0 or outcome.timed_out:
        classified = classify_failure(outcome.returncode, outcome.tail, timed_out=outcome.timed_out)
        base.failure, base.message = classified.kind, classified.message
        return base
    if not history:
        base.failure = FailureKind.CONFIG if mode == "smoke" else FailureKind.INTERNAL
        base.message = "training exited 0 but logged no loss (no optimisation step ran?)"
        return base

    workspace = request.paths.workspace
    result = base.model_copy(
        update={
            "ok": True,
            "output_dir": _relative(paths.output_dir, workspace),
            "adapter": plan.method in (TrainingMethod.LORA, TrainingMethod.QLORA),
            "message": f"{mode} run: {steps} steps, final loss {history[-1].loss:.4f}"
            + (f"; plan keys not used (not allowed): {unused}" if unused else ""),
        }
    )
    if merge and mode == "full" and result.adapter:
        merged = paths.step_dir / "merged"
        try:
            merge_adapter(
                paths.base_model_dir,
                paths.output_dir,
                merged,
                template=str(config["template"]),
                log_file=paths.step_dir / "merge.log",
                timeout=timeout,
            )
        except MergeError as exc:
            return result.model_copy(
                update={
                    "ok": False,
                    "failure": exc.classified.kind,
                    "message": "merging the adapter failed: " + exc.classified.message,
                }
            )
        result.merged_dir = _relative(merged, workspace)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    merge = "--merge" in args or os.environ.get(MERGE_ENV, "") in ("1", "true", "yes")
    timeout_text = os.environ.get(TIMEOUT_ENV)
    raw = os.environ.get(STEP_REQUEST_ENV)
    step = requested_step(raw, StepKind.TRAIN)
    if step not in TRAINER_STEPS:
        step = StepKind.TRAIN
    try:
        if not raw:
            raise StepFailure(FailureKind.INTERNAL, f"{STEP_REQUEST_ENV} is not set")
        try:
            request = StepRequest.model_validate_json(raw)
        except ValidationError as exc:
            raise StepFailure(
                FailureKind.INTERNAL, f"invalid step request: {format_validation_error(exc)}"
            ) from exc
        step = request.step if request.step in TRAINER_STEPS else step
        timeout = float(timeout_text) if timeout_text else None
        result = train(request, merge=merge, timeout=timeout)
    except StepFailure as failure:
        result = StepResult(step=step, ok=False, failure=failure.kind, message=str(failure)[:2048])
    except Exception as exc:  # a bug: report it rather than die without a message
        result = StepResult(
            step=step, ok=False, failure=FailureKind.INTERNAL, message=_internal_message(exc)
        )
    result.write_message("fttrainer")
    return 0 if result.ok else 1
