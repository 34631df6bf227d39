"""Render the final LLaMA-Factory training config of a smoke or full run (pure function).

Starts from the plan's flat ``training_config``; then the operator-managed keys win
(model, dataset and output paths, stage, reporting, fine-tuning type, template), the smoke
run's debug overrides apply, ``cutoff_len`` is kept within the model's context, mixed
precision is switched off without a GPU, and more than one GPU adds a DeepSpeed ZeRO config
and torchrun. Called by :mod:`fttrainer.main`; tested without LLaMA-Factory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ftapi.campaign import TrainingMethod
from ftapi.hyperparameters import allowed_hyperparameters, finetuning_type
from ftapi.plan import OPERATOR_MANAGED_KEYS, Plan
from fttrainer.deepspeed import deepspeed_config, zero_stage
from fttrainer.family import context_length, template_for_model

Mode = Literal["smoke", "full"]

DATASET_NAME = "train"
"""The dataset name in the round's ``dataset_info.json``."""

SMOKE_MAX_STEPS = 4
SMOKE_MAX_SAMPLES = 16
FULL_LOGGING_STEPS = 10

_TEMPLATE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A chat template's name (LLaMA-Factory's registry keys)."""
_PRECISION_KEYS = ("bf16", "fp16", "pure_bf16", "tf32")
_EVAL_KEYS = ("val_size", "eval_dataset", "eval_steps", "per_device_eval_batch_size")


QLORA_ARGUMENTS = {
    "quantization_bit": 4,
    "quantization_method": "bitsandbytes",
    "double_quantization": True,
}
"""What makes LLaMA-Factory's LoRA a QLoRA run: the base model loaded in 4 bits."""


class ConfigError(ValueError):
    """The plan's training config cannot be turned into a valid run."""


@dataclass(frozen=True)
class RenderedConfig:
    """Everything the launcher needs."""

    config: dict[str, Any]
    """Flat LLaMA-Factory arguments, to be written as YAML."""
    deepspeed: dict[str, Any] | None = None
    """ZeRO config to write to ``config["deepspeed"]``, with more than one GPU."""
    nproc: int = 1
    """Processes per node (torchrun) when more than one GPU is used."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Plan keys the trainer refused (not allowed hyper-parameters, out of bounds), with why."""


def _check_values(config: dict[str, Any]) -> None:
    for key, value in config.items():
        if isinstance(value, str) and "${" in value:
            # OmegaConf (LLaMA-Factory's YAML loader) would try to interpolate it.
            raise ConfigError(f"{key}: interpolation '${{...}}' is not allowed ({value!r})")


def _positive_int(config: dict[str, Any], key: str) -> int | None:
    value = config.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    return None


def render_training_config(
    plan: Plan,
    *,
    mode: Mode,
    base_model_dir: Path,
    data_dir: Path,
    output_dir: Path,
    gpus: int,
    allowed_methods: list[TrainingMethod] | None = None,
    model_config: dict[str, Any] | None = None,
    deepspeed_file: Path | None = None,
) -> RenderedConfig:
    """The final config; raises :class:`ConfigError` when the plan cannot be run."""
    if allowed_methods is not None and plan.method not in allowed_methods:
        allowed = ", ".join(m.value for m in allowed_methods)
        raise ConfigError(f"method {plan.method.value!r} is not allowed (allowed: {allowed})")
    # The plan is read again through the allow-list: a plan changed after the agent
    # validated it (paths, hub uploads, checkpoint sprawl) gains nothing.
    config, dropped = allowed_hyperparameters(plan.training_config)
    dropped = {k: v for k, v in dropped.items() if k not in OPERATOR_MANAGED_KEYS}
    model_config = model_config or {}
    planned = plan.training_config.get("template")
    planned_template = (
        planned if isinstance(planned, str) and _TEMPLATE.fullmatch(planned) else None
    )

    template = planned_template or template_for_model(model_config)
    config |= {
        "model_name_or_path": str(base_model_dir),
        "trust_remote_code": False,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": finetuning_type(plan.method),
        "template": template,
        "dataset_dir": str(data_dir),
        "dataset": DATASET_NAME,
        "output_dir": str(output_dir),
        "overwrite_output_dir": True,
        "overwrite_cache": True,
        "save_only_model": True,
        "report_to": "none",
    }

    if mode == "smoke":
        planned_steps = _positive_int(config, "max_steps")
        planned_samples = _positive_int(config, "max_samples")
        config |= {
            "max_steps": min(planned_steps or SMOKE_MAX_STEPS, SMOKE_MAX_STEPS),
            "max_samples": min(planned_samples or SMOKE_MAX_SAMPLES, SMOKE_MAX_SAMPLES),
            "num_train_epochs": 1.0,
            "logging_steps": 1,
            "save_strategy": "no",
            "do_eval": False,
            "eval_strategy": "no",
            "load_best_model_at_end": False,
            "plot_loss": False,
        }
        for key in _EVAL_KEYS:
            config.pop(key, None)
    else:
        config.setdefault("logging_steps", FULL_LOGGING_STEPS)
        # A run shorter than logging_steps would log no loss at all and read as failed.
        config["logging_first_step"] = True
        config.setdefault("save_strategy", "no")
        config.setdefault("plot_loss", False)

    window = context_length(model_config)
    cutoff = _positive_int(config, "cutoff_len")
    if window and cutoff and cutoff > window:
        config["cutoff_len"] = window

    if gpus <= 0:
        for key in _PRECISION_KEYS:
            config.pop(key, None)
    if plan.method is TrainingMethod.QLORA:
        if gpus <= 0:
            raise ConfigError(
                "qlora needs a GPU (bitsandbytes' 4-bit kernels); use lora on CPU or set "
                "spec.training.gpus"
            )
        config |= QLORA_ARGUMENTS
    else:
        for key in QLORA_ARGUMENTS:
            config.pop(key, None)

    rendered = RenderedConfig(config=config, dropped=dropped)
    if gpus > 1:
        if deepspeed_file is None:
            raise ValueError("a multi-GPU run needs a path for its DeepSpeed config")
        config["deepspeed"] = str(deepspeed_file)
        config.setdefault("ddp_timeout", 180000000)
        rendered = RenderedConfig(
            config=config,
            deepspeed=deepspeed_config(zero_stage(plan.method)),
            nproc=gpus,
            dropped=dropped,
        )
    _check_values(config)
    return rendered
