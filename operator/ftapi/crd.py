"""Generates the FineTuneCampaign CustomResourceDefinition from the pydantic models.

Called by ``ftctl crds`` (which writes ``crds/``) and by the drift test. Kubernetes wants a
*structural* OpenAPI v3 schema: no ``$ref``, no ``type: null``, no ``additionalProperties:
false``, every node typed. Pydantic's JSON schema is adapted through its documented hooks
(a ``GenerateJsonSchema`` subclass) plus one post-processing pass that inlines references.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import core_schema

from ftapi import API_GROUP, API_VERSION, CATEGORIES, KIND, PLURAL, SHORT_NAMES, SINGULAR
from ftapi.campaign import FineTuneCampaignSpec, FineTuneCampaignStatus

CRD_NAME = f"{PLURAL}.{API_GROUP}"
CRD_FILENAME = f"{CRD_NAME}.yaml"

# Keywords of JSON schema that apiextensions.k8s.io/v1 does not accept.
_DROPPED_KEYWORDS = {"title", "propertyNames", "discriminator", "examples", "$defs"}

PRINTER_COLUMNS = [
    {"name": "Benchmark", "type": "string", "jsonPath": ".spec.benchmark"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Iteration", "type": "integer", "jsonPath": ".status.currentIteration"},
    {"name": "Baseline", "type": "number", "jsonPath": ".status.baseline.validation"},
    {"name": "Best", "type": "number", "jsonPath": ".status.best.validation"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


class CrdSchemaGenerator(GenerateJsonSchema):
    """JSON schema in the dialect of apiextensions v1: nullable instead of null types, and
    defaults from default factories so the API server fills them in."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return {**self.generate_inner(schema["schema"]), "nullable": True}

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema:
            default = _prune_empty(json_schema["default"])
            if default is NoDefault:
                del json_schema["default"]
            else:
                json_schema["default"] = default
        return json_schema


def _prune_empty(value: Any) -> Any:
    """Drops None and empty containers from a default: the API server need not store them."""
    if isinstance(value, dict):
        pruned = {
            k: v for k, v in ((k, _prune_empty(v)) for k, v in value.items()) if v is not NoDefault
        }
        return pruned if pruned else NoDefault
    if isinstance(value, list):
        return value if value else NoDefault
    return NoDefault if value is None or value == "" else value


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
        target.update(node)  # field-level description, default and nullable win
        node = target
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
        return _structural(node, defs)
    if isinstance(node.get("description"), str):
        node["description"] = " ".join(node["description"].split())
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    for key in _DROPPED_KEYWORDS:
        node.pop(key, None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties",):
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            out[key] = _structural(value, defs)
        else:
            out[key] = value
    return out


def structural_schema(model: type) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model, as the CRD wants it."""
    raw = model.model_json_schema(  # type: ignore[attr-defined]
        by_alias=True, mode="validation", schema_generator=CrdSchemaGenerator
    )
    return _structural(raw, raw.get("$defs", {}))


def campaign_openapi_schema() -> dict[str, Any]:
    status = structural_schema(FineTuneCampaignStatus)
    # kopf keeps bookkeeping under status.kopf in some configurations; pruning it would make
    # kopf's own patches no-ops.
    status["properties"]["kopf"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "type": "object",
        "description": "A benchmark-driven LLM fine-tuning campaign.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(FineTuneCampaignSpec),
            "status": status,
        },
    }


def campaign_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "ft-agent-operator"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": campaign_openapi_schema()},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    header = "# Generated by `ftctl crds` from ftapi's pydantic models. Do not edit by hand.\n"
    return header + yaml.safe_dump(campaign_crd(), sort_keys=False, width=100)
