"""GPU check: run what the trainer and evaluator images run on GPUs, through the real workers.

On a machine with an NVIDIA GPU and no network, builds a local Qwen2 chat model (about 135M
parameters, random weights, a byte-level BPE tokenizer trained on the task's text: nothing is
downloaded), lays out a campaign workspace with a toy benchmark (``aime25``'s boxed-integer
format, "What is a plus b?" whose answer is 7) and runs, each as ``python -m fttrainer`` or
``python -m fteval`` with a real :class:`ftapi.steps.StepRequest` in ``FT_STEP_REQUEST``:

1. LoRA training in bf16 (``training.gpus: 1``);
2. full fine-tuning in bf16; DeepSpeed ZeRO-3 only with two GPUs or more (the trainer adds
   DeepSpeed only when ``training.gpus > 1``) and ``deepspeed`` installed;
3. QLoRA (``method: qlora``, 4-bit bitsandbytes) when ``bitsandbytes`` is installed and the
   trainer knows the method;
4. evaluation of the LoRA adapter with vLLM and ``evaluation.samplesPerItem: 4`` when ``vllm``
   is installed, else with the evaluator's HuggingFace backend on the GPU.

Each result is checked as the operator reads it (StepResult ok, a non-empty, finite loss
history, the adapter or model files, evaluation scores), while a background thread samples
``nvidia-smi`` for the step's peak GPU memory. One table is printed at the end; a part whose
package is missing is a ``skipped`` row that says why. Exit status 0 when nothing failed.

``--dry-run`` runs the same plan on CPU with the tests' tiny model and tiny sizes
(``gpus: 0``, fp32: the trainer drops ``bf16`` without GPUs), skipping the GPU-only parts; CI
runs it. Without ``--dry-run`` and without a GPU the script stops with an error.

Run through ``scripts/gpu-check.sh``; ``docs/gpu-check.md`` explains the table.
"""

# The offline switches below are set before anything imports huggingface_hub:
# ruff: noqa: E402

from __future__ import annotations

import os

# Before anything imports huggingface_hub or transformers: nothing is downloaded.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "WANDB_MODE": "disabled",
}
os.environ.update(OFFLINE)

import argparse
import importlib.util
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftapi.campaign import FineTuneCampaignSpec, TrainingMethod
from ftapi.catalog import get_benchmark
from ftapi.evalsets import EvalRow
from ftapi.plan import DataRecipe, Plan
from ftapi.results import EvaluationResult, StepResult, TrainingResult
from ftapi.steps import MountPaths, StepKind, StepRequest
from ftapi.workspace import CampaignLayout
from fteval.adapters import EvalItem
from fteval.prompts import build_prompt
from ftoperator.prepare import install_evaluation_set

BENCHMARK = "aime25"
ANSWER = "7"
MODEL_NAME = "gpu-check-qwen2"
"""The base model's folder in the model cache."""
OPTIONAL_PACKAGES = ("vllm", "bitsandbytes", "deepspeed", "flash_attn")
LOG_TAIL = 40
SAMPLE_SECONDS = 0.5
"""How often nvidia-smi is asked for the memory in use while a step runs."""


@dataclass(frozen=True)
class Sizes:
    """How big the model and the runs are."""

    gpus: int
    model: dict[str, int] | None
    """Qwen2 sizes; None: the tests' tiny model (fttrainer.tiny_model)."""
    train_rows: int
    batch: int
    cutoff: int
    lora_steps: int
    full_steps: int
    logging_steps: int
    items: int
    """Validation items evaluated."""
    samples: int
    """Answers per item (evaluation.samplesPerItem)."""
    max_out_len: int
    step_timeout: float


