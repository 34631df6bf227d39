"""The training hyper-parameters a plan may set, with their bounds: an allow-list.

A plan's ``training_config`` is written by a planner that may be an LLM, so it is untrusted.
Only the LLaMA-Factory keys below pass, each with a type and bounds; nothing names a path, an
outside service (hub uploads, trackers, Ray), checkpoint sprawl (``save_steps: 1`` with no
``save_total_limit``) or resource exhaustion (thousands of dataloader workers). The agent
filters its proposals with :func:`allowed_hyperparameters`, and the trainer filters again what
it reads from the plan, so a plan changed after validation gains nothing.
Operator-managed keys (``ftapi.plan.OPERATOR_MANAGED_KEYS``) are set by the workers, never by a
plan.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["int", "float", "bool", "str"]


@dataclass(frozen=True)
class Bound:
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None

    def coerce(self, value: Any) -> Any:
        """``value`` as this kind (numbers written as text, ``"true"``/``"false"``); other
        values are returned unchanged for :meth:`check` to refuse."""
        if isinstance(value, str) and self.kind in ("int", "float"):
            try:
                number = float(value.strip())
            except ValueError:
                return value
            return int(number) if self.kind == "int" and number.is_integer() else number
        if isinstance(value, str) and self.kind == "bool":
            return {"true": True, "false": False}.get(value.strip().lower(), value)
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, or None."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{value!r} is not a boolean"
        if self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{value!r} is not a number"
            if self.kind == "int" and not float(value).is_integer():
                return f"{value!r} is not an integer"
            if not math.isfinite(value):
                return f"{value!r} is not finite"
            if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high
            ):
                return f"{value!r} is outside [{self.low}, {self.high}]"
            return None
        if not isinstance(value, str):
            return f"{value!r} is not a string"
        if self.choices and value not in self.choices:
            return f"{value!r} is not one of {', '.join(self.choices)}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"{value!r} does not match {self.pattern}"
        return None


_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "warmup_stable_decay",
)
_OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_8bit",
    "adafactor",
    "sgd",
    "paged_adamw_8bit",
)
_MODULES = r"[A-Za-z0-9_.,]{1,512}"

HYPERPARAMETERS: Mapping[str, Bound] = {
    # method
    "finetuning_type": Bound("str", choices=("lora", "full", "freeze")),
    # QLoRA (the trainer sets these itself for the qlora method)
    "quantization_bit": Bound("int", 4, 8),
    "quantization_method": Bound("str", choices=("bitsandbytes",)),
    "double_quantization": Bound("bool"),
    # optimisation
    "learning_rate": Bound("float", 1e-8, 1e-2),
    "num_train_epochs": Bound("float", 0.01, 1000),
    "max_steps": Bound("int", -1, 1_000_000),
    "per_device_train_batch_size": Bound("int", 1, 512),
    "gradient_accumulation_steps": Bound("int", 1, 4096),
    "lr_scheduler_type": Bound("str", choices=_SCHEDULERS),
    "warmup_ratio": Bound("float", 0, 0.5),
    "warmup_steps": Bound("int", 0, 100_000),
    "weight_decay": Bound("float", 0, 1),
    "max_grad_norm": Bound("float", 0, 1000),
    "adam_beta1": Bound("float", 0, 1),
    "adam_beta2": Bound("float", 0, 1),
    "adam_epsilon": Bound("float", 0, 1e-2),
    "optim": Bound("str", choices=_OPTIMIZERS),
    "seed": Bound("int", 0, 2**31 - 1),
    "gradient_checkpointing": Bound("bool"),
    "neftune_noise_alpha": Bound("float", 0, 50),
    "label_smoothing_factor": Bound("float", 0, 0.5),
    # precision (the trainer drops it on CPU)
    "bf16": Bound("bool"),
    "fp16": Bound("bool"),
    "tf32": Bound("bool"),
    # data
    "cutoff_len": Bound("int", 16, 1_048_576),
    "max_samples": Bound("int", 1, 100_000_000),
    "packing": Bound("bool"),
    "neat_packing": Bound("bool"),
    "train_on_prompt": Bound("bool"),
    "mask_history": Bound("bool"),
    "preprocessing_num_workers": Bound("int", 1, 64),
    "dataloader_num_workers": Bound("int", 0, 16),
    # LoRA
    "lora_rank": Bound("int", 1, 1024),
    "lora_alpha": Bound("float", 1, 4096),
    "lora_dropout": Bound("float", 0, 0.9),
    "lora_target": Bound("str", pattern=_MODULES),
    "additional_target": Bound("str", pattern=_MODULES),
    "use_rslora": Bound("bool"),
    "use_dora": Bound("bool"),
    "pissa_init": Bound("bool"),
    "loraplus_lr_ratio": Bound("float", 0, 64),
    # freeze
    "freeze_trainable_layers": Bound("int", -1024, 1024),
    "freeze_trainable_modules": Bound("str", pattern=_MODULES),
    # logging and checkpoints (bounded: no checkpoint every step)
    "logging_steps": Bound("int", 1, 100_000),
    "save_strategy": Bound("str", choices=("no", "steps", "epoch")),
    "save_steps": Bound("int", 50, 1_000_000),
    "save_total_limit": Bound("int", 1, 3),
    "plot_loss": Bound("bool"),
    # validation during training
    "val_size": Bound("float", 0, 0.5),
    "eval_strategy": Bound("str", choices=("no", "steps", "epoch")),
    "eval_steps": Bound("int", 10, 1_000_000),
    "per_device_eval_batch_size": Bound("int", 1, 512),
}
"""Every hyper-parameter a plan may set, with its type and bounds."""


def finetuning_type(method: str) -> str:
    """LLaMA-Factory's ``finetuning_type`` of a training method: QLoRA is LoRA on a base model
    quantised to 4 bits (the trainer adds the quantisation arguments)."""
    return "lora" if str(method) == "qlora" else str(method)


def allowed_hyperparameters(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The allowed, in-bounds entries of ``config``, and why each other key was dropped.
    Saving checkpoints needs a ``save_total_limit`` (no unbounded checkpoint sprawl)."""
    kept: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    for key, value in config.items():
        bound = HYPERPARAMETERS.get(str(key))
        if bound is None:
            dropped[str(key)] = "not an allowed training hyper-parameter"
            continue
        value = bound.coerce(value)
        problem = bound.check(value)
        if problem:
            dropped[str(key)] = problem
            continue
        kept[str(key)] = value
    if kept.get("save_strategy", "no") != "no" and "save_total_limit" not in kept:
        kept["save_total_limit"] = 1
    return kept, dropped
