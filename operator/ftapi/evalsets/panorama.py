"""Evaluation-set layouts of PANORAMA (``LG-AI-Research/PANORAMA``): PAR4PC, PI4PC, NOC4PC.

Each task has a folder with ``train.parquet``, ``validation.parquet`` and ``test.parquet``
(PANORAMA's ``benchmarks/<task>/data_spliter.py``: split by target application number, 90:5:5).
The fork's loaders read only the test split (``load_dataset(path, data_dir=<TASK>,
split='test')``), build one prompt per row from its structured fields, map the rows in file
order and shuffle the result with ``Dataset.shuffle(seed=42)`` (no filter in the zero-shot
configs RD-Agent runs); RD-Agent then takes its validation head and test tail.

Column layouts (one Arrow schema per task):

- PAR4PC: ``application_number`` str, ``claim_number`` int64, ``context`` struct{title,
  abstract, claims list<str>}, ``options`` struct{A..H: struct{patent_id, title, abstract,
  claims list<str>}}, ``gold_answers``/``silver_answers``/``negative_answers`` list<str>.
- PI4PC: ``context``, ``prior_art_specification`` ({patent_id, title, abstract, claims,
  specification}) and ``options`` ({"<paragraph key>": text}) are JSON text;
  ``gold_answers``/``silver_answers``/``negative_answers`` list<int64>.
- NOC4PC: ``context`` and ``prior_art_specifications`` (a list of {patent_id, title, abstract,
  claims, paragraphs [{key, content}]}) are JSON text; ``answer`` is JSON text
  {"reason", "code"}, the gold being ``code`` (ALLOW, 102 or 103).

The renderers below give the model the information the fork's prompt builders give it, in our
own wording (the output-format instructions live in the catalog description). The training
recipe (``ftagent.recipes.panorama``) renders training rows with the same functions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ftapi.evalsets.base import EvalRow, EvalSet, LayoutError, SourceRow, dumps

REPO = "LG-AI-Research/PANORAMA"
TASKS = ("PAR4PC", "PI4PC", "NOC4PC")
Task = Literal["PAR4PC", "PI4PC", "NOC4PC"]
CODES = ("ALLOW", "102", "103")
SHUFFLE_SEED = 42
"""``PAR4PCDataset.load(seed=42)`` and its two siblings: ``processed_ds.shuffle(seed=seed)``."""

_FORK = "Jensen246/opencompass@abc7c91a"
_RDAGENT = "microsoft/RD-Agent@471eb30d"
_PANORAMA = "LGAI-Research/PANORAMA@ab7c735f"
NA = "N/A"


def eval_file(task: str) -> str:
    """The one file ``load_dataset(path, data_dir=task, split='test')`` reads."""
    return f"{task}/test.parquet"


def train_file(task: str) -> str:
    """The task's training split (what RD-Agent keeps after deleting *validation*/*test*)."""
    return f"{task}/train.parquet"


# ----------------------------------------------------------------------------- field access


def _object(row: SourceRow, name: str) -> dict[str, Any]:
    """Column ``name`` as an object (a parquet struct, or JSON text holding an object)."""
    value = row.json_field(name)
    if not isinstance(value, dict):
        raise LayoutError(row.file, row.position, f"{name!r} is not an object")
    return value


def _list(row: SourceRow, name: str) -> list[Any]:
    value = row.json_field(name)
    if not isinstance(value, list):
        raise LayoutError(row.file, row.position, f"{name!r} is not a list")
    return value


def _text(value: Any) -> str:
    """A field value as prompt text: missing -> N/A, strings as they are, else JSON."""
    if value is None:
        return NA
    return value if isinstance(value, str) else dumps(value)


