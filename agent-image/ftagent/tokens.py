"""Token counts of training text: the base model's own tokenizer when its ``tokenizer.json``
is in the model cache (through the light ``tokenizers`` library, no torch), else an
approximation.

Used by the recipes (drop rows longer than the model's context), by validation (length
statistics, the 99th percentile that sets ``cutoff_len``) and by the LLM planner's prompts.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

TEMPLATE_OVERHEAD = 16
"""Tokens a chat template adds around one exchange (role markers, separators)."""

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")


def approximate_tokens(text: str) -> int:
    """About one token per CJK character and one per four other characters (BPE averages)."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


class TokenCounter:
    """Counts tokens with a real tokenizer when one is available."""

    def __init__(self, tokenizer: object | None = None, source: str = "approximate") -> None:
        self._tokenizer = tokenizer
        self.source = source

    @classmethod
    def for_model_dir(cls, model_dir: Path | None) -> TokenCounter:
        """The model's ``tokenizer.json`` when present and loadable, else the approximation."""
        if model_dir is None:
            return cls()
        path = model_dir / "tokenizer.json"
        if not path.is_file():
            return cls()
        try:
            from tokenizers import Tokenizer

            return cls(Tokenizer.from_file(str(path)), source=str(path))
        except Exception as exc:  # a broken or unsupported tokenizer file: approximate instead
            log.warning("cannot load %s (%s); approximating token counts", path, exc)
            return cls()

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    def count(self, text: str) -> int:
        if self._tokenizer is None:
            return approximate_tokens(text)
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)  # type: ignore[attr-defined]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if self._tokenizer is None:
            return [approximate_tokens(text) for text in texts]
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)  # type: ignore[attr-defined]
        return [len(item.ids) for item in encoded]

    def record_tokens(self, prompt: str, output: str) -> int:
        """Tokens of one training example (prompt + response + template overhead)."""
        return self.count(prompt) + self.count(output) + TEMPLATE_OVERHEAD


def percentile(values: Sequence[int], q: float) -> int:
    """The ``q`` percentile (0-100) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
