"""Shared pydantic configuration and constrained types for the API and the worker contracts.

Field names are snake_case in Python and camelCase on the wire; attribute docstrings become
the CRD's field descriptions.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        extra="forbid",
        validate_assignment=True,
        allow_inf_nan=False,
    )
    """Infinity and NaN are refused everywhere: a forged ``llmCost: Infinity`` must fail its
    step's contract, never reach a status patch."""


class LenientModel(ApiModel):
    """Base of objects written by other programs (status, results): unknown fields ignored."""

    model_config = ConfigDict(extra="ignore")


# Kubernetes naming rules (k8s.io/apimachinery/pkg/util/validation).
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CONFIG_MAP_KEY = r"^[-._a-zA-Z0-9]+$"
# A qualified label key or value (prefix/name) as used by nodeSelector and tolerations.
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# resource.Quantity, e.g. 500m, 4Gi, 1e3, 2.
QUANTITY = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][-+]?[0-9]+))?$"
# A Go-style duration restricted to whole units: 90s, 30m, 12h, 2d, 1h30m.
DURATION = r"^([0-9]+(d|h|m|s))+$"

ResourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN)
]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
SecretKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=CONFIG_MAP_KEY)]

_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90m``, ``12h``, ``2d`` or ``1h30m``."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"invalid duration {text!r}: use whole units like 90m, 12h, 2d or 1h30m")
    return sum(int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"([0-9]+)([dhms])", text))


def _positive_duration(text: str) -> str:
    if parse_duration(text) <= 0:
        raise ValueError("duration must be longer than zero")
    return text


Duration = Annotated[
    str,
    StringConstraints(min_length=2, max_length=32, pattern=DURATION),
    AfterValidator(_positive_duration),
]


def quantity_schema(schema: dict) -> None:
    schema.clear()
    schema.update(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY,
        }
    )


def _quantity(value: str | int) -> str | int:
    if isinstance(value, bool) or not re.fullmatch(QUANTITY, str(value)):
        raise ValueError(f"invalid resource quantity {value!r}: use e.g. 500m, 4Gi or 2")
    return value


Quantity = Annotated[
    str | int,
    AfterValidator(_quantity),
    Field(json_schema_extra=quantity_schema),
]
