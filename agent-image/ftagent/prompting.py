"""Renders the LLM planner's prompt templates (``ftagent/prompts/*.j2``).

Undefined template variables are errors, so a template and its caller cannot drift apart
silently. Used by :mod:`ftagent.planners.llm`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2


def _to_json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str, sort_keys=False)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ftagent", "prompts"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_pretty"] = _to_json
    return env


def render(template: str, **variables: Any) -> str:
    """Render ``prompts/<template>.j2``."""
    return environment().get_template(f"{template}.j2").render(**variables).strip() + "\n"
