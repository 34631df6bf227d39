"""The leak check: no question the campaign is scored on may appear in training data.

The evaluation set (``CampaignLayout.benchmark_file``, JSON Lines with a ``question`` per
item) holds the validation items (first) and the test items (last); the check covers both
splits as the campaign's ``evaluation.validationLimit``/``testLimit`` cut them (locked once
it starts). Texts are normalised (Unicode NFKC, case-folded, punctuation to spaces, CJK
characters spaced, whitespace collapsed) and a record leaks when a normalised question
occurs inside its normalised prompt (instruction and input). Used by
:mod:`ftagent.validation`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

from pydantic import ValidationError

from ftagent.errors import EnvironmentFailure
from ftapi.evalsets import Splits
from ftapi.jsonlines import JsonLineError, parse_json_lines

log = logging.getLogger(__name__)

ANCHOR_CHARS = 24
"""Questions at least this long (normalised) are matched as substrings of the prompt; shorter
ones only when the whole instruction or input equals them (avoids false hits on "Yes")."""
QUESTION_KEYS = ("question", "problem", "prompt", "query", "input", "instruction")

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CJK = re.compile(r"([\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f])")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Comparable form of a text: NFKC, case-folded, punctuation removed, CJK characters as
    separate tokens, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NON_WORD.sub(" ", text)
    text = _CJK.sub(r" \1 ", text)
    return _SPACES.sub(" ", text).strip()


def read_questions(path: Path) -> list[str | None]:
    """The question of every item of a benchmark evaluation set (one JSON object per
    non-blank line), None where an item has none; positions are the evaluator's item
    indexes."""
    if not path.is_file():
        raise EnvironmentFailure(
            f"benchmark evaluation set {path} is missing: the leak check cannot run "
            "(the prepare step did not write it)"
        )
    try:
        items = parse_json_lines(path.read_text(encoding="utf-8"))
    except JsonLineError as exc:
        raise EnvironmentFailure(f"{path} line {exc.number} is not JSON: {exc.msg}") from exc
    questions: list[str | None] = []
    for number, item in items:
        text = next(
            (
                item[key]
                for key in QUESTION_KEYS
                if isinstance(item, dict) and isinstance(item.get(key), str) and item[key].strip()
            ),
            None,
        )
        if text is None:
            log.warning("%s line %d has no question text; not checked", path, number)
        questions.append(text)
    return questions


def load_questions(path: Path) -> list[str]:
    """Every question of a benchmark evaluation set."""
    return [q for q in read_questions(path) if q is not None]


def scored_questions(items_path: Path, splits_path: Path) -> list[str]:
    """The questions of the items a campaign scores: its validation and test splits exactly as
    prepare recorded them (``ftapi.evalsets.Splits``). Items of a large evaluation set that
    neither split uses (FinanceIQ's unscored rows) are not protected, so they may be trained
    on."""
    try:
        splits = Splits.model_validate_json(splits_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnvironmentFailure(
            f"the split file {splits_path} is missing: the leak check cannot run (the prepare "
            "step did not write it)"
        ) from None
    except ValidationError as exc:
        raise EnvironmentFailure(f"{splits_path} is not a split file: {exc}") from exc
    wanted = {*splits.validation, *splits.test}
    ids = read_ids(items_path)
    questions = read_questions(items_path)
    return [q for item_id, q in zip(ids, questions, strict=True) if item_id in wanted and q]


def read_ids(path: Path) -> list[str | None]:
    """The id of every item of an evaluation set (None where an item has none)."""
    return [
        item.get("id") if isinstance(item, dict) else None
        for _, item in parse_json_lines(path.read_text(encoding="utf-8"))
    ]


class LeakIndex:
    """Finds benchmark questions inside training prompts in time linear in the prompt."""

    def __init__(self, questions: list[str]) -> None:
        self.size = len(questions)
        self._short: set[str] = set()
        self._anchors: dict[str, list[str]] = {}
        for question in questions:
            norm = normalize(question)
            if not norm:
                continue
            if len(norm) < ANCHOR_CHARS:
                self._short.add(norm)
            else:
                self._anchors.setdefault(norm[:ANCHOR_CHARS], []).append(norm)

    def leaks(self, instruction: str, input_text: str = "") -> bool:
        """True when a benchmark question occurs in the instruction or input."""
        parts = [normalize(instruction), normalize(input_text)]
        if any(part in self._short for part in parts if part):
            return True
        if not self._anchors:
            return False
        text = " ".join(part for part in parts if part)
        if text in self._short:
            return True
        start = 0
        while start <= len(text) - ANCHOR_CHARS:
            candidates = self._anchors.get(text[start : start + ANCHOR_CHARS])
            if candidates and any(text.startswith(norm, start) for norm in candidates):
                return True
            space = text.find(" ", start)
            if space < 0:
                break
            start = space + 1
        return False