GPU_SIZES = Sizes(
    gpus=1,
    # ~135M parameters: 12 layers of 1024 (16 heads of 64, 4 KV heads), SwiGLU 2816.
    model={
        "hidden_size": 1024,
        "intermediate_size": 2816,
        "num_hidden_layers": 12,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
    },
    train_rows=1024,
    batch=32,
    cutoff=512,
    lora_steps=60,
    full_steps=40,
    logging_steps=5,
    items=32,
    samples=4,
    max_out_len=64,
    step_timeout=420,
)
DRY_SIZES = Sizes(
    gpus=0,
    model=None,
    train_rows=24,
    batch=4,
    cutoff=256,
    lora_steps=6,
    full_steps=3,
    logging_steps=1,
    items=8,
    samples=2,
    max_out_len=8,
    step_timeout=240,
)


@dataclass
class Row:
    """One line of the table."""

    step: str
    backend: str
    status: str = "ok"
    """ok, FAILED or skipped."""
    seconds: float | None = None
    tokens_per_s: float | None = None
    items_per_s: float | None = None
    peak_mib: int | None = None
    note: str = ""


@dataclass
class Environment:
    """What this machine has."""

    dry_run: bool
    gpus: list[str] = field(default_factory=list)
    """nvidia-smi's GPU names."""
    devices: list[str] = field(default_factory=list)
    """The CUDA devices the workers may use (``CUDA_VISIBLE_DEVICES`` entries)."""
    bf16: bool = True
    packages: dict[str, bool] = field(default_factory=dict)
    qlora: TrainingMethod | None = None
    """The trainer's QLoRA method, when it has one."""


# ---------------------------------------------------------------- machine


def nvidia_gpus() -> list[tuple[str, str]]:
    """(name, compute capability) of each GPU nvidia-smi lists; empty when none or no tool."""
    if shutil.which("nvidia-smi") is None:
        return []
    for fields in ("name,compute_cap", "name"):
        try:
            done = subprocess.run(
                ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        if done.returncode == 0:
            rows = [line.split(",") for line in done.stdout.splitlines() if line.strip()]
            return [(r[0].strip(), r[1].strip() if len(r) > 1 else "") for r in rows]
    return []


def gpu_memory_used() -> list[int]:
    """MiB in use on each GPU (all processes), or empty."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    values = []
    for line in done.stdout.splitlines():
        try:
            values.append(int(float(line.strip())))
        except ValueError:
            continue
    return values


class MemorySampler:
    """Samples nvidia-smi's memory.used in a background thread; ``peak`` is the highest
    reading of any one GPU while it ran."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            values = gpu_memory_used()
            if values:
                self.peak = max(self.peak or 0, *values)
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> MemorySampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join(timeout=15)


def detect(dry_run: bool) -> Environment:
    env = Environment(dry_run=dry_run)
    env.packages = {name: importlib.util.find_spec(name) is not None for name in OPTIONAL_PACKAGES}
    try:
        env.qlora = TrainingMethod("qlora")
    except ValueError:
        env.qlora = None
    if dry_run:
        env.bf16 = False
        return env
    found = nvidia_gpus()
    import torch

    if not found or not torch.cuda.is_available():
        raise SystemExit("gpu-check: no NVIDIA GPU found; use --dry-run")
    env.gpus = [name for name, _ in found]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    env.devices = (
        [d.strip() for d in visible.split(",") if d.strip()]
        if visible
        else [str(i) for i in range(torch.cuda.device_count())]
    )
    caps = [cap for _, cap in found if cap]
    env.bf16 = all(float(cap) >= 8.0 for cap in caps) if caps else True
    return env


# ---------------------------------------------------------------- model and data


def question(i: int) -> str:
    a = i % 8
    return f"What is {a} plus {7 - a}?"


def prompt(i: int) -> str:
    item = EvalItem(index=i, question=question(i), answer=ANSWER)
    return build_prompt(get_benchmark(BENCHMARK).description, item)


def training_rows(n: int) -> list[dict[str, str]]:
    """Alpaca rows in the evaluation prompt's wording, answered with a short worked sum."""
    rows = []
    for i in range(n):
        a = i % 8
        answer = f"{a} plus {7 - a}: start at {a}, add {7 - a}, get 7. \\boxed{{{ANSWER}}}"
        rows.append({"instruction": prompt(i), "input": "", "output": answer})
    return rows


def tokenizer_corpus() -> list[str]:
    return [row["instruction"] for row in training_rows(8)] + [
        row["output"] for row in training_rows(8)
    ]


def build_model(out_dir: Path, sizes: dict[str, int] | None, bf16: bool) -> int:
    """Write the base model into ``out_dir``; return its parameter count."""
    from fttrainer.tiny_model import build_tiny_model

    if sizes is None:
        build_tiny_model(out_dir, corpus=tokenizer_corpus(), seed=0)
    else:  # at a size that keeps a GPU busy
        build_tiny_model(
            out_dir,
            corpus=tokenizer_corpus(),
            seed=0,
            sizes=sizes,
            dtype="bfloat16" if bf16 else "float16",
            max_positions=4096,
        )
    from safetensors import safe_open

    count = 0
    for path in out_dir.glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open has no __iter__)
                count += math.prod(handle.get_slice(key).get_shape())
    return count


