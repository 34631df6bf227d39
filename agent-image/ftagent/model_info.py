"""What the agent knows about the base model without loading it: parameter count, size
class, family (and so the LLaMA-Factory chat template) and context length.

Sources, in order: the model name (``Qwen2.5-7B-Instruct`` -> 7B, qwen) and the model
folder's ``config.json`` (``model_type``, ``max_position_embeddings``, layer sizes for a
parameter estimate). Used by the planners' defaults and by :mod:`ftagent.context`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096
"""Context length assumed when config.json does not say (a conservative common value)."""
UNKNOWN_SIZE_B = 7.0
"""Parameters (billions) assumed when neither the name nor config.json tells the size."""


class SizeClass(StrEnum):
    """Model size buckets that pick learning rates, LoRA ranks and batch sizes."""

    TINY = "tiny"
    """Under 50M parameters: toy and test models, usually randomly initialised; they need
    full fine-tuning with large learning rates and many epochs to learn anything."""
    SMALL = "small"
    """50M to 3B parameters."""
    MEDIUM = "medium"
    """3B to 15B."""
    LARGE = "large"
    """15B to 40B."""
    XLARGE = "xlarge"
    """40B and more."""


def size_class(params_b: float) -> SizeClass:
    if params_b < 0.05:
        return SizeClass.TINY
    if params_b < 3:
        return SizeClass.SMALL
    if params_b < 15:
        return SizeClass.MEDIUM
    if params_b < 40:
        return SizeClass.LARGE
    return SizeClass.XLARGE


_MOE_SIZE = re.compile(r"(?<![a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z])")
_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z])")


def params_from_name(name: str) -> float | None:
    """Billions of parameters written in a model name: ``7B``, ``0.5b``, ``8x7B``, ``135M``."""
    text = name.lower().replace("_", "-")
    moe = _MOE_SIZE.search(text)
    if moe:
        return int(moe.group(1)) * float(moe.group(2))
    match = _SIZE.search(text)
    if not match:
        return None
    value = float(match.group(1))
    return value if match.group(2) == "b" else value / 1000


def params_from_config(config: dict[str, Any]) -> float | None:
    """Estimate billions of parameters from a decoder config's layer sizes."""
    config = config.get("text_config") or config
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        vocab = int(config.get("vocab_size", 32000))
    except (KeyError, TypeError, ValueError):
        return None
    intermediate = int(config.get("intermediate_size") or 4 * hidden)
    heads = int(config.get("num_attention_heads") or 1)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    experts = int(config.get("num_local_experts") or config.get("num_experts") or 1)
    attention = 2 * hidden * hidden + 2 * hidden * (hidden * kv_heads // max(heads, 1))
    mlp = 3 * hidden * intermediate * experts
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return (embeddings + layers * (attention + mlp)) / 1e9


# (pattern over "<name> <model_type>", LLaMA-Factory template), most specific first.
_TEMPLATES: tuple[tuple[str, str], ...] = (
    (r"qwen3", "qwen3"),
    (r"deepseek-?r1", "deepseekr1"),
    (r"qwq|qwen", "qwen"),
    (r"deepseek-?v3", "deepseek3"),
    (r"deepseek-?coder", "deepseekcoder"),
    (r"deepseek", "deepseek"),
    (r"llama-?4", "llama4"),
    (r"llama-?3", "llama3"),
    (r"llama-?2", "llama2"),
    (r"ministral", "ministral"),
    (r"mistral|mixtral", "mistral"),
    (r"gemma-?3", "gemma3"),
    (r"gemma-?2", "gemma2"),
    (r"gemma", "gemma"),
    (r"phi-?4", "phi4"),
    (r"phi-?3", "phi"),
    (r"chatglm3", "chatglm3"),
    (r"glm-?4", "glm4"),
    (r"internlm2", "intern2"),
    (r"\byi\b", "yi"),
    (r"falcon", "falcon"),
    (r"olmo", "olmo"),
    (r"smollm2", "smollm2"),
    (r"smollm", "smollm"),
)
_FAMILY_OF_TEMPLATE = {"qwen3": "qwen", "deepseekr1": "qwen"}


@dataclass(frozen=True)
class ModelInfo:
    """The base model as the planners see it."""

    name: str
    path: Path | None
    """The model folder when it exists in the model cache."""
    params_b: float
    params_source: str
    """Where ``params_b`` came from: name, config or assumed."""
    size: SizeClass
    template: str
    """LLaMA-Factory chat template for the model family."""
    model_type: str | None
    context_length: int
    context_source: str

    @property
    def family(self) -> str:
        return _FAMILY_OF_TEMPLATE.get(self.template, self.template)

    def summary(self) -> str:
        return (
            f"{self.name}: ~{self.params_b:g}B parameters ({self.params_source}), "
            f"{self.size} model, template {self.template}, context {self.context_length} "
            f"tokens ({self.context_source})"
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def template_for(name: str, model_type: str | None, chat_template: str | None) -> str:
    """LLaMA-Factory template from the model name or type; chatml or default otherwise."""
    text = f"{name} {model_type or ''}".lower()
    for pattern, template in _TEMPLATES:
        if re.search(pattern, text):
            return template
    if chat_template and "<|im_start|>" in chat_template:
        return "chatml"
    return "default"


def _context_length(config: dict[str, Any]) -> int | None:
    config = config.get("text_config") or config
    for key in ("max_position_embeddings", "max_sequence_length", "seq_length", "n_positions"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def describe_model(name: str, model_dir: Path | None) -> ModelInfo:
    """Everything the planners need about ``name`` (its folder is read when present)."""
    path = model_dir if model_dir is not None and model_dir.is_dir() else None
    config = _read_json(path / "config.json") if path and (path / "config.json").is_file() else {}
    tokenizer_config = (
        _read_json(path / "tokenizer_config.json")
        if path and (path / "tokenizer_config.json").is_file()
        else {}
    )
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    params, source = params_from_name(Path(name).name), "name"
    if params is None:
        params, source = params_from_config(config), "config.json"
    if params is None:
        params, source = UNKNOWN_SIZE_B, "assumed"
    context = _context_length(config)
    chat_template = tokenizer_config.get("chat_template")
    return ModelInfo(
        name=name,
        path=path,
        params_b=round(params, 4),
        params_source=source,
        size=size_class(params),
        template=template_for(
            name, model_type, chat_template if isinstance(chat_template, str) else None
        ),
        model_type=model_type,
        context_length=context or DEFAULT_CONTEXT,
        context_source="config.json" if context else "assumed",
    )
