"""Shared building blocks of every kind: the wire conventions, conditions, references."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .conditions import ConditionStatus

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# The longest DNS label (RFC 1123): the names the operator accepts and gives its children,
# and every label value.
MAX_NAME = 63
# A model name (its ModelVersions are named <model>-v<version>).
MAX_MODEL_NAME = 40
MAX_URI = 2048
SHA256 = r"^[a-f0-9]{64}$"
# A sha256 shown short (in messages) is this long, and so is the shortest prefix that pins one.
SHORT_SHA = 12

ResourceName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=DNS_LABEL)]


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One `x-kubernetes-validations` entry, checked by the API server."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


# A URI that may name the store is refused at admission when its path is not normalised:
# `.` or `..` segments, repeated slashes, or a file:// URI naming a host. What the path then
# names (another namespace's part of the store) is the operator's to judge
# (reconcile/confinement.py): CEL on a field cannot see metadata.namespace.
NORMALISED_URI = validations(
    cel(
        "!self.matches('/[.][.]?(/|$)')",
        "a URI with `.` or `..` path segments is not allowed: write the normalised path",
    ),
    cel(
        "!self.matches('^(file|s3)://[^/]*/.*//')",
        "a file:// or s3:// URI with repeated slashes is not allowed: write the normalised path",
    ),
    cel(
        "!self.startsWith('file://') || self.startsWith('file:///')",
        "a file:// URI is file:///<absolute path> (no host)",
    ),
)


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=False,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# Free-form maps (hyperparameters, params) the API server keeps as they are.
FreeForm = Annotated[
    dict[str, Any],
    Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}),
]


class Condition(ApiModel):
    type: str = Field(min_length=1, max_length=316)
    status: ConditionStatus
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str | None = None
    observed_generation: int | None = Field(default=None, ge=0)


class LocalObjectRef(ApiModel):
    """A reference to an object of a known kind in the same namespace."""

    name: ResourceName


class Toleration(ApiModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


Quantity = Annotated[
    str | int,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


class Resources(ApiModel):
    """Container resources, as in core/v1 (cpu, memory, nvidia.com/gpu, ...)."""

    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class StatusBase(ApiModel):
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
