"""The children of a ModelDeployment: model-server Deployments, their Service and HPA.

Pure manifest builders. The stable Deployment carries the serving version; during a canary a
second Deployment runs the new version, and one Service selects both, so traffic splits by
replica ratio without a service mesh.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..api.kinds import DEPLOYMENT, HORIZONTAL_POD_AUTOSCALER, MODEL_DEPLOYMENT, SERVICE
from ..api.labels import SPEC_HASH, TRACK_LABEL, VERSION_LABEL
from ..api.modeldeployment import ModelDeploymentSpec
from ..api.modelversion import ModelVersionSpec
from ..artifacts import paths
from ..config import OperatorConfig
from .names import child_name, truncated
from .pods import WRITES_SERVE, container_security, pod_security, store_env, volumes

Track = Literal["stable", "canary"]
STABLE: Final = "stable"
CANARY: Final = "canary"

KIND_LABEL = MODEL_DEPLOYMENT.label  # on every child: selects the ModelDeployment's pods
HTTP_PORT = 8080
PORT_NAME = "http"  # the container's port, as probes and the Service name it
LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"
SERVICE_PORT = 80
CONTAINER = "server"
# The server stops answering ready and drains for ~10 s (answers say `Connection: close`, and
# the Service has time to stop routing to it), then waits up to 15 s for in-flight requests.
TERMINATION_GRACE_SECONDS = 30


def stable_name(deployment: str) -> str:
    return truncated(deployment)


def canary_name(deployment: str) -> str:
    return child_name(deployment, CANARY)


def service_name(deployment: str) -> str:
    return stable_name(deployment)


def url(deployment: str, namespace: str) -> str:
    return f"http://{service_name(deployment)}.{namespace}.svc.cluster.local"


def selector(deployment: str, track: Track | None = None) -> dict[str, str]:
    labels = {KIND_LABEL: deployment}
    if track:
        labels[TRACK_LABEL] = track
    return labels


def split_replicas(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for a traffic weight in %: at least one of each below 100 %."""
    if weight >= 100:
        return 0, max(total, 1)
    canary = max(1, math.ceil(total * weight / 100))
    stable = max(1, total - canary)
    return stable, canary


def effective_weight(stable: int, canary: int) -> int:
    return round(100 * canary / (stable + canary)) if stable + canary else 0


@dataclass(frozen=True)
class Parent:
    """The ModelDeployment as its children see it."""

    namespace: str
    name: str
    owner_reference: dict[str, Any]
    labels: dict[str, str]


@dataclass(frozen=True)
class Workload:
    """What the Deployment of one track should run."""

    track: Track
    version_name: str  # the ModelVersion object's name
    version: ModelVersionSpec
    replicas: int | None  # None: an HPA owns the replica count


