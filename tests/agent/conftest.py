"""Fixtures of the agent tests: the scripted LLM server and litellm's offline price table."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .llm_server import ScriptedLlmServer

# litellm must not fetch its price table from GitHub (no internet here, none in the pod).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def llm_server() -> Iterator[ScriptedLlmServer]:
    server = ScriptedLlmServer().start()
    try:
        yield server
    finally:
        server.stop()
