"""The one boundary to the Kubernetes API: every read and write of the operator goes through here.

Writes go to the API server over Kopf's connection pool (`client`); reads of watched kinds are
answered from the watch cache (`cache`), so an unchanged world costs no request.
"""

from typing import Any

# Pure helpers, defined in reconcile/ownership; re-exported while callers move over.
from ..reconcile.ownership import child_labels, owner_reference
from . import cache
from .client import (
    ApiError,
    Conflict,
    NotFound,
    create,
    delete,
    patch_status,
)
from .client import apply as _apply
from .events import event


async def get(
    api_version: str, kind: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    """The object as last seen (watched kinds) or as the API server has it; None if absent."""
    return await cache.CACHE.get(api_version, kind, namespace, name)


async def list_objects(
    api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
) -> list[dict[str, Any]]:
    return await cache.CACHE.list_objects(api_version, kind, namespace, label_selector)


async def apply(manifest: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply; the cache learns the result at once (the watch event follows)."""
    applied = await _apply(manifest)
    cache.CACHE.written(applied)
    return applied


__all__ = [
    "ApiError",
    "Conflict",
    "NotFound",
    "apply",
    "cache",
    "child_labels",
    "create",
    "delete",
    "event",
    "get",
    "list_objects",
    "owner_reference",
    "patch_status",
]
