"""DeepSpeed ZeRO configs for multi-GPU training (``spec.training.gpus > 1``).

ZeRO-2 for LoRA and freeze tuning (the optimizer state of the small trainable part is what
shards), ZeRO-3 for full fine-tuning (parameters shard too). Values left as ``"auto"`` are
filled by the HF Trainer from the training arguments, as in LLaMA-Factory's
``examples/deepspeed``. Called by :mod:`fttrainer.config`.
"""

from __future__ import annotations

from typing import Any

from ftapi.campaign import TrainingMethod


def zero_stage(method: TrainingMethod) -> int:
    """3 for full fine-tuning, 2 otherwise (QLoRA's 4-bit weights cannot be sharded by
    ZeRO-3)."""
    return 3 if method is TrainingMethod.FULL else 2


def deepspeed_config(stage: int) -> dict[str, Any]:
    """A ZeRO-2 or ZeRO-3 config with bf16/fp16 following the training arguments."""
    if stage not in (2, 3):
        raise ValueError(f"ZeRO stage must be 2 or 3, not {stage}")
    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if stage == 2:
        zero |= {
            "allgather_partitions": True,
            "allgather_bucket_size": 5e8,
            "reduce_scatter": True,
            "round_robin_gradients": True,
        }
    else:
        zero |= {
            "sub_group_size": 1e9,
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_max_live_parameters": 1e9,
            "stage3_max_reuse_distance": 1e9,
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    return {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_allow_untested_optimizer": True,
        "fp16": {
            "enabled": "auto",
            "loss_scale": 0,
            "loss_scale_window": 1000,
            "initial_scale_power": 16,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
        "bf16": {"enabled": "auto"},
        "zero_optimization": zero,
    }
