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

from pathlib import Path

from pydantic import ValidationError

from ftagent.errors import EnvironmentFailure
from ftapi.leakindex import LeakIndexData, LeakMatcher


def load_leak_index(path: Path) -> LeakMatcher:
    """The campaign's leak index, written by the prepare step."""
    try:
        data = LeakIndexData.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnvironmentFailure(
            f"the leak index {path} is missing: the leak check cannot run (the prepare step "
            "did not write it for these validation/test limits)"
        ) from None
    except ValidationError as exc:
        raise EnvironmentFailure(f"{path} is not a leak index: {exc}") from exc
    return LeakMatcher(data)