def tokens_per_row(model_dir: Path, rows: list[dict[str, str]], cutoff: int) -> float:
    """Mean tokens of a training row in the chat template (what a training step reads)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    lengths = []
    for row in rows[:64]:
        messages = [
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["output"]},
        ]
        ids = tokenizer.apply_chat_template(messages, tokenize=True)
        if isinstance(ids, dict):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        lengths.append(min(len(ids), cutoff))
    return sum(lengths) / len(lengths)


# ---------------------------------------------------------------- campaign


@dataclass
class Check:
    """The campaign workspace the steps share."""

    root: Path
    sizes: Sizes
    env: Environment
    logs: Path
    row_tokens: float = 0.0
    namespace: str = "gpu-check"
    name: str = "check"

    @property
    def paths(self) -> MountPaths:
        return MountPaths(
            models=str(self.root / "models"),
            datasets=str(self.root / "datasets"),
            workspace=str(self.root / "workspace"),
        )

    @property
    def layout(self) -> CampaignLayout:
        return CampaignLayout(self.paths, self.namespace, self.name)

    def spec(self, *, training_gpus: int | None = None, eval_gpus: int | None = None):
        methods = [method.value for method in TrainingMethod]
        items = self.sizes.items
        return FineTuneCampaignSpec.model_validate(
            {
                "baseModel": MODEL_NAME,
                "benchmark": BENCHMARK,
                "training": {
                    "gpus": self.sizes.gpus if training_gpus is None else training_gpus,
                    "allowedMethods": methods,
                },
                "evaluation": {
                    "gpus": self.sizes.gpus if eval_gpus is None else eval_gpus,
                    "validationLimit": items,
                    "testLimit": items,
                    "samplesPerItem": self.sizes.samples,
                    "maxOutLen": self.sizes.max_out_len,
                },
            }
        )

    def request(self, step: StepKind, iteration: int, spec: FineTuneCampaignSpec, **extra: Any):
        return StepRequest(
            step=step,
            namespace=self.namespace,
            campaign=self.name,
            iteration=iteration,
            spec=spec,
            paths=self.paths,
            **extra,
        )

    def write_benchmark(self) -> None:
        n = 2 * self.sizes.items
        rows = [EvalRow(id=f"check-{i}", question=question(i), answer=ANSWER) for i in range(n)]
        install_evaluation_set(self.layout, BENCHMARK, rows, self.sizes.items, self.sizes.items)

    def write_plan(self, iteration: int, method: TrainingMethod, config: dict[str, Any]) -> None:
        data_dir = self.layout.data_dir(iteration, 0)
        data_dir.mkdir(parents=True, exist_ok=True)
        rows = training_rows(self.sizes.train_rows)
        (data_dir / "train.json").write_text(json.dumps(rows), encoding="utf-8")
        info = {"train": {"file_name": "train.json"}}
        (data_dir / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
        plan = Plan(
            iteration=iteration,
            repair_round=0,
            planner="search",
            hypothesis=f"gpu-check: {method.value} training runs",
            method=method,
            recipe=DataRecipe(datasets=["deepscaler"], builtin="toy", sample_size=len(rows)),
            training_config=config,
        )
        path = self.layout.plan_file(iteration, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(plan.model_dump_json(), encoding="utf-8")

    def run_worker(
        self, label: str, module: str, request: StepRequest
    ) -> tuple[int | None, StepResult | None, float, int | None, str]:
        """Run the worker; (exit status or None on timeout, its StepResult, seconds, peak MiB,
        log tail)."""
        termination = self.logs / f"{label}.termination"
        log_file = self.logs / f"{label}.log"
        termination.unlink(missing_ok=True)
        env = dict(os.environ) | OFFLINE
        spec = request.spec
        gpus = spec.training.gpus if module == "fttrainer" else spec.evaluation.gpus
        if not self.env.dry_run:
            # A pod sees only the GPUs it asked for (none for gpus: 0); so does the worker.
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.env.devices[:gpus])
        env |= {
            "FT_STEP_REQUEST": request.model_dump_json(),
            "FT_TERMINATION_LOG": str(termination),
            "PYTHONUNBUFFERED": "1",
        }
        print(f"gpu-check: {label}: python -m {module} (log: {log_file})", file=sys.stderr)
        started = time.monotonic()
        returncode: int | None
        with (
            MemorySampler(not self.env.dry_run) as sampler,
            log_file.open("w", encoding="utf-8") as log,
        ):
            try:
                done = subprocess.run(
                    [sys.executable, "-m", module],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=self.sizes.step_timeout,
                    check=False,
                )
                returncode = done.returncode
            except subprocess.TimeoutExpired:
                returncode = None
        seconds = time.monotonic() - started
        tail = "\n".join(
            log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL:]
        )
        result = None
        if termination.is_file():
            try:
                result = StepResult.parse_message(termination.read_text(encoding="utf-8"))
            except ValueError:
                result = None
        return returncode, result, seconds, sampler.peak, tail


# ---------------------------------------------------------------- steps


class StepError(Exception):
    """A step's result does not pass the checks."""


