"""Which model an evaluation step scores, on which splits, and where the results go.

- ``baseline``: the base model, on validation and test;
- ``eval``: iteration N's model (base model plus the LoRA adapter, or the full model) on
  validation;
- ``final``: the test split of iteration ``request.iteration``'s model, or of the base model
  when the iteration is None.

The trained model is found through the iteration's ``train/result.json``
(:class:`ftapi.results.TrainingResult`). Called by :mod:`fteval.main`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ftapi.digest import DigestError, tree_digest
from ftapi.results import FailureKind, TrainingResult
from ftapi.steps import Split, StepKind, StepRequest
from ftapi.workspace import CampaignLayout
from fteval.errors import EvalStepError

DEFAULT_SPLITS: dict[StepKind, list[Split]] = {
    StepKind.BASELINE: ["validation", "test"],
    StepKind.EVAL: ["validation"],
    StepKind.FINAL: ["test"],
}


@dataclass(frozen=True)
class EvalTarget:
    """The model under evaluation."""

    label: str
    """``base`` or ``iter-NNN``: the OpenCompass model abbreviation."""
    model_dir: Path
    adapter_dir: Path | None
    iteration: int | None


def requested_splits(request: StepRequest) -> list[Split]:
    """The request's splits, or the step's default ones."""
    splits = list(request.splits) or DEFAULT_SPLITS[request.step]
    return sorted(set(splits), key=["validation", "test"].index)  # type: ignore[arg-type]


def _trained_target(request: StepRequest, layout: CampaignLayout, iteration: int) -> EvalTarget:
    result_file = layout.train_dir(iteration) / "result.json"
    try:
        result = TrainingResult.model_validate_json(result_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalStepError(
            f"iteration {iteration} has no training result ({result_file})", FailureKind.INTERNAL
        ) from None
    except ValidationError as exc:
        raise EvalStepError(
            f"{result_file} is not a training result: {exc.errors()[0]['msg']}",
            FailureKind.INTERNAL,
        ) from exc
    if not result.ok or not result.output_dir:
        raise EvalStepError(
            f"iteration {iteration}'s training did not succeed; nothing to evaluate",
            FailureKind.INTERNAL,
        )
    output = Path(request.paths.workspace) / result.output_dir
    own = layout.train_dir(iteration).resolve()
    if not output.resolve().is_relative_to(own):
        raise EvalStepError(
            f"iteration {iteration}'s training result names {result.output_dir}, outside its "
            f"own training folder {own}: refused (a result file must not point the evaluator "
            "at another model)",
            FailureKind.INTERNAL,
        )
    if not output.is_dir():
        raise EvalStepError(f"trained model folder {output} is missing", FailureKind.ENVIRONMENT)
    base = layout.base_model_dir(request.spec.base_model)
    if result.adapter:
        return EvalTarget(f"iter-{iteration:03d}", base, output, iteration)
    return EvalTarget(f"iter-{iteration:03d}", output, None, iteration)


def resolve_target(request: StepRequest, layout: CampaignLayout) -> EvalTarget:
    """The model the step evaluates (its folders must exist)."""
    if request.step not in DEFAULT_SPLITS:
        raise EvalStepError(f"step {request.step} is not an evaluation step", FailureKind.INTERNAL)
    if request.step is StepKind.EVAL and request.iteration is None:
        raise EvalStepError("an eval step needs an iteration", FailureKind.INTERNAL)
    if request.step is StepKind.BASELINE or request.iteration is None:
        target = EvalTarget("base", layout.base_model_dir(request.spec.base_model), None, None)
    else:
        target = _trained_target(request, layout, request.iteration)
    if not (target.model_dir / "config.json").is_file():
        raise EvalStepError(
            f"model folder {target.model_dir} has no config.json (has the prepare step run?)",
            FailureKind.ENVIRONMENT,
        )
    for folder in (target.model_dir, target.adapter_dir):
        if folder is not None:
            refuse_custom_code(folder)
    return target


CODE_DECLARING_FILES = (
    "config.json",
    "tokenizer_config.json",
    "adapter_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "generation_config.json",
)
"""The files whose ``auto_map`` makes transformers import code from the model folder."""


def refuse_custom_code(folder: Path) -> None:
    """The evaluator never runs code that ships with a model: a folder with Python files or
    an ``auto_map`` (transformers' remote-code hook) is refused, whatever the backend's
    ``trust_remote_code`` default."""
    scripts = sorted(p.name for p in folder.glob("*.py"))
    if scripts:
        raise EvalStepError(
            f"model folder {folder} carries Python files ({', '.join(scripts[:5])}): the "
            "evaluator never runs a model's own code",
            FailureKind.ENVIRONMENT,
        )
    for name in CODE_DECLARING_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            declared = "auto_map" in json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise EvalStepError(f"{path} is not JSON: {exc}", FailureKind.ENVIRONMENT) from exc
        if declared:
            raise EvalStepError(
                f"{path} declares custom code (auto_map): the evaluator never runs a model's "
                "own code (trust_remote_code stays off); use a model transformers supports",
                FailureKind.ENVIRONMENT,
            )


def check_model_digest(request: StepRequest, target: EvalTarget) -> None:
    """A trained model must be the one its training step reported (``inputs_sha256``): a
    model swapped or edited afterwards, by a later step or anyone with the claim, is refused,
    so the final test score is the score of the model the best iteration trained."""
    if request.inputs_sha256 is None or target.iteration is None:
        return
    trained = target.adapter_dir or target.model_dir
    try:
        actual = tree_digest([trained])
    except DigestError as exc:
        raise EvalStepError(f"cannot hash {trained}: {exc}", FailureKind.ENVIRONMENT) from exc
    if actual != request.inputs_sha256:
        raise EvalStepError(
            f"the model in {trained} is not the one iteration {target.iteration}'s training "
            "reported (its digest differs): it changed after training; refusing to score it",
            FailureKind.ENVIRONMENT,
        )


def result_file(request: StepRequest, layout: CampaignLayout, split: Split) -> Path:
    """Where the split's EvaluationResult goes."""
    if request.step is StepKind.FINAL:
        return layout.eval_file(request.iteration, split, final=True)
    if request.step is StepKind.BASELINE:
        return layout.eval_file(None, split)
    return layout.eval_file(request.iteration, split)


def step_dir(request: StepRequest, layout: CampaignLayout) -> Path:
    """The step's own folder (OpenCompass work dir, config, logs): next to its results."""
    return result_file(request, layout, requested_splits(request)[0]).parent
