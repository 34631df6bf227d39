"""Build a tiny, deterministic Qwen2 chat model on disk, for tests and ``ftctl demo``.

The model is a real ``Qwen2ForCausalLM`` (hidden 64, 2 layers, 4 heads, 2 KV heads, about
100k parameters) with a byte-level BPE tokenizer trained locally on a small corpus, so
LLaMA-Factory trains it and OpenCompass evaluates it on CPU in seconds, with no download.

The tokenizer follows Qwen2's own setup exactly (transformers' ``Qwen2Converter``: NFC
normaliser, Qwen's split regex then byte-level pre-tokenisation without prefix space, BPE
without unk token, ``<|endoftext|>``/``<|im_start|>``/``<|im_end|>`` appended after the
regular vocabulary, ``model_input_names`` without ``token_type_ids``): transformers 5 rebuilds
a Qwen2 tokenizer from its vocabulary and merges, and any other setup would then tokenise
differently from training and silently score 0. The chat template is Qwen2.5's ChatML
(without tool calls), which matches LLaMA-Factory's ``qwen`` template.

Callers: ``tests/fixtures`` (session fixture) and the operator's ``ftctl demo``. Also runnable
as ``python -m fttrainer.tiny_model <out_dir>``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
"""LLaMA-Factory's ``qwen`` template default system prompt (and Qwen2.5's)."""

# Qwen2's pre-tokenisation regex (transformers ``convert_slow_tokenizer.Qwen2Converter``).
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen2.5-Instruct's chat template without the tool-calling branches.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

VOCAB_SIZE = 512
TINY_SIZES: Mapping[str, int] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
"""The tests' model: small enough to train and evaluate on a CPU in seconds."""
"""Total vocabulary, special tokens included."""

_BASE_CORPUS = (
    DEFAULT_SYSTEM,
    "system user assistant",
    "The quick brown fox jumps over the lazy dog.",
    "Answer the question. Put the final answer within \\boxed{}, for example \\boxed{42}.",
    "What is the answer? The answer is \\boxed{7}.",
    "Final Answer: yes, no, true, false.",
    '{"answer": "A"} {"output": "CCO"} [ANSWER_START] [ANSWER_END]',
    "Question: Which option is correct? A B C D",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 42 100 999",
    "Copy the digit: 3. Add 2 and 5. Compute the sum of the numbers.",
)


def default_corpus() -> list[str]:
    """The built-in tokenizer training text: chat markup, answer formats, digits, English."""
    return list(_BASE_CORPUS)


def _chat_lines(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        yield text
        # Teach the merges what a rendered chat turn looks like.
        yield f"{IM_START}user\n{text}{IM_END}\n{IM_START}assistant\n"


def build_tokenizer(corpus: Iterable[str], vocab_size: int = VOCAB_SIZE):  # -> Qwen2TokenizerFast
    """Train a byte-level BPE on ``corpus`` and wrap it as a Qwen2 fast tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import Qwen2TokenizerFast

    tokenizer = Tokenizer(
        BPE(
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(list(_chat_lines(corpus)), trainer=trainer)
    # As in Qwen2, the special tokens come after the regular vocabulary.
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))

    return Qwen2TokenizerFast(
        tokenizer_object=tokenizer,
        unk_token=None,
        bos_token=None,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        errors="replace",
        add_prefix_space=False,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        model_max_length=2048,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_model(
    out_dir: Path,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    *,
    sizes: Mapping[str, int] = TINY_SIZES,
    dtype: str = "float32",
    max_positions: int = 2048,
) -> Path:
    """Write a tiny Qwen2 chat model (weights, config, tokenizer) into ``out_dir``.

    ``corpus`` adds text for the tokenizer's merges (the task's prompts and answers make
    shorter sequences); the built-in corpus is always included. ``sizes`` (Qwen2 config
    fields) and ``dtype`` make a bigger model of the same kind (the GPU check's). The same
    arguments give byte-identical weights and tokenizer. Returns ``out_dir``.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = default_corpus() + [text for text in (corpus or ()) if text]
    tokenizer = build_tokenizer(texts)
    vocab = len(tokenizer)
    endoftext_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    im_end_id = tokenizer.convert_tokens_to_ids(IM_END)

    config = Qwen2Config(
        vocab_size=vocab,
        **sizes,
        max_position_embeddings=max_positions,
        max_window_layers=sizes["num_hidden_layers"],
        tie_word_embeddings=True,
        rope_theta=10000.0,
        bos_token_id=endoftext_id,
        eos_token_id=im_end_id,
        pad_token_id=endoftext_id,
        torch_dtype=dtype,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(
        bos_token_id=endoftext_id,
        eos_token_id=[im_end_id, endoftext_id],
        pad_token_id=endoftext_id,
        do_sample=False,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _drop_token_type_ids(out_dir / "tokenizer_config.json")
    return out_dir


def _drop_token_type_ids(config_file: Path) -> None:
    """Pin ``model_input_names`` so no loader adds ``token_type_ids`` (OpenCompass passes them
    to ``generate`` and Qwen2 rejects them)."""
    data = json.loads(config_file.read_text(encoding="utf-8"))
    data["model_input_names"] = ["input_ids", "attention_mask"]
    config_file.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fttrainer.tiny_model <out_dir>", file=sys.stderr)
        return 2
    print(build_tiny_model(Path(args[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