def _failed(row: Row, why: str, tail: str = "", prefix: str = "") -> Row:
    """Mark the row failed; its note is the message's last line (a traceback's exception)."""
    row.status = "FAILED"
    lines = [line.strip() for line in why.splitlines() if line.strip()] or ["failed"]
    row.note = (prefix + lines[-1])[:200]
    print(f"gpu-check: {row.step} FAILED: {prefix}{why}", file=sys.stderr)
    if tail:
        print(f"--- last lines of its log ---\n{tail}\n---", file=sys.stderr)
    return row


def training_config(check: Check, steps: int, *, lora: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "max_steps": steps,
        "per_device_train_batch_size": check.sizes.batch,
        "cutoff_len": check.sizes.cutoff,
        "learning_rate": 2e-4 if lora else 5e-5,
        "lr_scheduler_type": "constant",
        "logging_steps": check.sizes.logging_steps,
        "bf16": check.env.bf16 or check.env.dry_run,
        "fp16": not check.env.bf16 and not check.env.dry_run,
        "seed": 0,
    }
    if lora:
        config |= {"lora_rank": 16, "lora_alpha": 32, "lora_target": "all", "learning_rate": 1e-3}
    return config


def train_step(
    check: Check,
    row: Row,
    iteration: int,
    method: TrainingMethod,
    config: dict[str, Any],
    *,
    adapter: bool,
    gpus: int | None = None,
) -> tuple[Row, StepResult | None]:
    """Write the plan, run the trainer's train step, check what it reports."""
    check.write_plan(iteration, method, config)
    spec = check.spec(training_gpus=gpus)
    request = check.request(StepKind.TRAIN, iteration, spec)
    code, result, seconds, peak, tail = check.run_worker(row.step, "fttrainer", request)
    row.seconds, row.peak_mib = seconds, peak
    if code is None:
        return _failed(row, f"timed out after {check.sizes.step_timeout:.0f} s", tail), None
    if result is None:
        return _failed(row, f"exit {code}, no termination message", tail), None
    if code != 0 or not result.ok:
        return _failed(row, result.message, tail, f"exit {code}, {result.failure}: "), result
    train_dir = check.layout.train_dir(iteration)
    try:
        training = TrainingResult.model_validate_json(
            (train_dir / "result.json").read_text(encoding="utf-8")
        )
        losses = [point.loss for point in training.loss_history]
        if not training.ok or not losses:
            raise StepError("result.json: not ok or no loss history")
        if not all(math.isfinite(loss) for loss in losses):
            raise StepError(f"non-finite loss in the history: {losses}")
        if training.steps != config["max_steps"]:
            raise StepError(f"{training.steps} steps, not {config['max_steps']}")
        if training.adapter != adapter:
            raise StepError(f"result.json says adapter={training.adapter}, expected {adapter}")
        output = Path(check.paths.workspace) / (training.output_dir or "")
        expected = "adapter_model.safetensors" if adapter else "*.safetensors"
        if not list(output.glob(expected)):
            raise StepError(f"no {expected} in {output}")
        if result.outputs_sha256 is None:
            raise StepError("the StepResult has no outputs_sha256")
        rendered = (train_dir / "train.yaml").read_text(encoding="utf-8")
        if check.env.dry_run and "bf16" in rendered:
            raise StepError("the CPU run kept bf16 in train.yaml")
    except (OSError, ValueError, StepError) as exc:
        return _failed(row, str(exc), tail), result
    runtime = _train_runtime(output) or seconds
    row.tokens_per_s = training.steps * check.sizes.batch * check.row_tokens / runtime
    row.note = (
        f"{training.steps} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
        f"train_runtime {runtime:.1f} s"
    )
    return row, result


