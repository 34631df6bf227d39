"""Reads FineTuneCampaign manifests from YAML files, for ``ftctl`` commands."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ftapi import API_GROUP, API_VERSION, KIND
from ftapi.campaign import FineTuneCampaign
from ftapi.errors import format_validation_error


class ManifestError(ValueError):
    """A manifest that cannot be read or is not a valid FineTuneCampaign."""


def load_campaign(path: Path) -> FineTuneCampaign:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as exc:
        raise ManifestError(f"not valid YAML: {exc}") from exc
    campaigns = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if len(campaigns) != 1:
        raise ManifestError(f"expected exactly one {KIND} document, found {len(campaigns)}")
    body = campaigns[0]
    if body.get("apiVersion") != f"{API_GROUP}/{API_VERSION}":
        raise ManifestError(f"apiVersion must be {API_GROUP}/{API_VERSION}")
    try:
        return FineTuneCampaign.model_validate(body)
    except ValidationError as exc:
        raise ManifestError(format_validation_error(exc)) from exc
