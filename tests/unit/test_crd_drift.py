"""The committed CRD is exactly what the pydantic models generate, and it is structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ftapi.crd import CRD_FILENAME, campaign_crd, render_crd_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_committed_crd_matches_the_models():
    committed = (REPO_ROOT / "crds" / CRD_FILENAME).read_text()
    assert committed == render_crd_yaml(), "crds/ is stale: run `ftctl crds` and commit"


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_schema_uses_only_what_apiextensions_v1_accepts():
    schema = campaign_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "$ref" not in node, path
        assert node.get("type") != "null", path
        assert "title" not in node, path
        assert node.get("additionalProperties") is not False, path


def test_defaults_are_documented_in_the_schema():
    spec = campaign_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    budget = spec["properties"]["budget"]
    assert budget["default"]["maxIterations"] == 3
    assert budget["properties"]["timeout"]["pattern"]
    assert all("description" in prop for prop in spec["properties"].values()), (
        "every spec field needs a description (attribute docstring)"
    )


def test_rendered_yaml_round_trips():
    assert yaml.safe_load(render_crd_yaml()) == campaign_crd()
