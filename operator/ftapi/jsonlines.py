"""JSON Lines, as every worker reads them: one JSON value per non-blank line.

Shared so that "item *n* of a file" means the same to every reader: the evaluator numbers the
benchmark's items this way and the agent's leak check cuts the same validation and test
splits from them. Standard library only.
"""

from __future__ import annotations

import json
from typing import Any


class JsonLineError(ValueError):
    """A line that is not JSON."""

    def __init__(self, number: int, msg: str) -> None:
        super().__init__(f"line {number} is not JSON: {msg}")
        self.number = number
        self.msg = msg


def parse_json_lines(text: str) -> list[tuple[int, Any]]:
    """Each non-blank line's number (counted from 1, blank lines included) and value. Lines
    end at "\n" only, as when iterating over a file: ``str.splitlines`` would also split at
    U+2028 and the like, which JSON text written with ``ensure_ascii=False`` may hold."""
    values = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            values.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise JsonLineError(number, exc.msg) from exc
    return values