def _train_runtime(output: Path) -> float | None:
    """The HF Trainer's own ``train_runtime`` (training loop only, no model loading)."""
    for name in ("train_results.json", "all_results.json"):
        try:
            runtime = json.loads((output / name).read_text(encoding="utf-8")).get("train_runtime")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(runtime, int | float) and runtime > 0:
            return float(runtime)
    return None


def eval_step(check: Check, row: Row, iteration: int, trained: StepResult, eval_gpus: int) -> Row:
    """Score the iteration's model on the validation split with the real evaluator."""
    spec = check.spec(eval_gpus=eval_gpus)
    request = check.request(StepKind.EVAL, iteration, spec, inputs_sha256=trained.outputs_sha256)
    code, result, seconds, peak, tail = check.run_worker(row.step, "fteval", request)
    row.seconds, row.peak_mib = seconds, peak
    if code is None:
        return _failed(row, f"timed out after {check.sizes.step_timeout:.0f} s", tail)
    if result is None:
        return _failed(row, f"exit {code}, no termination message", tail)
    if code != 0 or not result.ok:
        return _failed(row, result.message, tail, f"exit {code}, {result.failure}: ")
    try:
        if "validation" not in result.scores or not result.item_scores:
            raise StepError(f"no validation score in the StepResult: {result.scores}")
        evaluation = EvaluationResult.model_validate_json(
            check.layout.eval_file(iteration, "validation").read_text(encoding="utf-8")
        )
        if evaluation.n_items != check.sizes.items or len(evaluation.items) != check.sizes.items:
            raise StepError(f"{evaluation.n_items} items scored, not {check.sizes.items}")
        if evaluation.samples_per_item != check.sizes.samples:
            raise StepError(f"{evaluation.samples_per_item} samples per item recorded")
        if evaluation.adapter is None:
            raise StepError("the evaluation did not load the LoRA adapter")
        folder = check.layout.eval_file(iteration, "validation").parent
        rendered = (folder / "opencompass_config.py").read_text(encoding="utf-8")
        with_vllm = eval_gpus > 0 and importlib.util.find_spec("vllm") is not None
        backend = "VLLMwithChatTemplate" if with_vllm else "HuggingFacewithChatTemplate"
        if f"type={backend}" not in rendered:
            raise StepError(f"the OpenCompass config does not use {backend}")
    except (OSError, ValueError, StepError) as exc:
        return _failed(row, str(exc), tail)
    row.items_per_s = check.sizes.items / seconds
    row.note = (
        f"{check.sizes.items} items x {check.sizes.samples} samples, "
        f"validation {result.metric} {result.scores['validation']:.1f}"
    )
    return row


