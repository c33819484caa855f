"""Pod templates of every pod the operator creates: Pod Security Standard `restricted`."""

from __future__ import annotations

from typing import Any

from ..config import OperatorConfig
from .confinement import AREAS

RUN_AS_USER = 10001
TERMINATION_LOG = "/dev/termination-log"
SECCOMP_PROFILE = "RuntimeDefault"
S3_ENDPOINT_ENV = "MLOPS_S3_ENDPOINT"
PART_SIZE_ENV = "MLOPS_S3_PART_SIZE_MIB"  # artifacts/store.py reads it
TMP_VOLUME = "tmp"
STORE_VOLUME = "store"


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": SECCOMP_PROFILE},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": SECCOMP_PROFILE},
    }


def s3_secret_of_pods(config: OperatorConfig) -> str | None:
    """The Secret (in the pod's own namespace) a pod takes its S3 credentials from: the
    namespace's own when the operator is configured with one, else the operator-wide name."""
    return config.s3_namespace_secret or config.s3_secret


def store_env(config: OperatorConfig) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "MLOPS_STORE", "value": config.store_uri}]
    secret = s3_secret_of_pods(config)
    if secret:
        for var, key in (
            ("AWS_ACCESS_KEY_ID", "accessKeyId"),
            ("AWS_SECRET_ACCESS_KEY", "secretAccessKey"),
            (S3_ENDPOINT_ENV, "endpoint"),
        ):
            env.append(
                {
                    "name": var,
                    "valueFrom": {
                        "secretKeyRef": {
                            "name": secret,
                            "key": key,
                            "optional": var == S3_ENDPOINT_ENV,
                        }
                    },
                }
            )
    if config.store_uri.startswith("s3://"):
        env.append({"name": PART_SIZE_ENV, "value": str(config.s3_part_size_mib)})
        for var, value in (
            ("MLOPS_S3_CONNECT_TIMEOUT_SECONDS", config.s3_connect_timeout_seconds),
            ("MLOPS_S3_READ_TIMEOUT_SECONDS", config.s3_read_timeout_seconds),
            ("MLOPS_S3_MAX_ATTEMPTS", config.s3_max_attempts),
        ):  # artifacts/s3_client.py reads them: every S3 call of the pod is bounded
            env.append({"name": var, "value": f"{value:g}"})
    return env


# What each pod writes: areas of its own namespace's part of the store (it reads them all).
WRITES_PROFILE: tuple[str, ...] = ("datasets", "runs")
WRITES_TRAIN: tuple[str, ...] = ("models", "runs")
WRITES_COMPARE: tuple[str, ...] = ("evaluations",)
WRITES_BATCH: tuple[str, ...] = ("predictions",)
WRITES_SERVE: tuple[str, ...] = ("samples", "labels")


def _store_under_mount(config: OperatorConfig) -> str | None:
    """The store root relative to the claim's root ("" when they are the same directory), or
    None when the store is not a file:// directory on the mounted claim."""
    scheme, _, path = config.store_uri.partition("://")
    if scheme != "file":
        return None
    root, mount = path.rstrip("/"), config.volume.mount_path.rstrip("/")
    if root == mount:
        return ""
    return root[len(mount) + 1 :] if root.startswith(mount + "/") else None


def volumes(
    config: OperatorConfig, namespace: str | None = None, writes: tuple[str, ...] = AREAS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container mounts): a writable /tmp and, for file:// stores, the store PVC.

    With a `namespace`, the claim is mounted once per area of the store layout, each time only
    that namespace's directory (`subPath: <area>/<namespace>`, at the same place it has in the
    store), read-only unless the pod writes that area: the other namespaces' parts are not in
    the pod at all (docs/security.md)."""
    pod_volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if config.volume.claim_name:
        pod_volumes.append(
            {"name": STORE_VOLUME, "persistentVolumeClaim": {"claimName": config.volume.claim_name}}
        )
        relative = _store_under_mount(config)
        if namespace is None or relative is None:
            mounts.append({"name": STORE_VOLUME, "mountPath": config.volume.mount_path})
            return pod_volumes, mounts
        base = f"{relative}/" if relative else ""
        mount_path = config.volume.mount_path.rstrip("/")
        for area in AREAS:
            sub_path = f"{base}{area}/{namespace}"
            mount: dict[str, Any] = {
                "name": STORE_VOLUME,
                "mountPath": f"{mount_path}/{sub_path}",
                "subPath": sub_path,
            }
            if area not in writes:
                mount["readOnly"] = True
            mounts.append(mount)
    return pod_volumes, mounts
