"""Fixtures of the security tests: litellm's offline price table (no fetch from GitHub)."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
