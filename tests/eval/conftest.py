"""Fixtures of the eval tests: the session's tiny model and a fresh toy campaign."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.workspace import Campaign, tiny_model

__all__ = ["campaign", "tiny_model"]


@pytest.fixture
def campaign(tmp_path: Path, tiny_model: Path) -> Campaign:
    """Mount folders with the tiny model and the toy benchmark; no plan yet."""
    return Campaign.create(tmp_path / "mounts", tiny_model)