def server_env(
    namespace: str, deployment: str, spec: ModelDeploymentSpec, workload: Workload, store: str
) -> list[dict[str, Any]]:
    mv = workload.version
    sample_uri = paths.under(store, paths.samples_dir(namespace, deployment, workload.version_name))
    # One labels directory per deployment: any pod of any version may receive the feedback.
    labels_uri = paths.under(store, paths.labels_dir(namespace, deployment))
    values = {
        "MLOPS_SERVE_MODEL_NAME": mv.model,
        "MLOPS_SERVE_MODEL_VERSION": str(mv.version),
        "MLOPS_SERVE_MODEL_VERSION_NAME": workload.version_name,
        "MLOPS_SERVE_ARTIFACT_URI": mv.artifact.uri,
        "MLOPS_SERVE_FORMAT": mv.artifact.format,
        "MLOPS_SERVE_SHA256": mv.artifact.sha256,
        "MLOPS_SERVE_SIGNATURE": json.dumps(mv.signature.wire(), separators=(",", ":")),
        "MLOPS_SERVE_TASK": mv.task,
        "MLOPS_SERVE_PORT": str(HTTP_PORT),
        "MLOPS_SERVE_SAMPLE_RATE": str(spec.sampling.rate),
        "MLOPS_SERVE_SAMPLE_BATCH_SIZE": str(spec.sampling.batch_size),
        "MLOPS_SERVE_SAMPLE_FLUSH_SECONDS": str(spec.sampling.flush_seconds),
        "MLOPS_SERVE_SAMPLE_URI": sample_uri,
        "MLOPS_SERVE_LABELS_URI": labels_uri,
    }
    return [{"name": k, "value": v} for k, v in values.items()]


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def deployment_manifest(
    parent: Parent, spec: ModelDeploymentSpec, workload: Workload, config: OperatorConfig
) -> dict[str, Any]:
    namespace, deployment, labels = parent.namespace, parent.name, parent.labels
    track_labels = {
        **labels,
        **selector(deployment, workload.track),
        VERSION_LABEL: workload.version_name,
    }
    pod_volumes, mounts = volumes(config, namespace, WRITES_SERVE)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image or config.image,
        "imagePullPolicy": config.image_pull_policy,
        "args": ["serve"],
        "env": server_env(namespace, deployment, spec, workload, config.store_uri)
        + store_env(config),
        "ports": [{"name": PORT_NAME, "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "readinessProbe": _probe(READY_PATH, 2, 2),
        "livenessProbe": _probe(LIVE_PATH, 10, 3),
        "startupProbe": _probe(LIVE_PATH, 2, 60),
        "securityContext": container_security(),
        "volumeMounts": mounts,
    }
    if spec.resources:
        container["resources"] = spec.resources.wire()
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "securityContext": pod_security(),
        "volumes": pod_volumes,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "automountServiceAccountToken": False,
    }
    if config.service_account:
        pod_spec["serviceAccountName"] = config.service_account
    rolling = spec.strategy.rolling_update
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(deployment, workload.track)},
        "progressDeadlineSeconds": spec.progress_deadline_seconds,
        "revisionHistoryLimit": 3,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": rolling.max_surge if rolling else "25%",
                "maxUnavailable": rolling.max_unavailable if rolling else 0,
            },
        },
        "template": {
            "metadata": {
                "labels": track_labels,
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(HTTP_PORT),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": pod_spec,
        },
    }
    if workload.replicas is not None:
        deployment_spec["replicas"] = workload.replicas
    name = stable_name(deployment) if workload.track == STABLE else canary_name(deployment)
    return _hashed(
        {
            "apiVersion": DEPLOYMENT.api_version,
            "kind": DEPLOYMENT.kind,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**labels, TRACK_LABEL: workload.track},
                "ownerReferences": [parent.owner_reference],
            },
            "spec": deployment_spec,
        }
    )


def service_manifest(parent: Parent) -> dict[str, Any]:
    return _hashed(
        {
            "apiVersion": SERVICE.api_version,
            "kind": SERVICE.kind,
            "metadata": {
                "name": service_name(parent.name),
                "namespace": parent.namespace,
                "labels": parent.labels,
                "ownerReferences": [parent.owner_reference],
            },
            "spec": {
                "type": "ClusterIP",
                "selector": selector(parent.name),
                "ports": [
                    {
                        "name": PORT_NAME,
                        "port": SERVICE_PORT,
                        "targetPort": PORT_NAME,
                        "protocol": "TCP",
                    }
                ],
            },
        }
    )


def autoscaler_manifest(parent: Parent, spec: ModelDeploymentSpec) -> dict[str, Any] | None:
    scaling = spec.autoscaling
    if scaling is None:
        return None
    return _hashed(
        {
            "apiVersion": HORIZONTAL_POD_AUTOSCALER.api_version,
            "kind": HORIZONTAL_POD_AUTOSCALER.kind,
            "metadata": {
                "name": stable_name(parent.name),
                "namespace": parent.namespace,
                "labels": parent.labels,
                "ownerReferences": [parent.owner_reference],
            },
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": DEPLOYMENT.api_version,
                    "kind": DEPLOYMENT.kind,
                    "name": stable_name(parent.name),
                },
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": scaling.target_cpu_utilization_percentage,
                            },
                        },
                    }
                ],
            },
        }
    )


def _hashed(manifest: dict[str, Any]) -> dict[str, Any]:
    """Annotate the manifest with a hash of itself, so an unchanged child is not re-applied."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    manifest["metadata"].setdefault("annotations", {})[SPEC_HASH] = digest
    return manifest


def spec_hash(obj: dict[str, Any] | None) -> str | None:
    if not obj:
        return None
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH)