def skipped(step: str, backend: str, why: str) -> Row:
    print(f"gpu-check: {step}: skipped ({why})", file=sys.stderr)
    return Row(step=step, backend=backend, status="skipped", note=why)


def run_check(check: Check) -> list[Row]:
    env, sizes = check.env, check.sizes
    dry = env.dry_run
    precision = "fp32" if dry else ("bf16" if env.bf16 else "fp16")
    where = "CPU" if dry else "1 GPU"
    rows: list[Row] = []

    # The base model and the benchmark.
    model_dir = check.layout.base_model_dir(MODEL_NAME)
    started = time.monotonic()
    params = build_model(model_dir, sizes.model, env.bf16)
    check.write_benchmark()
    check.row_tokens = tokens_per_row(model_dir, training_rows(64), sizes.cutoff)
    kind = "tiny Qwen2" if sizes.model is None else "Qwen2"
    rows.append(
        Row(
            step="model",
            backend=f"{kind}, {params / 1e6:.1f}M params, {'fp32' if dry else precision}",
            seconds=time.monotonic() - started,
            note=f"built locally; {check.row_tokens:.0f} tokens per training row",
        )
    )
    if dry:
        rows.append(skipped("bf16", "-", "dry run: CPU trains in fp32 (the trainer drops bf16)"))

    # 1. LoRA.
    lora_row, lora = train_step(
        check,
        Row("lora", f"LLaMA-Factory LoRA {precision}, {where}"),
        0,
        TrainingMethod.LORA,
        training_config(check, sizes.lora_steps, lora=True),
        adapter=True,
    )
    rows.append(lora_row)

    # 2. Full fine-tuning, and ZeRO-3 where the trainer would use it.
    rows.append(
        train_step(
            check,
            Row("full", f"LLaMA-Factory full {precision}, {where}"),
            1,
            TrainingMethod.FULL,
            training_config(check, sizes.full_steps, lora=False),
            adapter=False,
        )[0]
    )
    zero3 = "DeepSpeed ZeRO-3 full"
    if dry:
        rows.append(skipped("zero-3", zero3, "dry run: no GPU"))
    elif not env.packages["deepspeed"]:
        rows.append(skipped("zero-3", zero3, "deepspeed not installed"))
    elif len(env.devices) < 2:
        rows.append(
            skipped("zero-3", zero3, "one GPU: the trainer adds DeepSpeed only with gpus > 1")
        )
    else:
        n = len(env.devices)
        rows.append(
            train_step(
                check,
                Row("zero-3", f"{zero3} {precision}, {n} GPUs"),
                3,
                TrainingMethod.FULL,
                training_config(check, sizes.full_steps, lora=False),
                adapter=False,
                gpus=n,
            )[0]
        )

    # 3. QLoRA.
    qlora = "LLaMA-Factory QLoRA 4-bit bitsandbytes"
    if dry:
        rows.append(skipped("qlora", qlora, "dry run: 4-bit bitsandbytes needs a GPU"))
    elif env.qlora is None:
        rows.append(skipped("qlora", qlora, "this trainer has no qlora method yet"))
    elif not env.packages["bitsandbytes"]:
        rows.append(skipped("qlora", qlora, "bitsandbytes not installed"))
    else:
        rows.append(
            train_step(
                check,
                Row("qlora", f"{qlora}, {precision} compute, {where}"),
                2,
                env.qlora,
                training_config(check, sizes.lora_steps, lora=True),
                adapter=True,
            )[0]
        )

    # flash-attn: what the trainer would use.
    flash = "flash-attn 2"
    if not env.packages["flash_attn"]:
        rows.append(skipped("flash-attn", flash, "flash_attn not installed"))
    else:
        rows.append(
            skipped(
                "flash-attn",
                flash,
                "installed, not exercised: plans cannot set flash_attn; LLaMA-Factory's auto "
                "uses SDPA",
            )
        )

    # 4. Evaluation of the LoRA adapter.
    vllm = f"OpenCompass vLLM, LoRA adapter, {sizes.samples} samples/item"
    hf_backend = f"OpenCompass HF (CPU), LoRA adapter, {sizes.samples} samples/item"
    if dry:
        rows.append(skipped("vllm", vllm, "dry run: vLLM needs a GPU"))
        eval_gpus, backend = 0, hf_backend
    elif not env.packages["vllm"]:
        rows.append(
            skipped("vllm", vllm, "vllm not installed; the evaluator uses the HF backend on GPU")
        )
        eval_gpus = sizes.gpus
        backend = f"OpenCompass HF (GPU), LoRA adapter, {sizes.samples} samples/item"
    else:
        eval_gpus, backend = sizes.gpus, vllm
    if lora is None or not lora.ok:
        rows.append(skipped("eval", backend, "the LoRA training failed: no adapter to evaluate"))
    else:
        rows.append(eval_step(check, Row("eval", backend), 0, lora, eval_gpus))
    return rows


