"""Fixtures of the agent tests: litellm's offline price table (the scripted LLM server's
``llm_server`` fixture is in ``tests/conftest.py``, shared with the cluster tests)."""

from __future__ import annotations

import os

# litellm must not fetch its price table from GitHub (no internet here, none in the pod).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
