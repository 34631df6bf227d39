"""Digests of step outputs: any change to a file, its name or the set of files shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftapi.digest import DigestError, tree_digest


def make(root: Path) -> Path:
    (root / "model" / "sub").mkdir(parents=True)
    (root / "model" / "config.json").write_text('{"a": 1}')
    (root / "model" / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (root / "plan.json").write_text("{}")
    return root


def test_same_content_same_digest_and_every_change_shows(tmp_path: Path) -> None:
    first = make(tmp_path / "a")
    second = make(tmp_path / "b")
    roots = lambda r: [r / "model", r / "plan.json"]  # noqa: E731
    digest = tree_digest(roots(first))
    assert digest == tree_digest(roots(second))
    (second / "model" / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 999 + b"\x00\x02")
    assert tree_digest(roots(second)) != digest
    third = make(tmp_path / "c")
    (third / "model" / "config.json").rename(third / "model" / "config2.json")
    assert tree_digest(roots(third)) != digest
    fourth = make(tmp_path / "d")
    (fourth / "model" / "extra.py").write_text("print('hi')")
    assert tree_digest(roots(fourth)) != digest


def test_links_and_missing_paths_are_refused(tmp_path: Path) -> None:
    root = make(tmp_path / "a")
    (root / "model" / "link").symlink_to("/etc/passwd")
    with pytest.raises(DigestError, match="symbolic link"):
        tree_digest([root / "model"])
    with pytest.raises(DigestError, match="does not exist"):
        tree_digest([tmp_path / "nothing"])
