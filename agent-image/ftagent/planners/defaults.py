"""Sound default training settings by method and model size, shared by both planners.

The search planner starts from these and searches around them; the LLM planner is shown them
as a starting point and falls back to them. Values follow common LLaMA-Factory SFT practice:
LoRA on all linear layers with a learning rate that shrinks with model size, full fine-tuning
an order of magnitude lower, an effective batch of about 16, cosine schedule with warm-up, and
``cutoff_len`` no larger than the model's context, a per-size memory ceiling and the data's
99th-percentile length.
"""

from __future__ import annotations

import math
from typing import Any

from ftagent.model_info import ModelInfo, SizeClass
from ftapi.campaign import TrainingMethod
from ftapi.hyperparameters import finetuning_type

LEARNING_RATE: dict[TrainingMethod, dict[SizeClass, float]] = {  # QLoRA: as LoRA
    TrainingMethod.LORA: {
        SizeClass.TINY: 5e-3,
        SizeClass.SMALL: 2e-4,
        SizeClass.MEDIUM: 1e-4,
        SizeClass.LARGE: 5e-5,
        SizeClass.XLARGE: 3e-5,
    },
    TrainingMethod.FULL: {
        SizeClass.TINY: 3e-3,
        SizeClass.SMALL: 1e-5,
        SizeClass.MEDIUM: 5e-6,
        SizeClass.LARGE: 2e-6,
        SizeClass.XLARGE: 1e-6,
    },
    TrainingMethod.FREEZE: {
        SizeClass.TINY: 3e-3,
        SizeClass.SMALL: 5e-5,
        SizeClass.MEDIUM: 2e-5,
        SizeClass.LARGE: 1e-5,
        SizeClass.XLARGE: 5e-6,
    },
}
LORA_RANK = {
    SizeClass.TINY: 8,
    SizeClass.SMALL: 16,
    SizeClass.MEDIUM: 16,
    SizeClass.LARGE: 32,
    SizeClass.XLARGE: 32,
}
BATCH_SIZE = {
    SizeClass.TINY: 8,
    SizeClass.SMALL: 4,
    SizeClass.MEDIUM: 2,
    SizeClass.LARGE: 1,
    SizeClass.XLARGE: 1,
}
EPOCH_SCALE = {SizeClass.TINY: 10.0}
"""Tiny models see every example many more times (the epoch grid is multiplied)."""
MEMORY_CUTOFF = {
    SizeClass.TINY: 1024,
    SizeClass.SMALL: 8192,
    SizeClass.MEDIUM: 8192,
    SizeClass.LARGE: 4096,
    SizeClass.XLARGE: 4096,
}
"""Longest sequence per size that fits a single 80 GB GPU with the default batch (a ceiling;
the data's own length usually decides)."""
EPOCHS = 3.0
EFFECTIVE_BATCH = 16
MIN_CUTOFF = 128
CUTOFF_STEP = 64
METHOD_PREFERENCE = (TrainingMethod.LORA, TrainingMethod.FULL, TrainingMethod.FREEZE)


GPU_MEMORY_GB = 80
"""Memory of one GPU the defaults plan for (an H100-class card)."""
WEIGHT_BYTES = {TrainingMethod.LORA: 2.0, TrainingMethod.QLORA: 0.55}
"""Bytes per parameter of the frozen base weights: bf16, or 4 bits plus quantisation
constants."""
OVERHEAD = 1.4
"""Activations, adapter, optimiser state and fragmentation on top of the weights."""


def fits(method: TrainingMethod, model: ModelInfo, gpus: int) -> bool:
    """Whether the base weights of ``method`` fit the campaign's GPUs (a rough ceiling)."""
    need = model.params_b * WEIGHT_BYTES[method] * OVERHEAD
    return need <= GPU_MEMORY_GB * max(1, gpus)


def default_method(
    allowed: list[TrainingMethod], model: ModelInfo | None = None, gpus: int = 1
) -> TrainingMethod:
    """LoRA when allowed (cheap, robust), else the first allowed by preference; full
    fine-tuning first for tiny models, whose few weights LoRA would barely move; QLoRA first
    when LoRA's bf16 base weights would not fit the GPUs but 4-bit ones would (never on CPU)."""
    preference = METHOD_PREFERENCE
    if model is not None and model.size is SizeClass.TINY:
        preference = (TrainingMethod.FULL, TrainingMethod.LORA, TrainingMethod.FREEZE)
    if (
        model is not None
        and gpus > 0
        and TrainingMethod.QLORA in allowed
        and not fits(TrainingMethod.LORA, model, gpus)
        and fits(TrainingMethod.QLORA, model, gpus)
    ):
        return TrainingMethod.QLORA
    for method in preference:
        if method in allowed:
            return method
    return allowed[0]


def epoch_scale(model: ModelInfo) -> float:
    return EPOCH_SCALE.get(model.size, 1.0)


def default_epochs(model: ModelInfo) -> float:
    return EPOCHS * epoch_scale(model)


def default_learning_rate(method: TrainingMethod, model: ModelInfo) -> float:
    return LEARNING_RATE[TrainingMethod.LORA if method is TrainingMethod.QLORA else method][
        model.size
    ]


def training_config(
    method: TrainingMethod,
    model: ModelInfo,
    *,
    gpus: int,
    learning_rate: float,
    epochs: float,
    lora_rank: int | None,
) -> dict[str, Any]:
    """A complete LLaMA-Factory SFT config (without the operator-managed keys)."""
    batch = BATCH_SIZE[model.size]
    config: dict[str, Any] = {
        "finetuning_type": finetuning_type(method),
        "learning_rate": learning_rate,
        "num_train_epochs": epochs,
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": max(1, EFFECTIVE_BATCH // (batch * max(1, gpus))),
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "logging_steps": 10,
        "seed": 42,
    }
    if gpus > 0:
        config["bf16"] = True
    if method in (TrainingMethod.LORA, TrainingMethod.QLORA):
        rank = lora_rank or LORA_RANK[model.size]
        config.update(
            {"lora_rank": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.05, "lora_target": "all"}
        )
    elif method is TrainingMethod.FREEZE:
        config["freeze_trainable_layers"] = 2
    return config


def cutoff_len(p99_tokens: int | None, model: ModelInfo, proposed: int | None = None) -> int:
    """The training sequence length: the data's 99th percentile (rounded up), or the proposed
    value, never above the model's context or the memory ceiling."""
    ceiling = min(model.context_length, MEMORY_CUTOFF[model.size])
    if proposed is not None and proposed > 0:
        return max(1, min(proposed, ceiling))
    wanted = max(MIN_CUTOFF, math.ceil((p99_tokens or MIN_CUTOFF) / CUTOFF_STEP) * CUTOFF_STEP)
    return min(wanted, ceiling)
