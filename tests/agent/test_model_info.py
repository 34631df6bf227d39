"""What the agent derives about the base model: size, template, context and tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftagent.model_info import SizeClass, describe_model, params_from_name, template_for
from ftagent.tokens import TokenCounter


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", 7.0),
        ("Qwen/Qwen2.5-0.5B", 0.5),
        ("mistralai/Mixtral-8x7B-v0.1", 56.0),
        ("HuggingFaceTB/SmolLM2-135M", 0.135),
        ("meta-llama/Llama-3.1-70b-instruct", 70.0),
        ("Qwen/Qwen3-30B-A3B", 30.0),
        ("microsoft/phi-3-mini-4k-instruct", None),
        ("Qwen/Qwen2.5-4bit", None),
    ],
)
def test_size_from_name(name: str, params: float | None) -> None:
    assert params_from_name(name) == params


@pytest.mark.parametrize(
    ("name", "model_type", "template"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", None, "qwen"),
        ("Qwen/Qwen3-8B", None, "qwen3"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", None, "llama3"),
        ("mistralai/Mistral-7B-Instruct-v0.3", None, "mistral"),
        ("google/gemma-2-9b-it", None, "gemma2"),
        ("local/tiny", "qwen2", "qwen"),
        ("local/tiny", "gemma3_text", "gemma3"),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", None, "deepseekr1"),
        ("01-ai/Yi-1.5-9B-Chat", None, "yi"),
        ("some/unknown-model", None, "default"),
    ],
)
def test_template_from_family(name: str, model_type: str | None, template: str) -> None:
    assert template_for(name, model_type, None) == template


def test_unknown_family_with_chatml_template() -> None:
    assert template_for("x/y", "foo", "{{ '<|im_start|>' + message['role'] }}") == "chatml"


def test_tiny_local_model_from_config(tmp_path: Path) -> None:
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(
        json.dumps(
            {
                "model_type": "qwen2",
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 128,
                "vocab_size": 400,
                "max_position_embeddings": 512,
                "tie_word_embeddings": True,
            }
        )
    )
    info = describe_model("./tiny", model_dir)
    assert info.params_source == "config.json"
    assert info.params_b < 0.001
    assert info.size is SizeClass.TINY
    assert info.template == "qwen"
    assert info.context_length == 512


def test_unknown_model_is_assumed_medium() -> None:
    info = describe_model("org/mystery", None)
    assert info.params_source == "assumed"
    assert info.size is SizeClass.MEDIUM
    assert info.context_length == 4096


def test_token_counter_uses_the_model_tokenizer(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        ["hello world again"], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    counter = TokenCounter.for_model_dir(tmp_path)
    assert counter.exact
    assert counter.count("hello world hello") == 3
    assert counter.count_many(["hello", "world again"]) == [1, 2]
    assert not TokenCounter.for_model_dir(tmp_path / "missing").exact
