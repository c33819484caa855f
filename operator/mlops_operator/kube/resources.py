"""Where each kind lives on the API server: (apiVersion, kind) -> REST path pieces."""

from __future__ import annotations

from dataclasses import dataclass

from .. import API_VERSION
from ..api.kinds import KINDS

_BUILTIN = {
    ("v1", "Service"): "services",
    ("v1", "Pod"): "pods",
    ("v1", "Secret"): "secrets",
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Event"): "events",
    ("v1", "Namespace"): "namespaces",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaims",
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "ReplicaSet"): "replicasets",
    ("batch/v1", "Job"): "jobs",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("coordination.k8s.io/v1", "Lease"): "leases",
}
_PLURALS = {**_BUILTIN, **{(API_VERSION, k.kind): k.plural for k in KINDS}}
_CLUSTER_SCOPED = {"Namespace"}


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str

    @property
    def plural(self) -> str:
        try:
            return _PLURALS[(self.api_version, self.kind)]
        except KeyError:
            raise ValueError(f"unknown resource {self.api_version}/{self.kind}") from None

    def path(self, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [base]
        if namespace and self.kind not in _CLUSTER_SCOPED:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name:
            parts.append(name)
        if sub:
            parts.append(sub)
        return "/".join(parts)
