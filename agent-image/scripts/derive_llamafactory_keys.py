"""Derive the LLaMA-Factory training keys the agent may emit: ``ftagent/llamafactory_keys.json``.

LLaMA-Factory parses a training config with ``HfArgumentParser`` over its argument dataclasses
(``ModelArguments``, ``DataArguments``, ``TrainingArguments`` (a ``Seq2SeqTrainingArguments``),
``FinetuningArguments``, ``GeneratingArguments``) and rejects unknown keys. This script lists
their init fields with a coarse value type (bool, int, float, str with optional choices, or
any), so the agent image can filter and coerce proposed configs without installing torch or
LLaMA-Factory. Run it in the dev environment after upgrading LLaMA-Factory::

    .venv/bin/python agent-image/scripts/derive_llamafactory_keys.py          # rewrite the file
    .venv/bin/python agent-image/scripts/derive_llamafactory_keys.py --check  # exit 1 on drift

``tests/agent/test_llamafactory_keys.py`` fails when the shipped file and the installed
LLaMA-Factory disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib.metadata
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "ftagent" / "llamafactory_keys.json"
_SIMPLE = {bool: "bool", int: "int", float: "float", str: "str"}


def classify(annotation: Any) -> dict[str, Any]:
    """A coarse JSON description of a dataclass field type."""
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        if all(isinstance(value, str) for value in values):
            return {"type": "str", "choices": sorted(values)}
        return {"type": "any"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        if all(isinstance(arg, str) for arg in args):
            return {"type": "str", "choices": sorted(args)}
        return {"type": "any"}
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        kinds = [classify(member) for member in members]
        if len(kinds) == 1:
            return kinds[0]
        if all(kind["type"] == "str" for kind in kinds):
            # An enum or plain str: the plain str accepts anything.
            if any("choices" not in kind for kind in kinds):
                return {"type": "str"}
            return {"type": "str", "choices": sorted({c for k in kinds for c in k["choices"]})}
        return {"type": "any"}
    return {"type": "any"}


def derive() -> dict[str, Any]:
    """The key table from the installed LLaMA-Factory (imports torch; dev environment only)."""
    from llamafactory.hparams import (
        DataArguments,
        FinetuningArguments,
        GeneratingArguments,
        ModelArguments,
        TrainingArguments,
    )

    keys: dict[str, Any] = {}
    for group in (
        ModelArguments,
        DataArguments,
        TrainingArguments,
        FinetuningArguments,
        GeneratingArguments,
    ):
        hints = typing.get_type_hints(group)
        for item in dataclasses.fields(group):
            if item.init and not item.name.startswith("_"):
                keys[item.name] = classify(hints.get(item.name, item.type))
    return {
        "generator": "agent-image/scripts/derive_llamafactory_keys.py",
        "llamafactory": importlib.metadata.version("llamafactory"),
        "transformers": importlib.metadata.version("transformers"),
        "keys": dict(sorted(keys.items())),
    }


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(derive())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text)['keys'])} keys to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
