"""The leak check: no item the campaign is scored on may appear in training data.

The agent never sees the evaluation set: the prepare step writes a leak index of the
validation and test items (``CampaignLayout.leak_index_file``: hashed word n-grams, no text,
:mod:`ftapi.leakindex`) into the folder the agent pod mounts. A record leaks when its
instruction, input and output together hold most of an item's n-grams: a verbatim copy, a
copy with a changed word, or the question pasted into the output are all caught. Items of a
large evaluation set that neither split scores (FinanceIQ's unscored rows) are not in the
index, so they may be trained on. Used by :mod:`ftagent.validation`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from ftagent.errors import EnvironmentFailure
from ftapi.leakindex import LeakIndexData, LeakMatcher


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvironmentFailure(
            f"{what} {path} is missing: the prepare step did not write it, so training data "
            "cannot be checked against the evaluation items"
        ) from None


def load_leak_index(path: Path) -> LeakMatcher:
    """The campaign's leak index, written by the prepare step."""
    try:
        data = LeakIndexData.model_validate_json(_read(path, "the leak index"))
    except ValidationError as exc:
        raise EnvironmentFailure(f"{path} is not a leak index: {exc}") from exc
    return LeakMatcher(data)


def load_fingerprints(path: Path) -> frozenset[str]:
    """The fingerprints of every evaluation item (prepare's exclusion list), which the
    built-in recipes never train on."""
    try:
        data = json.loads(_read(path, "the exclusion list"))
    except json.JSONDecodeError as exc:
        raise EnvironmentFailure(f"{path} is not JSON: {exc.msg}") from exc
    return frozenset(str(f) for f in data.get("fingerprints", []))