def _number(row: SourceRow, name: str) -> str:
    """An identifying number (``application_number`` str, ``claim_number`` int64) as text."""
    value = row.field(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise LayoutError(row.file, row.position, f"{name!r} is not a number or a string")
    return str(value).strip()


def _claim_lines(claims: Any) -> list[str]:
    if claims is None:
        return []
    if not isinstance(claims, list):
        return [_text(claims)]
    return [_text(claim) for claim in claims]


def item_key(task: str, application_number: Any, claim_number: Any) -> str:
    """The identifying text of a PANORAMA item: task, application and claim number (the
    fork's identifier ``<task>_app<application>_claim<claim>``), e.g. ``PAR4PC 15702072
    claim 1``. Training rows of the same task with the same key are evaluation items and are
    not trained on. Four words: an id, too short for the leak index, which then indexes the
    rendered question (the text a copied item would carry) instead."""
    return f"{task} {application_number} claim {claim_number}"


def row_key(task: str, row: SourceRow) -> str:
    return item_key(task, _number(row, "application_number"), _number(row, "claim_number"))


def identifier(task: str, row: SourceRow) -> str:
    """The fork's ``identifier`` column: ``par4pc_app15702072_claim1``."""
    app, claim = _number(row, "application_number"), _number(row, "claim_number")
    return f"{task.lower()}_app{app}_claim{claim}"


# ----------------------------------------------------------------------------- renderers


def render_par4pc(row: SourceRow) -> str:
    """Application number, title, abstract, every claim of the application, the target claim
    number, then candidates A-H (sorted by letter) with patent ID, title, abstract, claims
    (``_create_par4pc_prompt``)."""
    context = _object(row, "context")
    options = _object(row, "options")
    lines = [
        f"Patent application {_number(row, 'application_number')}",
        f"Title: {_text(context.get('title'))}",
        f"Abstract: {_text(context.get('abstract'))}",
        "Claims of the application:",
        *(_claim_lines(context.get("claims")) or ["(none)"]),
        "",
        f"Claim to analyse: claim {_number(row, 'claim_number')}",
        "",
        "Candidate patents (A-H):",
    ]
    for letter, details in sorted(options.items()):
        if isinstance(details, str):
            try:
                details = json.loads(details)
            except json.JSONDecodeError:
                details = {}
        if not isinstance(details, dict):
            details = {}
        lines += [
            "",
            f"{letter}: patent {_text(details.get('patent_id'))}",
            f"Title: {_text(details.get('title'))}",
            f"Abstract: {_text(details.get('abstract'))}",
            "Claims:",
            *(_claim_lines(details.get("claims")) or ["(none)"]),
        ]
    return "\n".join(lines)


def _pi4pc_claim(context: Mapping[str, Any], claim_number: Any) -> str:
    """The target claim as ``_create_pi4pc_prompt`` finds it: a claim object whose
    ``claimNumber`` equals the claim number, else the claim at position number - 1."""
    claims = context.get("claims")
    if not isinstance(claims, list):
        return NA
    for claim in claims:
        if isinstance(claim, dict) and claim.get("claimNumber") == claim_number:
            return _text(claim.get("claim_text", NA))
    if str(claim_number).isdigit():
        index = int(claim_number) - 1
        if 0 <= index < len(claims):
            claim = claims[index]
            if isinstance(claim, str):
                return claim
            if isinstance(claim, dict):
                return _text(claim.get("claim_text", NA))
    return NA


def _paragraph_order(options: Mapping[str, Any]) -> list[tuple[str, Any]]:
    try:
        return sorted(options.items(), key=lambda pair: int(str(pair[0])))
    except (ValueError, TypeError):
        return list(options.items())


def render_pi4pc(row: SourceRow) -> str:
    """Application number, title, abstract and text of the target claim; the cited prior
    art's patent ID, title, abstract and full specification; then the candidate paragraphs
    as ``<key>: <text>`` sorted by key (``_create_pi4pc_prompt``; the prior art's claims are
    not shown there either)."""
    context = _object(row, "context")
    prior = _object(row, "prior_art_specification")
    options = _object(row, "options")
    claim = row.field("claim_number")
    number = _number(row, "claim_number")
    lines = [
        f"Patent application {_number(row, 'application_number')}",
        f"Title: {_text(context.get('title'))}",
        f"Abstract: {_text(context.get('abstract'))}",
        f"Claim {number}: {_pi4pc_claim(context, claim)}",
        "",
        "Cited prior art",
        f"Patent ID: {_text(prior.get('patent_id'))}",
        f"Title: {_text(prior.get('title'))}",
        f"Abstract: {_text(prior.get('abstract'))}",
        "Full specification:",
        _text(prior.get("specification", "(not available)")),
        "",
        f"Candidate paragraphs of that specification (choose one key for claim {number}):",
        *(f"{key}: {_text(text)}" for key, text in _paragraph_order(options)),
    ]
    return "\n".join(lines)


def _noc4pc_claim(context: Mapping[str, Any], claim_number: Any) -> str:
    """The target claim as ``_create_noc4pc_prompt`` finds it: position number - 1."""
    claims = context.get("claims") or []
    try:
        index = int(claim_number) - 1
    except (TypeError, ValueError):
        return NA
    if not isinstance(claims, list) or not 0 <= index < len(claims):
        return NA
    claim = claims[index]
    if isinstance(claim, dict) and "claim_text" in claim:
        return str(claim["claim_text"])
    return claim if isinstance(claim, str) else str(claim)


def _indented(first: str, text: str, indent: str) -> list[str]:
    parts = text.splitlines() or [""]
    return [f"{first}{parts[0]}".rstrip(), *(f"{indent}{part}" for part in parts[1:])]


def render_noc4pc(row: SourceRow) -> str:
    """Application and claim number, title, abstract and text of the target claim; then
    every cited prior art with patent ID, title, abstract, its claims (numbered) and the
    cited paragraphs ``[key] content`` (``_create_noc4pc_prompt``)."""
    context = _object(row, "context")
    specs = _list(row, "prior_art_specifications")
    number = _number(row, "claim_number")
    lines = [
        f"Patent application {_number(row, 'application_number')}, claim {number}",
        f"Title: {_text(context.get('title'))}",
        f"Abstract: {_text(context.get('abstract'))}",
        f"Text of claim {number}:",
        _noc4pc_claim(context, row.field("claim_number")),
        "",
    ]
    if not specs:
        lines.append("Cited prior art: none given.")
    for index, spec in enumerate(specs, 1):
        if not isinstance(spec, dict):
            raise LayoutError(row.file, row.position, f"prior art #{index} is not an object")
        lines += [
            f"Cited prior art {index}",
            f"Patent ID: {_text(spec.get('patent_id'))}",
            f"Title: {_text(spec.get('title'))}",
            f"Abstract: {_text(spec.get('abstract'))}",
        ]
        claims = spec.get("claims") or []
        lines.append("Claims:" if claims else "Claims: none given.")
        for position, claim in enumerate(claims, 1):
            if isinstance(claim, dict) and "claim_text" in claim:
                claim = claim["claim_text"]
            lines += _indented(f"  {position}. ", str(claim), "     ")
        paragraphs = spec.get("paragraphs") or []
        lines.append("Cited paragraphs:" if paragraphs else "Cited paragraphs: none given.")
        for paragraph in paragraphs:
            if not isinstance(paragraph, dict):
                raise LayoutError(row.file, row.position, f"prior art #{index}: bad paragraph")
            key = _text(paragraph.get("key", NA))
            lines += _indented(f"  [{key}] ", _text(paragraph.get("content", "")), "     ")
        lines.append("")
    return "\n".join(lines).rstrip()


RENDERERS = {"PAR4PC": render_par4pc, "PI4PC": render_pi4pc, "NOC4PC": render_noc4pc}


def render(task: str, row: SourceRow) -> str:
    """The question of a row of ``task`` (evaluation item and training row alike)."""
    return RENDERERS[task](row)


# ----------------------------------------------------------------------------- gold


def gold_letters(row: SourceRow) -> list[str]:
    """PAR4PC ``gold_answers`` (letters A-H, as listed)."""
    value = _list(row, "gold_answers")
    if not all(isinstance(letter, str) for letter in value):
        raise LayoutError(row.file, row.position, "'gold_answers' is not a list of letters")
    return value


def gold_paragraphs(row: SourceRow) -> list[int]:
    """PI4PC ``gold_answers`` (paragraph keys, list<int64>)."""
    value = _list(row, "gold_answers")
    if not all(isinstance(key, int) and not isinstance(key, bool) for key in value):
        raise LayoutError(row.file, row.position, "'gold_answers' is not a list of integers")
    return value


def gold_code(row: SourceRow) -> str:
    """NOC4PC ``answer.code`` as the loader reads it: ``str(code).strip().upper()``, or ""
    when the code is missing or empty (the evaluator leaves such items out)."""
    answer = _object(row, "answer")
    code = answer.get("code")
    gold = str(code).strip().upper() if code else ""
    if gold and gold not in CODES:
        raise LayoutError(row.file, row.position, f"answer code {code!r} is not ALLOW/102/103")
    return gold


def gold_answer(task: str, row: SourceRow) -> str:
    """``EvalRow.answer``: PAR4PC/PI4PC the JSON list of ``gold_answers``; NOC4PC the code."""
    if task == "PAR4PC":
        return json.dumps(gold_letters(row))
    if task == "PI4PC":
        return json.dumps(gold_paragraphs(row))
    return gold_code(row)


def reply(task: str, answer: str) -> str:
    """The JSON object the official scorer reads, for the gold ``answer`` of an EvalRow:
    ``{"answer": "A"}`` / ``{"answer": ["A", "C"]}``, ``{"answer": 17}``, ``{"code": "103"}``."""
    if task == "NOC4PC":
        return json.dumps({"code": answer})
    gold = json.loads(answer)
    if task == "PI4PC":
        if not gold:
            raise ValueError("a PI4PC item without a gold paragraph has no right reply")
        return json.dumps({"answer": gold[0]})
    return json.dumps({"answer": gold[0] if len(gold) == 1 else sorted(gold)})


# ----------------------------------------------------------------------------- layouts


class PanoramaEvalSet(EvalSet):
    """One PANORAMA task: the rows of ``<task>/test.parquet`` in file order."""

    task: Task

    def build(self, rows: Sequence[SourceRow]) -> list[EvalRow]:
        built: list[tuple[int, EvalRow]] = []
        for row in rows:
            if row.file not in self.files:
                raise LayoutError(row.file, row.position, f"not a file of {self.benchmark}")
            built.append(
                (
                    row.position,
                    EvalRow(
                        id=identifier(self.task, row),
                        question=render(self.task, row),
                        answer=gold_answer(self.task, row),
                        keys=[row_key(self.task, row)],
                    ),
                )
            )
        # The fork's identifier is application + claim; a claim examined more than once
        # (several rejections or prior arts) repeats it, so those ids get the row number.
        repeated = {ident for ident, n in Counter(item.id for _, item in built).items() if n > 1}
        return [
            item.model_copy(update={"id": f"{item.id}_row{position}"})
            if item.id in repeated
            else item
            for position, item in built
        ]


_SPLIT_NOTE = (
    "all rows of {file} in file order, shuffled with datasets' shuffle(seed=42) after the "
    "prompts are built (no length filter in the zero-shot config); validation = the first "
    "min(100, n//2), test = the last min(100, n//2)"
)
_SOURCES = {
    "PAR4PC": "opencompass/datasets/panorama/panorama_par4pc.py",
    "PI4PC": "opencompass/datasets/panorama/panorama_pi4pc.py",
    "NOC4PC": "opencompass/datasets/panorama/panorama_noc4pc.py",
}
_QUESTION_NOTES = {
    "PAR4PC": (
        "application number, context.title/abstract/claims, the target claim_number and "
        "options A-H (patent_id, title, abstract, claims); gold = gold_answers (letters); "
        "id = par4pc_app<application_number>_claim<claim_number>"
    ),
    "PI4PC": (
        "application number, context title/abstract and the target claim's text, "
        "prior_art_specification patent_id/title/abstract/specification and the options "
        "{key: paragraph} sorted by key (all JSON text); gold = gold_answers (paragraph "
        "keys); id = pi4pc_app<application_number>_claim<claim_number>"
    ),
    "NOC4PC": (
        "application and claim number, context title/abstract and the target claim's text, "
        "every prior_art_specifications entry (patent_id, title, abstract, claims, cited "
        "paragraphs); gold = answer.code (answer is JSON text {reason, code}); "
        "id = noc4pc_app<application_number>_claim<claim_number>"
    ),
}


_CONTEXT = {
    "title": "SELF-LEVELLING TRAY FOR A MOBILE CART",
    "abstract": "A tray mounted on a cart keeps its surface level on uneven floors.",
    "claims": [
        "1. A cart comprising a frame, a tray and a levelling joint between them.",
        "2. The cart of claim 1, wherein the joint is a damped gimbal.",
    ],
}
_OPTION = {
    "patent_id": "US1234567",
    "title": "Gimbal mount",
    "abstract": "A damped two-axis gimbal.",
    "claims": ["1. A gimbal with two damped axes."],
}
_EXAMPLES: dict[str, dict[str, Any]] = {
    "PAR4PC": {
        "application_number": "10000001",
        "claim_number": 2,
        "context": _CONTEXT,
        "options": {
            letter: {**_OPTION, "patent_id": f"US12345{i}"} for i, letter in enumerate("ABCDEFGH")
        },
        "gold_answers": ["C"],
        "silver_answers": ["F"],
        "negative_answers": ["A", "B", "D", "E", "G", "H"],
    },
    "PI4PC": {
        "application_number": "10000002",
        "claim_number": 1,
        "context": json.dumps(_CONTEXT),
        "prior_art_specification": json.dumps(
            {**_OPTION, "specification": "[0012] The gimbal is damped by two oil dampers."}
        ),
        "options": json.dumps(
            {"12": "The gimbal is damped by two oil dampers.", "4": "The cart has four wheels."}
        ),
        "gold_answers": [12],
        "silver_answers": [],
        "negative_answers": [4],
    },
    "NOC4PC": {
        "application_number": "10000003",
        "claim_number": 1,
        "context": json.dumps(_CONTEXT),
        "prior_art_specifications": json.dumps(
            [{**_OPTION, "paragraphs": [{"key": "0012", "content": "A damped gimbal tray."}]}]
        ),
        "answer": json.dumps({"reason": "Anticipated by the gimbal mount.", "code": "102"}),
    },
}
"""Made-up rows in each task's test.parquet layout, for ``ftctl benchmarks KEY``."""


def _evalset(benchmark: str, task: Task) -> PanoramaEvalSet:
    config = f"opencompass/configs/datasets/panorama/panorama_{task.lower()}_gen.py"
    return PanoramaEvalSet(
        benchmark=benchmark,
        repo=REPO,
        files=(eval_file(task),),
        shuffle_seed=SHUFFLE_SEED,
        split_note=_SPLIT_NOTE.format(file=eval_file(task)),
        question_note=_QUESTION_NOTES[task]
        + " (the row number is appended when a claim's id repeats)",
        sources=(
            f"{_FORK}:{_SOURCES[task]}",
            f"{_FORK}:{config}",
            f"{_FORK}:opencompass/tasks/openicl_eval.py",
            f"{_RDAGENT}:rdagent/scenarios/finetune/benchmark/data/adaptor.py",
            f"{_RDAGENT}:rdagent/scenarios/finetune/datasets/__init__.py",
            f"{_PANORAMA}:benchmarks/{task.lower()}/data_spliter.py",
        ),
        task=task,
        example=_EXAMPLES[task],
    )


EVALSETS: Mapping[str, EvalSet] = {
    "panorama_par4pc": _evalset("panorama_par4pc", "PAR4PC"),
    "panorama_pi4pc": _evalset("panorama_pi4pc", "PI4PC"),
    "panorama_noc4pc": _evalset("panorama_noc4pc", "NOC4PC"),
}
