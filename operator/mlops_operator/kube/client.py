"""Async calls to the Kubernetes API over Kopf's own authenticated connection pool.

Every request goes through Kopf's client: the credentials Kopf logged in with (and renews on
a 401), its retries on 5xx/429 and its aiohttp session, whose connection pool has no fixed
size. So thousands of reconciles never queue behind a few worker threads, and the operator
process does not load a second Kubernetes client library.

Reads of the kinds the operator watches are answered from the watch cache (`kube.cache`);
what is here is the wire.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp
import kopf
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import errors as kopf_errors

from ..metrics import API_REQUESTS
from .resources import Resource

FIELD_MANAGER = "mlops-operator"
log = logging.getLogger(__name__)

# Set by the operator's startup handler: Kopf's networking settings (timeouts, backoffs).
_settings: kopf.OperatorSettings | None = None


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """409: the object already exists, or an optimistic-concurrency check failed."""


def configure(settings: kopf.OperatorSettings) -> None:
    global _settings
    _settings = settings


def _current_settings() -> kopf.OperatorSettings:
    return _settings if _settings is not None else kopf.OperatorSettings()


def _translate(error: kopf_errors.APIError) -> ApiError:
    payload = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
    reason = str(payload.get("reason") or "")
    message = str(payload.get("message") or (error.args[0] if error.args else "") or "")
    cls = {404: NotFound, 409: Conflict}.get(error.status, ApiError)
    return cls(error.status, reason, message)


async def call(
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """One request; the JSON answer, or ApiError (NotFound, Conflict) for a 4xx/5xx."""
    url = f"{path}?{urlencode(query)}" if query else path
    headers = {"Accept": "application/json", "Content-Type": content_type}
    try:
        response = await kopf_api.request(
            method,
            url,
            payload=body,
            headers=headers,
            settings=_current_settings(),
            logger=log,
        )
    except kopf_errors.APIError as error:
        API_REQUESTS.labels(method, str(error.status)).inc()
        raise _translate(error) from None
    API_REQUESTS.labels(method, str(response.status)).inc()
    async with response:
        with contextlib.suppress(aiohttp.ContentTypeError):
            answer = await response.json()
            return answer if isinstance(answer, dict) else {}
    return {}


def _resource(manifest: dict[str, Any]) -> Resource:
    return Resource(manifest["apiVersion"], manifest["kind"])


async def apply(manifest: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply with our field manager; we own the fields we send."""
    meta = manifest["metadata"]
    path = _resource(manifest).path(meta.get("namespace"), meta["name"])
    return await call(
        "PATCH",
        path,
        body=manifest,
        query={"fieldManager": FIELD_MANAGER, "force": "true"},
        content_type="application/apply-patch+yaml",
    )


async def create(manifest: dict[str, Any]) -> dict[str, Any]:
    """Create exactly this object; raises Conflict when the name is taken."""
    meta = manifest["metadata"]
    path = _resource(manifest).path(meta.get("namespace"))
    return await call("POST", path, body=manifest, query={"fieldManager": FIELD_MANAGER})


async def read(
    api_version: str, kind: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    """A GET from the API server itself (not the cache); None when it does not exist."""
    try:
        return await call("GET", Resource(api_version, kind).path(namespace, name))
    except NotFound:
        return None


async def list_from_server(
    api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
) -> dict[str, Any]:
    """A LIST from the API server itself: the whole answer, with its resourceVersion."""
    query = {"labelSelector": label_selector} if label_selector else None
    return await call("GET", Resource(api_version, kind).path(namespace), None, query)


async def delete(
    api_version: str,
    kind: str,
    namespace: str | None,
    name: str,
    propagation: str = "Background",
    resource_version: str | None = None,
) -> None:
    """Delete; gone already is fine. With `resource_version`, only that exact version
    (Conflict if the object changed since)."""
    path = Resource(api_version, kind).path(namespace, name)
    body: dict[str, Any] = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": propagation,
    }
    if resource_version is not None:
        body["preconditions"] = {"resourceVersion": resource_version}
    with contextlib.suppress(NotFound):
        await call("DELETE", path, body)


async def patch_status(
    api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    """Merge-patch the status subresource; `None` values remove fields."""
    path = Resource(api_version, kind).path(namespace, name, "status")
    return await call(
        "PATCH", path, {"status": status}, content_type="application/merge-patch+json"
    )
