"""A small Dockerfile reader for the image tests: instructions (continuations joined, comments
dropped), build stages, ``ARG`` defaults substituted into ``FROM``, and the exec/shell forms
of ``ENTRYPOINT``/``CMD``. Enough for static checks; not a full BuildKit parser."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper-case instruction name (FROM, RUN, ...)."""
    args: str
    line: int


@dataclass
class Stage:
    image: str
    """The base image with ARG defaults substituted (another stage's name for FROM <stage>)."""
    alias: str | None
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]
    stages: list[Stage]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def last_in_final(self, keyword: str) -> Instruction | None:
        """The effective instruction of the final stage (``USER``, ``ENTRYPOINT``, ``CMD``)."""
        found = [i for i in self.final.instructions if i.keyword == keyword]
        return found[-1] if found else None


def parse(path: Path) -> Dockerfile:
    instructions: list[Instruction] = []
    buffer = ""
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.args.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--platform")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, alias))
        elif stages:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, instructions, stages)


def command_words(instruction: Instruction | None) -> list[str]:
    """The words of an ENTRYPOINT/CMD in exec form (JSON) or shell form."""
    if instruction is None:
        return []
    text = instruction.args
    if text.startswith("["):
        return [str(w) for w in json.loads(text)]
    return shlex.split(text)


def image_reference_is_pinned(image: str) -> bool:
    """``name:tag`` (not latest) or ``name@sha256:...``; ``scratch`` needs no tag."""
    if image == "scratch" or "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return False
    tag = name.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest" and "$" not in tag
