"""The LLaMA-Factory chat template of a base model, from its family (``config.json``).

Used when the plan names no template. An unknown family is a configuration error the agent
can repair (by naming a template), never a silent fallback that would train on one chat
format and evaluate on another. Called by :mod:`fttrainer.config`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEMPLATES_BY_MODEL_TYPE: dict[str, str] = {
    "qwen2": "qwen",
    "qwen2_moe": "qwen",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3",
    "mistral": "mistral",
    "mixtral": "mistral",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    "phi3": "phi",
    "deepseek_v2": "deepseek",
    "deepseek_v3": "deepseek3",
    "glm4": "glm4",
    "internlm2": "intern2",
    "cohere": "cohere",
    "granite": "granite3",
    "olmo2": "olmo",
    "falcon": "falcon",
    "gpt_oss": "gpt_oss",
}
"""``config.json`` ``model_type`` -> LLaMA-Factory template (``llama`` is decided below)."""

LLAMA3_MIN_VOCAB = 128_000
"""Llama 3 has a 128k vocabulary; Llama 2 and its derivatives have 32k."""


class UnknownFamilyError(ValueError):
    """No template is known for the model's family."""


def read_model_config(model_dir: Path) -> dict[str, Any]:
    """The model's ``config.json`` (empty when absent)."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def template_for_model(config: dict[str, Any]) -> str:
    """The template for a model given its ``config.json`` content."""
    model_type = str(config.get("model_type", "")).lower()
    if model_type == "llama":
        return "llama3" if int(config.get("vocab_size", 0)) >= LLAMA3_MIN_VOCAB else "llama2"
    try:
        return TEMPLATES_BY_MODEL_TYPE[model_type]
    except KeyError:
        raise UnknownFamilyError(
            f"no chat template known for model_type {model_type or '(missing)'!r}; "
            "set 'template' in the training config"
        ) from None


def context_length(config: dict[str, Any]) -> int | None:
    """The model's context window, when its config states one."""
    for key in ("max_position_embeddings", "max_sequence_length", "seq_length"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None