# ---------------------------------------------------------------- table


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_table(rows: list[Row]) -> str:
    header = (
        "step",
        "backend",
        "result",
        "seconds",
        "train tok/s",
        "eval items/s",
        "peak GPU MiB",
        "note",
    )
    lines = [
        (
            row.step,
            row.backend,
            row.status,
            _number(row.seconds),
            _number(row.tokens_per_s, 0),
            _number(row.items_per_s, 2),
            "-" if row.peak_mib is None else str(row.peak_mib),
            row.note,
        )
        for row in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    widths[-1] = len(header[-1])  # the note is left ragged

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, lines)])


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gpu-check.sh",
        description="Run LoRA, full, QLoRA training and vLLM evaluation through the real "
        "fttrainer/fteval workers on this machine's GPU (nothing is downloaded).",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="the same plan on CPU with a tiny model and tiny sizes (GPU-only parts skipped)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the workspace and logs here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args(argv)

    try:
        env = detect(args.dry_run)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    sizes = DRY_SIZES if args.dry_run else GPU_SIZES
    root = args.workdir or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    root = root.resolve()
    for folder in ("workspace", "models", "datasets"):
        shutil.rmtree(root / folder, ignore_errors=True)  # a rerun in --workdir starts clean
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    machine = "CPU (dry run)" if args.dry_run else ", ".join(env.gpus)
    installed = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in env.packages.items())
    print(f"gpu-check: {machine}; {installed}; workspace {root}", file=sys.stderr)

    check = Check(root=root, sizes=sizes, env=env, logs=logs)
    started = time.monotonic()
    try:
        rows = run_check(check)
    except Exception as exc:  # a bug or a broken install: still say where the logs are
        print(f"gpu-check: aborted: {exc!r} (logs: {logs})", file=sys.stderr)
        raise
    total = time.monotonic() - started

    failed = [row.step for row in rows if row.status == "FAILED"]
    print(f"gpu-check: {machine}: {len(rows)} rows in {total:.0f} s")
    print(render_table(rows))
    if failed:
        print(f"gpu-check: FAILED: {', '.join(failed)} (logs: {logs})")
    else:
        print("gpu-check: all run steps passed")
    if not failed and args.workdir is None and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
