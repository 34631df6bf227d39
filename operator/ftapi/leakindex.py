"""The leak index: hashed word n-grams of the items a campaign is scored on, so the agent can
recognise evaluation items (and near copies) in training data without ever seeing them.

The prepare step, which holds the evaluation set, builds the index from the validation and
test items' texts (question with its context, and the gold answer when it is long enough to
identify the item) and writes it next to the exclusion fingerprints; the agent pod mounts
only that folder, never the evaluation set. Texts are normalised (``ftapi.evalsets.
normalize``: NFKC, case-folded, punctuation removed, CJK characters as words) and cut into
overlapping n-grams of :data:`NGRAM` words, each hashed to 64 bits. An item keeps at most
:data:`KEEP` of its n-gram hashes, the smallest ones (a bottom-k sketch: every text that
holds the whole item holds all of them). A training text leaks an item when it contains at
least :data:`CONTAINMENT` of the item's kept hashes: one changed word, a reordered sentence
or the item pasted into the output still match; a different question over the same topic
does not. Items shorter than ``NGRAM`` words ("Yes or no?") match only a text that is exactly
them, so that they do not flag every text that uses the same words.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ftapi.evalsets.base import normalize

NGRAM = 5
"""Words per n-gram."""
CHAR_NGRAM = 12
"""Characters per n-gram of the text with its spaces removed (catches copies whose words were
run together or split)."""
KEEP = 256
"""Hashes kept per item (the smallest)."""
CONTAINMENT = 0.5
"""Share of an item's kept hashes a text must hold to count as a copy of it."""


def _hash(words: Sequence[str]) -> int:
    digest = hashlib.blake2b(" ".join(words).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # 63 bits: exact in JSON readers of any kind


def words(text: str) -> list[str]:
    return normalize(text).split()


def ngram_hashes(tokens: Sequence[str], n: int = NGRAM) -> set[int]:
    return {_hash(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


RUN_TOGETHER = 24
"""A "word" at least this long is words run together (no natural word is): only such runs of
a training text are compared by characters, so templated texts that merely share many words
with an item are left to the word n-grams."""


def char_hashes(text: str, n: int = CHAR_NGRAM, min_run: int = 0) -> set[int]:
    """CRC-32 hashes of the ``n``-character windows of the normalised text without spaces
    (only of its runs of at least ``min_run`` characters)."""
    compact = "".join(word for word in words(text) if len(word) >= min_run).encode()
    return {zlib.crc32(compact[i : i + n]) for i in range(len(compact) - n + 1)}


class LeakIndexData(BaseModel):
    """What prepare writes (``CampaignLayout.leak_index_file``): hashes only, no text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    benchmark: str
    ngram: int = NGRAM
    containment: float = CONTAINMENT
    items: list[list[int]] = Field(default_factory=list)
    """Per item of at least ``ngram`` words: its kept n-gram hashes."""
    chars: list[list[int]] = Field(default_factory=list)
    """Per such item: its kept character n-gram hashes (spaces removed)."""
    short: dict[int, list[int]] = Field(default_factory=dict)
    """Items shorter than ``ngram`` words: word count -> hashes of their whole word sequence."""


def build_leak_index(benchmark: str, texts: Iterable[str]) -> LeakIndexData:
    """The index of the given item texts (one text per item)."""
    items: list[list[int]] = []
    chars: list[list[int]] = []
    short: dict[int, set[int]] = defaultdict(set)
    for text in texts:
        tokens = words(text)
        if not tokens:
            continue
        if len(tokens) < NGRAM:
            short[len(tokens)].add(_hash(tokens))
            continue
        items.append(sorted(ngram_hashes(tokens))[:KEEP])
        chars.append(sorted(char_hashes(text))[:KEEP])
    return LeakIndexData(
        benchmark=benchmark,
        items=items,
        chars=chars,
        short={length: sorted(hashes) for length, hashes in sorted(short.items())},
    )


class _Containment:
    """Which indexed item a set of hashes holds at least ``containment`` of."""

    def __init__(self, items: list[list[int]], containment: float) -> None:
        self.owners: dict[int, list[int]] = defaultdict(list)
        self.needed: list[int] = []
        for number, hashes in enumerate(items):
            for value in hashes:
                self.owners[value].append(number)
            self.needed.append(max(1, int(len(hashes) * containment + 0.999999)))

    def holds_one(self, hashes: set[int]) -> bool:
        hits: dict[int, int] = defaultdict(int)
        for value in hashes:
            for number in self.owners.get(value, ()):
                hits[number] += 1
                if hits[number] >= self.needed[number]:
                    return True
        return False


class LeakMatcher:
    """Answers "does this text hold an indexed item?" in time linear in the text."""

    def __init__(self, data: LeakIndexData) -> None:
        self.data = data
        self.size = len(data.items) + sum(len(v) for v in data.short.values())
        self._words = _Containment(data.items, data.containment)
        self._chars = _Containment(data.chars, data.containment)
        self._short = {length: set(hashes) for length, hashes in data.short.items()}

    def leaks(self, *texts: str) -> bool:
        """True when the texts (instruction, input, output) hold an indexed item."""
        split = [words(text) for text in texts]
        for tokens in split:
            if tokens and _hash(tokens) in self._short.get(len(tokens), ()):
                return True
        tokens = [word for part in split for word in part]
        if not self._words.owners:
            return False
        if self._words.holds_one(ngram_hashes(tokens, self.data.ngram)):
            return True
        return bool(self._chars.owners) and self._chars.holds_one(
            char_hashes(" ".join(texts), min_run=RUN_TOGETHER)
        )
