"""Pod templates of every pod the operator creates: Pod Security Standard `restricted`."""

from __future__ import annotations

from typing import Any

from ..config import OperatorConfig

RUN_AS_USER = 10001
TERMINATION_LOG = "/dev/termination-log"
SECCOMP_PROFILE = "RuntimeDefault"
S3_ENDPOINT_ENV = "MLOPS_S3_ENDPOINT"
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


def store_env(config: OperatorConfig) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "MLOPS_STORE", "value": config.store_uri}]
    if config.s3_secret:
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
                            "name": config.s3_secret,
                            "key": key,
                            "optional": var == S3_ENDPOINT_ENV,
                        }
                    },
                }
            )
    return env


def volumes(config: OperatorConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container mounts): a writable /tmp and, for file:// stores, the store PVC."""
    pod_volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if config.volume.claim_name:
        pod_volumes.append(
            {"name": STORE_VOLUME, "persistentVolumeClaim": {"claimName": config.volume.claim_name}}
        )
        mounts.append({"name": STORE_VOLUME, "mountPath": config.volume.mount_path})
    return pod_volumes, mounts
