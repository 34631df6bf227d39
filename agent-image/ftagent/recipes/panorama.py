"""Built-in recipe for PANORAMA (``LG-AI-Research/PANORAMA``).

Schema (dataset card; one folder per task, ``PAR4PC/``, ``PI4PC/``, ``NOC4PC/``, the
validation and test files excluded by the catalog): ``application_number``, ``claim_number``,
``context`` (title, abstract, claims; an object or JSON text) and per task:

- PAR4PC: ``options`` (letters A-H -> candidate patents with title/abstract/claims),
  ``gold_answers`` (letters) -> ``{"answer": "A"}`` or ``{"answer": ["A", "C"]}``;
- PI4PC: ``options`` (letters -> candidate paragraphs of the cited prior art),
  ``gold_answers`` -> ``{"answer": <paragraph number>}`` when the chosen paragraph carries its
  number (``[0045] ...`` -> 45, the benchmark's format), else the letter;
- NOC4PC: ``prior_art_specifications`` and ``answer`` (ALLOW, 102 or 103) ->
  ``{"answer": "103"}``.

A PANORAMA benchmark uses its own task's folder; rows too long for the model are dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

from ftagent.rawdata import RawDatasetFiles, RawFile, Row
from ftagent.recipes.base import Converted, Recipe, as_list, get, parse_json_text, text
from ftagent.records import AlpacaRecord
from ftapi.catalog import Benchmark

TASKS = ("PAR4PC", "PI4PC", "NOC4PC")
_PARAGRAPH = re.compile(r"^\s*\[(\d{1,5})\]")


def task_of(file: RawFile) -> str | None:
    parts = [part.upper() for part in PurePosixPath(file.relative).parts]
    return next((task for task in TASKS if any(task in part for part in parts)), None)


def _claim(context: dict[str, Any], number: Any) -> str:
    claims = [text(claim) for claim in as_list(context.get("claims"))]
    if not claims:
        return ""
    index = int(number) - 1 if isinstance(number, int | float) and number else 0
    return claims[index] if 0 <= index < len(claims) else claims[0]


def _option_text(option: Any) -> str:
    option = parse_json_text(option)
    if isinstance(option, dict):
        title = text(option.get("title"))
        abstract = text(option.get("abstract"))
        ident = text(option.get("patent_id"))
        head = " ".join(part for part in (ident, title) if part)
        return f"{head}: {abstract}" if abstract else head or text(option)
    return text(option)


def _answer_json(value: Any) -> str:
    return json.dumps({"answer": value}, ensure_ascii=False)


def normalize_decision(label: str) -> str | None:
    label = label.strip().upper()
    if "ALLOW" in label:
        return "ALLOW"
    for code in ("102", "103"):
        if code in label:
            return code
    return None


class PanoramaRecipe(Recipe):
    name = "panorama"
    dataset = "panorama"

    def select_files(self, files: RawDatasetFiles, benchmark: Benchmark) -> list[RawFile]:
        known = [file for file in files.files if task_of(file)]
        if benchmark.eval_subset in TASKS:
            return [file for file in known if task_of(file) == benchmark.eval_subset]
        return known

    def required_columns(self, file: RawFile, benchmark: Benchmark) -> list[tuple[str, ...]]:
        if task_of(file) == "NOC4PC":
            return [("context",), ("answer",)]
        return [("context",), ("options",), ("gold_answers",)]

    def convert(self, row: Row, file: RawFile, benchmark: Benchmark) -> Converted | None:
        task = task_of(file)
        context = parse_json_text(get(row, "context"))
        context = context if isinstance(context, dict) else {"claims": [text(context)]}
        claim = _claim(context, get(row, "claim_number"))
        if not claim:
            return None
        header = f"Patent application: {text(context.get('title'))}\n"
        if context.get("abstract"):
            header += f"Abstract: {text(context.get('abstract'))}\n"
        header += f"Target claim: {claim}\n"
        if task == "NOC4PC":
            decision = normalize_decision(text(get(row, "answer")))
            if decision is None:
                return None
            prior = text(get(row, "prior_art_specifications", "prior_art_specification"))
            instruction = (
                "Decide whether the target claim is allowed, rejected for lack of novelty "
                "(35 U.S.C. 102) or rejected as obvious (35 U.S.C. 103). Answer with a JSON "
                'object {"answer": "ALLOW" | "102" | "103"}.\n\n'
                + header
                + (f"\nCited prior art:\n{prior}\n" if prior else "")
            )
            return Converted(AlpacaRecord(instruction=instruction, output=_answer_json(decision)))
        options = parse_json_text(get(row, "options"))
        if isinstance(options, list):
            options = {chr(ord("A") + i): option for i, option in enumerate(options)}
        if not isinstance(options, dict) or not options:
            return None
        gold = [text(letter).upper() for letter in as_list(get(row, "gold_answers"))]
        gold = [letter for letter in gold if letter in options]
        if not gold:
            return None
        listing = "\n".join(f"{letter}. {_option_text(options[letter])}" for letter in options)
        if task == "PI4PC":
            match = _PARAGRAPH.match(text(options[gold[0]]))
            answer: Any = int(match.group(1)) if match else gold[0]
            instruction = (
                "Identify the paragraph of the cited prior art that the examiner relied on to "
                'reject the target claim. Answer with a JSON object {"answer": <paragraph '
                "number>}.\n\n" + header + f"\nCandidate paragraphs:\n{listing}\n"
            )
        else:
            answer = gold[0] if len(gold) == 1 else gold
            instruction = (
                "Pick the candidate patent(s) the examiner cited to reject the target claim. "
                'Answer with a JSON object {"answer": "<letter>"} or {"answer": ["<letter>", '
                "...]}.\n\n" + header + f"\nCandidate patents:\n{listing}\n"
            )
        return Converted(AlpacaRecord(instruction=instruction, output=_answer_json(answer)))
