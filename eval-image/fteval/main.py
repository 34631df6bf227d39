"""The eval pod's entrypoint: score one model on the benchmark's validation and/or test split.

Reads the :class:`ftapi.steps.StepRequest` from ``FT_STEP_REQUEST`` (step ``baseline``,
``eval`` or ``final``), picks the model (:mod:`fteval.targets`) and the split items
(:mod:`fteval.items`), renders an OpenCompass config (:mod:`fteval.occonfig`), runs it
(:mod:`fteval.runner`) and reports:

- one :class:`ftapi.results.EvaluationResult` per split at ``CampaignLayout.eval_file(...)``
  (per-item scores, averaged over ``evaluation.samplesPerItem`` sampled answers when above 1;
  up to five wrong answers for the validation split only);
- the file named by ``FT_TERMINATION_LOG``: one :class:`ftapi.results.StepResult` with
  ``scores`` {split: 0-100} and ``metric``.

Exit status 0 on success, 1 on any failure. Tunables (environment): ``FT_EVAL_MAX_OUT_LEN``
(tokens generated per item; 4096 with GPUs, 512 without), ``FT_EVAL_BATCH_SIZE`` (64 / 8),
``FT_EVAL_TIMEOUT_SECONDS`` (no limit by default), ``FT_LLM_API_KEY`` (the optional judge's
key, :mod:`fteval.judge`). Invoked as ``python -m fteval``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ftapi.catalog import Benchmark, get_benchmark
from ftapi.errors import format_validation_error
from ftapi.results import FailureKind, StepResult, encode_item_scores, encode_item_weights
from ftapi.steps import (
    EVAL_STEPS,
    STEP_REQUEST_ENV,
    Split,
    StepKind,
    StepRequest,
    requested_step,
)
from ftapi.workspace import CampaignLayout
from fteval.adapters import BoxedIntegerAdapter, EvalItem, get_adapter
from fteval.columns import (
    ANSWER_COLUMN,
    EXTRA_COLUMN,
    INDEX_COLUMN,
    PROMPT_COLUMN,
    QUESTION_COLUMN,
)
from fteval.errors import EvalStepError
from fteval.items import load_items, read_splits, split_items
from fteval.judge import API_KEY_ENV as JUDGE_KEY_ENV
from fteval.judge import BUDGET_ENV as JUDGE_BUDGET_ENV
from fteval.judge import LOG_ENV as JUDGE_LOG_ENV
from fteval.judge import judge_from_spec
from fteval.occonfig import DatasetSpec, ModelSpec, render_config
from fteval.prompts import build_prompt, choose_shots
from fteval.results import evaluation_result, read_results
from fteval.runner import run_opencompass
from fteval.sandbox import protect_process
from fteval.targets import (
    EvalTarget,
    check_model_digest,
    requested_splits,
    resolve_target,
    result_file,
    step_dir,
)


@dataclass(frozen=True)
class EvalSettings:
    """Generation and run limits, from the environment."""

    max_out_len: int
    batch_size: int
    timeout: float | None

    @classmethod
    def from_env(cls, gpus: int, max_out_len: int | None = None) -> EvalSettings:
        """``max_out_len`` from the campaign's spec wins over the environment's default."""
        timeout = os.environ.get("FT_EVAL_TIMEOUT_SECONDS")
        default_len = int(os.environ.get("FT_EVAL_MAX_OUT_LEN", 4096 if gpus else 512))
        return cls(
            max_out_len=max_out_len or default_len,
            batch_size=int(os.environ.get("FT_EVAL_BATCH_SIZE", 64 if gpus else 8)),
            timeout=float(timeout) if timeout else None,
        )


def write_split_file(
    path: Path, items: list[EvalItem], description: str, shots: Shots | None = None
) -> None:
    """The OpenCompass dataset of one split: prompt, answer, index, question, extras."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            examples = choose_shots(item, shots.pool, shots.count) if shots else []
            answer_format = shots.answer_format if shots else ""
            row = {
                PROMPT_COLUMN: build_prompt(description, item, examples, answer_format),
                ANSWER_COLUMN: item.answer,
                INDEX_COLUMN: item.index,
                QUESTION_COLUMN: item.question,
                EXTRA_COLUMN: json.dumps(dict(item.extra), ensure_ascii=False),
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Shots:
    """A few-shot benchmark's in-context examples."""

    pool: list[EvalItem]
    count: int
    answer_format: str


def load_shots(benchmark: Benchmark, layout: CampaignLayout) -> Shots | None:
    """The benchmark's examples; None for a zero-shot benchmark, or (logged) when the cache
    was prepared before examples were kept."""
    if not benchmark.shots:
        return None
    path = layout.shots_file(benchmark.key)
    if not path.is_file():
        print(f"fteval: {path} is missing: evaluating zero-shot", file=sys.stderr)
        return None
    return Shots(load_items(path), benchmark.shots, benchmark.shots_answer)


def prepare_judge_env(request: StepRequest, folder: Path) -> Path:
    """The judge's call log (emptied: one step's calls) and what is left of the campaign's
    LLM budget, from the operator's books (``StepRequest.llm_spent_usd``), for the judge
    inside OpenCompass."""
    log = folder / "judge-calls.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    os.environ[JUDGE_LOG_ENV] = str(log)
    llm = request.spec.planner.llm
    if llm is not None and llm.cost_budget_usd is not None:
        left = max(0.0, llm.cost_budget_usd - request.llm_spent_usd)
        os.environ[JUDGE_BUDGET_ENV] = repr(left)
    else:
        os.environ.pop(JUDGE_BUDGET_ENV, None)
    return log


def vllm_available() -> bool:
    """Whether this image has vLLM; without it, GPU evaluations use the HuggingFace backend
    on the GPUs (slower, same prompts and scores)."""
    found = importlib.util.find_spec("vllm") is not None
    if not found:
        print("fteval: vllm is not installed; using the HuggingFace backend", file=sys.stderr)
    return found


def judge_cost(log: Path) -> tuple[int, float]:
    """Calls and US dollars the judge spent in this step."""
    if not log.is_file():
        return 0, 0.0
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    return len(calls), round(sum(float(c.get("cost_usd") or 0.0) for c in calls), 6)


def _lora_rank(adapter_dir: Path | None) -> int | None:
    if adapter_dir is None:
        return None
    try:
        rank = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))["r"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None
    return int(rank) if isinstance(rank, int) else None


def _relative(path: Path, root: str) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def evaluate(request: StepRequest, settings: EvalSettings | None = None) -> StepResult:
    """Run the evaluation step and write its EvaluationResults; return the message."""
    if request.step not in EVAL_STEPS:
        raise EvalStepError(f"the evaluator cannot run a {request.step} step", FailureKind.INTERNAL)
    spec = request.spec
    settings = settings or EvalSettings.from_env(spec.evaluation.gpus, spec.evaluation.max_out_len)
    layout = CampaignLayout.of(request)
    benchmark = get_benchmark(spec.benchmark)
    folder = step_dir(request, layout)
    judge_log = prepare_judge_env(request, folder)
    judge = judge_from_spec(spec)
    adapter = get_adapter(benchmark.key, judge)
    target: EvalTarget = resolve_target(request, layout)
    check_model_digest(request, target)
    splits = requested_splits(request)
    items = load_items(layout.benchmark_file(benchmark.key))
    shots = load_shots(benchmark, layout)
    description = spec.resolved_description()
    samples = spec.evaluation.samples_per_item

    evaluation = spec.evaluation
    splits_file = layout.splits_file(
        benchmark.key, evaluation.validation_limit, evaluation.test_limit
    )
    recorded = read_splits(splits_file, request.split_sha256)
    chosen: dict[Split, list[EvalItem]] = {}
    datasets: list[DatasetSpec] = []
    judge_cfg = None
    if isinstance(adapter, BoxedIntegerAdapter) and adapter.judge_config is not None:
        judge_cfg = {"model": adapter.judge_config.model, "api_base": adapter.judge_config.api_base}
    for split in splits:
        chosen[split] = split_items(items, recorded, split)
        data_file = folder / "data" / f"{split}.jsonl"
        write_split_file(data_file, chosen[split], description, shots)
        datasets.append(
            DatasetSpec(
                abbr=f"{benchmark.key}-{split}",
                path=data_file,
                benchmark=benchmark.key,
                max_out_len=settings.max_out_len,
                judge=judge_cfg,
                samples=samples,
            )
        )
    model = ModelSpec(
        abbr=target.label,
        path=target.model_dir,
        adapter_path=target.adapter_dir,
        gpus=spec.evaluation.gpus,
        max_out_len=settings.max_out_len,
        batch_size=settings.batch_size,
        lora_rank=_lora_rank(target.adapter_dir),
        sampling=samples > 1,
        vllm=vllm_available() if spec.evaluation.gpus > 0 else True,
    )
    config_file = folder / "opencompass_config.py"
    title = f"{request.namespace}/{request.campaign} {request.step} ({target.label})"
    config_file.write_text(render_config(model, datasets, title), encoding="utf-8")
    run = run_opencompass(
        config_file, folder / "opencompass", folder / "opencompass.log", timeout=settings.timeout
    )

    workspace = request.paths.workspace
    base_dir = layout.base_model_dir(spec.base_model)
    model_name = (
        spec.base_model if target.model_dir == base_dir else _relative(target.model_dir, workspace)
    )
    adapter_name = None if target.adapter_dir is None else _relative(target.adapter_dir, workspace)
    metric = benchmark.metric.value
    scores: dict[Split, float] = {}
    judged: dict[Split, int] = {}
    item_scores: str | None = None
    item_weights: str | None = None
    for split, dataset in zip(splits, datasets, strict=True):
        data = read_results(run.results_file(target.label, dataset.abbr), metric, samples)
        result = evaluation_result(
            data,
            split=split,
            benchmark=benchmark.key,
            metric=metric,
            items={item.index: item for item in chosen[split]},
            model=model_name,
            adapter=adapter_name,
            samples=samples,
        )
        path = result_file(request, layout, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        scores[split] = result.score
        if judge is not None:
            judged[split] = result.judged
        if split == "validation":
            # Per-item scores for the operator's paired comparisons (never test items).
            ordered = sorted(result.items, key=lambda item: item.index)
            item_scores = encode_item_scores([item.score for item in ordered])
            item_weights = encode_item_weights([item.weight for item in ordered])
    summary = ", ".join(f"{split} {score:.2f}" for split, score in scores.items())
    calls, cost = judge_cost(judge_log)
    if judge is not None:
        decided = ", ".join(f"{split} {n}" for split, n in judged.items())
        summary += f"; judge: {calls} calls, ${cost:.4f}, items decided: {decided}"
    return StepResult(
        step=request.step,
        ok=True,
        scores=scores,
        metric=metric,
        item_scores=item_scores,
        item_weights=item_weights,
        judged=judged,
        llm_cost=cost,
        message=f"{target.label} on {benchmark.key} ({metric}): {summary}",
    )


def main() -> int:
    if os.environ.get(JUDGE_KEY_ENV):
        protect_process()  # chart code (same user) must not read the judge's key from /proc
    raw = os.environ.get(STEP_REQUEST_ENV)
    step = requested_step(raw, StepKind.EVAL)
    if step not in EVAL_STEPS:
        step = StepKind.EVAL
    try:
        if not raw:
            raise EvalStepError(f"{STEP_REQUEST_ENV} is not set", FailureKind.INTERNAL)
        try:
            request = StepRequest.model_validate_json(raw)
        except ValidationError as exc:
            raise EvalStepError(
                f"invalid step request: {format_validation_error(exc)}", FailureKind.INTERNAL
            ) from exc
        step = request.step if request.step in EVAL_STEPS else step
        result = evaluate(request)
    except EvalStepError as exc:
        result = StepResult(step=step, ok=False, failure=exc.kind, message=str(exc)[:2048])
    except Exception as exc:  # a bug: report it rather than die without a message
        lines = traceback.format_exception(exc)
        message = f"internal error: {exc!r}\n" + "".join(lines[-6:])
        result = StepResult(
            step=step, ok=False, failure=FailureKind.INTERNAL, message=message[-2048:]
        )
    result.write_message("fteval")
    return 0 if result.ok else 1
