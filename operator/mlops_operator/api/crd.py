"""Generate CustomResourceDefinitions from the pydantic models.

The API server needs *structural* schemas: no `$ref`, no `anyOf` of types, every
field typed. Pydantic's JSON Schema is close; this module inlines references,
turns `X | None` into a plain optional `X`, and maps our extension markers.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import GROUP, VERSION
from .kinds import AGE_COLUMN, KINDS, READY_COLUMN, Kind
from .labels import NAME_LABEL, OPERATOR, PART_OF, PART_OF_LABEL

_DROP = {"title", "discriminator"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return {k: _resolve(v, defs) for k, v in node.items() if k not in _DROP}


# Marks a schema node that holds any JSON value (a categorical choice: string, number, bool).
ANY_VALUE = "x-mlops-any-value"


def _structural(node: Any) -> Any:
    """Rewrite one resolved JSON Schema node into the OpenAPI v3 subset CRDs accept."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) == 1:
            default = node.pop("default", None)
            node = {**options[0], **node}
            if default is not None:
                node["default"] = default
        elif node.get("x-kubernetes-int-or-string"):
            pass  # int-or-string carries its own type rules
        else:
            raise ValueError(f"cannot express a union of {options} structurally")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
    if node.get("default") is None:
        node.pop("default", None)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        node.pop("additionalProperties", None)
        if node.pop(ANY_VALUE, False):  # any JSON value (a scalar too): no type at all
            node.pop("type", None)
            return node
        node["type"] = "object"
        return node
    if node.get("type") == "object":
        additional = node.get("additionalProperties")
        if additional is False or "properties" in node:
            node.pop("additionalProperties", None)
        elif isinstance(additional, dict):
            node["additionalProperties"] = _structural(additional)
    if "properties" in node:
        node["properties"] = {k: _structural(v) for k, v in node["properties"].items()}
    if "items" in node:
        node["items"] = _structural(node["items"])
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node and not isinstance(node[bound], bool):
            node[bound.replace("exclusiveM", "m")] = node[bound]
            node[bound] = True
    return node


def _strip_empty_defaults(node: Any) -> Any:
    """Defaults of [] or {} on optional fields add noise to every stored object; drop them."""
    if isinstance(node, list):
        return [_strip_empty_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: _strip_empty_defaults(v) for k, v in node.items()}
    if node.get("default") in ([], {}) and node.get("type") == "array":
        node.pop("default")
    return node


def schema_of(kind: Kind) -> dict[str, Any]:
    raw = kind.model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    resolved = _resolve(raw, defs)
    body = _strip_empty_defaults(_structural(resolved))
    spec = body["properties"]["spec"]
    status = body["properties"]["status"]
    status.pop("default", None)
    return {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd_of(kind: Kind) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {NAME_LABEL: OPERATOR, PART_OF_LABEL: PART_OF},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": kind.short_names,
                "categories": ["mlops"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [READY_COLUMN, *kind.columns, AGE_COLUMN],
                    "schema": {"openAPIV3Schema": schema_of(kind)},
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd_of(kind) for kind in KINDS]


__all__ = ["all_crds", "crd_of", "schema_of"]
