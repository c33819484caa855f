"""The one boundary to the Kubernetes API: every read and write of the operator goes through here.

Writes go to the API server over Kopf's connection pool (`client`); reads of watched kinds are
answered from the watch cache (`cache`), so an unchanged world costs no request.
"""

from typing import Any

from . import cache
from .client import (
    ApiError,
    Conflict,
    NotFound,
    create,
    delete,
    list_from_server,
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


async def list_fresh(
    api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
) -> list[dict[str, Any]]:
    """A LIST from the API server itself, for a read that settles something for good (the
    pods that explain a failed Job): the watch streams of two kinds are not ordered."""
    answer = await list_from_server(api_version, kind, namespace, label_selector)
    return list(answer.get("items") or [])


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
    "create",
    "delete",
    "event",
    "get",
    "list_fresh",
    "list_objects",
    "patch_status",
]
