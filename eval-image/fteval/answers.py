"""Answer extraction: find the final answer in a model's response, one function per format.

Each function returns the extracted answer, or ``None`` when the response does not contain
one in the expected format (a malformed response; it scores 0). They are pure string
functions, called by :mod:`fteval.adapters` for every catalog answer format
(:class:`ftapi.catalog.AnswerFormat`).
"""

from __future__ import annotations

import json
import re
from typing import Any

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PYTHON_FENCE = re.compile(r"```(?:python|py|Python)\s*\n(.*?)```", re.DOTALL)
_ANY_FENCE = re.compile(r"```\s*\n(.*?)```", re.DOTALL)
_FINAL_ANSWER = re.compile(r"Final Answer\s*[:：]\s*(.*)", re.IGNORECASE)
_TAGGED = re.compile(r"\[ANSWER_START\](.*?)\[ANSWER_END\]", re.DOTALL)


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces allowed)."""
    last: str | None = None
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for pos in range(start, len(text)):
            char = text[pos]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    last = text[start:pos]
                    break
    return None if last is None else last.strip()


def _json_candidates(text: str) -> list[str]:
    """Balanced ``{...}`` substrings of ``text``, last first (code fences searched too)."""
    found: list[str] = []
    for opener in [m.start() for m in re.finditer(r"\{", text)]:
        depth, in_string, escaped = 0, False, False
        for pos in range(opener, len(text)):
            char = text[pos]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
                continue
            if char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    found.append(text[opener : pos + 1])
                    break
    return found[::-1]


def extract_json_object(text: str, key: str | None = None) -> dict[str, Any] | None:
    """The last JSON object in ``text`` (that has ``key``, when given)."""
    for candidate in _json_candidates(text):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and (key is None or key in value):
            return value
    return None


def extract_json_answer(text: str) -> Any | None:
    """The value under ``"answer"`` of the last JSON object holding one (PANORAMA)."""
    obj = extract_json_object(text, "answer")
    return None if obj is None else obj["answer"]


def extract_json_output(text: str) -> Any | None:
    """The value under ``"output"`` of the last JSON object holding one (ChemCoTBench)."""
    obj = extract_json_object(text, "output")
    return None if obj is None else obj["output"]


def extract_final_answer(text: str) -> str | None:
    """What follows the last ``Final Answer:`` (TableBench), up to the end of that line."""
    matches = _FINAL_ANSWER.findall(text)
    if not matches:
        return None
    answer = matches[-1].strip().strip("`").strip()
    return answer or None


def extract_python_code(text: str) -> str | None:
    """The last fenced ```python block (or the last bare ``` block) of the response."""
    for pattern in (_PYTHON_FENCE, _ANY_FENCE):
        blocks = pattern.findall(text)
        if blocks:
            code = blocks[-1].strip()
            return code or None
    return None


def extract_choice_letter(text: str, letters: str = "ABCD") -> str | None:
    """The last standalone option letter in the response (FinanceIQ's last capital letter).

    A letter counts when no other Latin letter touches it, so the article "A" inside a word
    run like "Answer" is skipped while "答案：B" and "(C)" are found.
    """
    pattern = re.compile(rf"(?<![A-Za-z])([{re.escape(letters)}])(?![A-Za-z])")
    matches = pattern.findall(text)
    return matches[-1] if matches else None


def extract_tagged(text: str) -> str | None:
    """The text between the last ``[ANSWER_START]`` and ``[ANSWER_END]`` (BioProBench)."""
    matches = _TAGGED.findall(text)
    if not matches:
        return None
    answer = matches[-1].strip()
    return answer or None
