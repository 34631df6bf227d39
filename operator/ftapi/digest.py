"""Content hashes of a step's outputs, so that no later step can swap what an earlier one made.

Each producing step reports the sha256 of what it wrote in its termination message; the
operator keeps it in the status and hands it to the consumer in its request; the consumer
recomputes it before it uses the files (the trainer the plan and its data, the evaluator the
trained model) and refuses a mismatch. A folder's digest covers every file's path (relative,
POSIX) and content, in sorted order; symbolic links are refused (they could point anywhere).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


class DigestError(ValueError):
    """Something in the hashed tree cannot be hashed safely (a symbolic link, a missing path)."""


def _files(root: Path) -> list[tuple[str, Path]]:
    if root.is_symlink():
        raise DigestError(f"{root} is a symbolic link")
    if root.is_file():
        return [(root.name, root)]
    if not root.is_dir():
        raise DigestError(f"{root} does not exist")
    found = []
    for path in root.rglob("*"):
        if path.is_symlink():
            raise DigestError(f"{path} is a symbolic link")
        if path.is_file():
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def tree_digest(roots: Iterable[Path]) -> str:
    """The sha256 over every file under ``roots`` (files or folders): each root's name, each
    file's relative path and its content's sha256."""
    outer = hashlib.sha256()
    for root in roots:
        outer.update(b"root\0" + root.name.encode() + b"\0")
        for relative, path in _files(root):
            inner = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    inner.update(chunk)
            outer.update(relative.encode() + b"\0" + inner.digest())
    return outer.hexdigest()
