"""Pod templates of every pod the operator creates: Pod Security Standard `restricted`."""

from __future__ import annotations

from typing import Any

from ..config import OperatorConfig

RUN_AS_USER = 10001
TERMINATION_LOG = "/dev/termination-log"


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def store_env(config: OperatorConfig) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "MLOPS_STORE", "value": config.store_uri}]
    if config.s3_secret:
        for var, key in (
            ("AWS_ACCESS_KEY_ID", "accessKeyId"),
            ("AWS_SECRET_ACCESS_KEY", "secretAccessKey"),
            ("MLOPS_S3_ENDPOINT", "endpoint"),
        ):
            env.append(
                {
                    "name": var,
                    "valueFrom": {
                        "secretKeyRef": {
                            "name": config.s3_secret,
                            "key": key,
                            "optional": var == "MLOPS_S3_ENDPOINT",
                        }
                    },
                }
            )
    return env


def volumes(config: OperatorConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container mounts): a writable /tmp and, for file:// stores, the store PVC."""
    pod_volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if config.volume.claim_name:
        pod_volumes.append(
            {"name": "store", "persistentVolumeClaim": {"claimName": config.volume.claim_name}}
        )
        mounts.append({"name": "store", "mountPath": config.volume.mount_path})
    return pod_volumes, mounts
