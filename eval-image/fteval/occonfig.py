"""Render the OpenCompass Python config of one evaluation step (pure function).

One model (HuggingFace with the chat template on CPU, vLLM with GPUs) and one dataset per
split, each a local JSONL read by OpenCompass' ``CustomDataset`` whose rows already hold the
full prompt (``ft_prompt``, see :mod:`fteval.prompts`), so benchmark text is never passed
through OpenCompass' template formatting. Generation is greedy, or sampled
(:data:`SAMPLING`) when each item is answered several times: OpenCompass' own dataset
replication (``n``) repeats the split and its evaluator averages the replicas (avg@k).
The meta template has plain HUMAN/BOT rounds (without one, OpenCompass appends a newline to
every user message). The evaluator is :class:`fteval.evaluator.FtBenchmarkEvaluator`.
Called by :mod:`fteval.main`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.columns import ANSWER_COLUMN, PROMPT_COLUMN


@dataclass(frozen=True)
class ModelSpec:
    """The model OpenCompass loads."""

    abbr: str
    path: Path
    adapter_path: Path | None
    gpus: int
    max_out_len: int
    batch_size: int
    max_seq_len: int | None = None
    lora_rank: int | None = None
    sampling: bool = False
    """Sample (:data:`SAMPLING`) instead of greedy decoding."""
    vllm: bool = True
    """With GPUs, generate with vLLM (the eval image installs it); False: the HuggingFace
    backend on the GPUs (an image without vLLM)."""


@dataclass(frozen=True)
class DatasetSpec:
    """One split's items, as a JSONL file of prompt/answer rows."""

    abbr: str
    path: Path
    benchmark: str
    max_out_len: int
    judge: dict[str, Any] | None = None
    samples: int = 1
    """Answers per item (OpenCompass' ``n``); scores average over them."""


META_TEMPLATE = {
    "round": [
        {"role": "HUMAN", "api_role": "HUMAN"},
        {"role": "BOT", "api_role": "BOT", "generate": True},
    ]
}

SAMPLING = {"temperature": 0.6, "top_p": 0.95}
"""Sampling settings for several answers per item (the usual avg@k settings of reasoning
benchmarks such as AIME)."""

_VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def model_dict(spec: ModelSpec) -> dict[str, Any]:
    """The ``models`` entry (class names are filled in by :func:`render_config`)."""
    common: dict[str, Any] = {
        "abbr": spec.abbr,
        "path": str(spec.path),
        "max_out_len": spec.max_out_len,
        "batch_size": spec.batch_size,
        "meta_template": META_TEMPLATE,
        "run_cfg": {"num_gpus": spec.gpus},
    }
    if spec.max_seq_len:
        common["max_seq_len"] = spec.max_seq_len
    if spec.gpus > 0 and spec.vllm:
        model_kwargs: dict[str, Any] = {
            "tensor_parallel_size": spec.gpus,
            "gpu_memory_utilization": 0.9,
            "trust_remote_code": False,
        }
        if spec.adapter_path is not None:
            rank = spec.lora_rank or 16
            model_kwargs |= {
                "enable_lora": True,
                "max_lora_rank": next((r for r in _VLLM_LORA_RANKS if r >= rank), rank),
            }
            common["lora_path"] = str(spec.adapter_path)
        return common | {
            "type": "VLLMwithChatTemplate",
            "model_kwargs": model_kwargs,
            "generation_kwargs": dict(SAMPLING) if spec.sampling else {"temperature": 0.0},
        }
    on_gpu = spec.gpus > 0
    out = common | {
        "type": "HuggingFacewithChatTemplate",
        "model_kwargs": {
            "device_map": "auto" if on_gpu else "cpu",
            "torch_dtype": "torch.bfloat16" if on_gpu else "torch.float32",
            "trust_remote_code": False,
        },
        "tokenizer_kwargs": {"trust_remote_code": False},
        "generation_kwargs": (
            {"do_sample": True, **SAMPLING} if spec.sampling else {"do_sample": False}
        ),
    }
    if spec.adapter_path is not None:
        out["peft_path"] = str(spec.adapter_path)
    return out


def dataset_dict(spec: DatasetSpec) -> dict[str, Any]:
    """The ``datasets`` entry (class names are filled in by :func:`render_config`)."""
    evaluator: dict[str, Any] = {"type": "FtBenchmarkEvaluator", "benchmark": spec.benchmark}
    if spec.judge:
        evaluator["judge"] = spec.judge
    replication = {"n": spec.samples} if spec.samples > 1 else {}
    return replication | {
        "abbr": spec.abbr,
        "type": "CustomDataset",
        "path": str(spec.path),
        "local_mode": True,
        "reader_cfg": {"input_columns": [PROMPT_COLUMN], "output_column": ANSWER_COLUMN},
        "infer_cfg": {
            "prompt_template": {
                "type": "PromptTemplate",
                "template": {"round": [{"role": "HUMAN", "prompt": "{" + PROMPT_COLUMN + "}"}]},
            },
            "retriever": {"type": "ZeroRetriever"},
            "inferencer": {"type": "GenInferencer", "max_out_len": spec.max_out_len},
        },
        "eval_cfg": {"evaluator": evaluator, "pred_role": "BOT"},
    }


_IMPORTS = {
    "HuggingFacewithChatTemplate": "from opencompass.models import HuggingFacewithChatTemplate",
    "VLLMwithChatTemplate": "from opencompass.models import VLLMwithChatTemplate",
    "CustomDataset": "from opencompass.datasets import CustomDataset",
    "PromptTemplate": "from opencompass.openicl.icl_prompt_template import PromptTemplate",
    "ZeroRetriever": "from opencompass.openicl.icl_retriever import ZeroRetriever",
    "GenInferencer": "from opencompass.openicl.icl_inferencer import GenInferencer",
    "FtBenchmarkEvaluator": "from fteval.evaluator import FtBenchmarkEvaluator",
}


def _python(value: Any, used: set[str]) -> str:
    """Python source for ``value``; ``type`` entries become the imported class names."""
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if key == "type" and isinstance(item, str) and item in _IMPORTS:
                used.add(item)
                parts.append(f"{key}={item}")
            else:
                parts.append(f"{key}={_python(item, used)}")
        return "dict(" + ", ".join(parts) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_python(item, used) for item in value) + "]"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a valid Python string literal too
    raise TypeError(f"cannot render {type(value).__name__} into an OpenCompass config")


def render_config(model: ModelSpec, datasets: list[DatasetSpec], title: str) -> str:
    """The config file's text."""
    used: set[str] = set()
    models_src = _python([model_dict(model)], used)
    datasets_src = _python([dataset_dict(d) for d in datasets], used)
    imports = "\n".join(sorted(_IMPORTS[name] for name in used))
    return (
        f'"""OpenCompass config generated by fteval: {title}. Do not edit."""\n\n'
        f"{imports}\n\n"
        f"models = {models_src}\n\n"
        f"datasets = {datasets_src}\n"
    )
