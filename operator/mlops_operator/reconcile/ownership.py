"""Labels and owner references the operator puts on every child (pure: used to build manifests)."""

from __future__ import annotations

from typing import Any

MANAGED_BY = {
    "app.kubernetes.io/managed-by": "mlops-operator",
    "app.kubernetes.io/part-of": "mlops",
}


def child_labels(kind: str, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**MANAGED_BY, f"mlops.dev/{kind.lower()}": name, **(extra or {})}


def owner_reference(owner: dict[str, Any], controller: bool = True) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }
