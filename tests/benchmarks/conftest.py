"""Fixtures of the benchmark tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def oracle_env() -> dict[str, str]:
    """Environment for the prepare step that fetches mol_opt's property oracles."""
    return {}
