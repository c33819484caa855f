"""Helpers tests use against a real API server: CRDs, namespaces, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import yaml

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def configuration(kubeconfig: Path) -> kubernetes.client.Configuration:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=config)
    return config


def install_crds(api: kubernetes.client.ApiClient, directory: Path = ROOT / "crds") -> list[str]:
    ext = kubernetes.client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        names.append(crd["metadata"]["name"])
        try:
            ext.create_custom_resource_definition(crd)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
            current = ext.read_custom_resource_definition(crd["metadata"]["name"])
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(crd["metadata"]["name"], crd)
    for name in names:
        wait_for(lambda n=name: _established(ext, n), timeout=60, what=f"CRD {name} established")
    return names


def _established(ext: kubernetes.client.ApiextensionsV1Api, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    return any(
        c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])
    )


def wait_for(
    check: Callable[[], T], timeout: float = 30, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # keep polling through transient API errors
            last_error = error
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}{detail}")


class Objects:
    """Custom objects of mlops.dev/v1alpha1 in one namespace."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        plural = _plural(body["kind"])
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            "mlops.dev", "v1alpha1", self.namespace, plural, body, field_validation="Strict"
        )

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            "mlops.dev", "v1alpha1", self.namespace, _plural(kind), name
        )

    def list(self, kind: str) -> list[dict[str, Any]]:
        result = self.custom.list_namespaced_custom_object(
            "mlops.dev", "v1alpha1", self.namespace, _plural(kind)
        )
        return list(result["items"])

    def patch(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(  # type: ignore[no-any-return]
            "mlops.dev", "v1alpha1", self.namespace, _plural(kind), name, body
        )

    def delete(self, kind: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            "mlops.dev", "v1alpha1", self.namespace, _plural(kind), name
        )

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any] | None:
        status = self.get(kind, name).get("status") or {}
        for c in status.get("conditions") or []:
            if c.get("type") == type_:
                return c  # type: ignore[no-any-return]
        return None


def _plural(kind: str) -> str:
    from mlops_operator.api.kinds import by_kind

    return by_kind(kind).plural
