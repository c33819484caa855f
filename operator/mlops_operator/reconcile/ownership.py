"""The labels and owner reference every child carries (pure: used to build manifests). The
label and annotation keys themselves are named in api/labels.py."""

from __future__ import annotations

from typing import Any

from ..api.kinds import kind_label
from ..api.labels import MANAGED_BY


def child_labels(kind: str, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**MANAGED_BY, kind_label(kind): name, **(extra or {})}


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
