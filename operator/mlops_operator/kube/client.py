"""Thin async calls over the official Kubernetes client, run in worker threads."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import threading
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from .resources import Resource

FIELD_MANAGER = "mlops-operator"
REQUEST_TIMEOUT = (5, 30)  # connect, read (seconds)

_local = threading.local()
_config_lock = threading.Lock()
_configuration: kubernetes.client.Configuration | None = None


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


def configure(configuration: kubernetes.client.Configuration | None = None) -> None:
    """Use this configuration (tests), else in-cluster config, else the current kubeconfig."""
    global _configuration
    with _config_lock:
        if configuration is None:
            configuration = kubernetes.client.Configuration()
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
            except kubernetes.config.ConfigException:
                # KUBECONFIG is read now, not when the client library was imported.
                kubernetes.config.load_kube_config(
                    config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
                )
        _configuration = configuration
        _local.__dict__.clear()


def _api() -> kubernetes.client.ApiClient:
    if _configuration is None:
        configure()
    client = getattr(_local, "client", None)
    if client is None or getattr(_local, "config", None) is not _configuration:
        client = kubernetes.client.ApiClient(_configuration)
        _local.client, _local.config = client, _configuration
    return client


def _call(
    method: str,
    path: str,
    body: Any = None,
    query: list[tuple[str, Any]] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    api = _api()
    method, url, headers, payload, post = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    try:
        response = api.call_api(method, url, headers, payload, post, REQUEST_TIMEOUT)
        data = response.read()
    except ApiException as error:
        raise _translate(error) from None
    if response.status >= 400:
        raise _translate(ApiException(http_resp=response))
    return json.loads(data) if data else {}


def _translate(error: ApiException) -> ApiError:
    reason, message = error.reason or "", str(error.body or "")
    try:
        payload = json.loads(error.body or "")
        reason, message = payload.get("reason", reason), payload.get("message", message)
    except (TypeError, ValueError):
        pass
    status = error.status or 0
    cls = {404: NotFound, 409: Conflict}.get(status, ApiError)
    return cls(status, reason, message)


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


def _resource(manifest: dict[str, Any]) -> Resource:
    return Resource(manifest["apiVersion"], manifest["kind"])


def apply_sync(manifest: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply with our field manager; we own the fields we send."""
    meta = manifest["metadata"]
    path = _resource(manifest).path(meta.get("namespace"), meta["name"])
    return _call(
        "PATCH",
        path,
        body=json.dumps(manifest),
        query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        content_type="application/apply-patch+yaml",
    )


async def apply(manifest: dict[str, Any]) -> dict[str, Any]:
    return await _in_thread(apply_sync, manifest)


async def create(manifest: dict[str, Any]) -> dict[str, Any]:
    """Create exactly this object; raises Conflict when the name is taken."""
    meta = manifest["metadata"]
    path = _resource(manifest).path(meta.get("namespace"))
    return await _in_thread(
        _call, "POST", path, body=manifest, query=[("fieldManager", FIELD_MANAGER)]
    )


def get_sync(
    api_version: str, kind: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    try:
        return _call("GET", Resource(api_version, kind).path(namespace, name))
    except NotFound:
        return None


async def get(
    api_version: str, kind: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    return await _in_thread(get_sync, api_version, kind, namespace, name)


async def list_objects(
    api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
) -> list[dict[str, Any]]:
    query = [("labelSelector", label_selector)] if label_selector else []
    result = await _in_thread(
        _call, "GET", Resource(api_version, kind).path(namespace), None, query
    )
    return list(result.get("items", []))


async def delete(
    api_version: str, kind: str, namespace: str | None, name: str, propagation: str = "Background"
) -> None:
    path = Resource(api_version, kind).path(namespace, name)
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
    with contextlib.suppress(NotFound):
        await _in_thread(_call, "DELETE", path, body)


async def patch_status(
    api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    """Merge-patch the status subresource; `None` values remove fields."""
    path = Resource(api_version, kind).path(namespace, name, "status")
    return await _in_thread(
        _call,
        "PATCH",
        path,
        {"status": status},
        None,
        "application/merge-patch+json",
    )
