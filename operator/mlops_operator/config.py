"""Operator settings, read once from the environment (the Helm chart sets these)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class StoreVolume:
    """How pods the operator creates reach the artifact store (file:// stores)."""

    claim_name: str | None = None  # a PVC mounted at mount_path in every pod
    mount_path: str = "/var/lib/mlops/store"


@dataclass(frozen=True)
class OperatorConfig:
    store_uri: str = "file:///var/lib/mlops/store"
    image: str = "mlops-operator:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    s3_secret: str | None = None
    volume: StoreVolume = field(default_factory=StoreVolume)
    service_account: str | None = None
    metrics_port: int = 9090
    health_port: int = 8080
    # Reconciles in flight at once (asyncio tasks; one object is never reconciled twice at once).
    workers: int = 64
    job_ttl_seconds: int = 86400
    # The safety net: every object is reconciled again this often even if no event came.
    resync_seconds: float = 600.0
    # An MLflow tracking server: training pods log every run there (MLFLOW_TRACKING_URI).
    mlflow_tracking_uri: str | None = None

    @classmethod
    def from_env(cls) -> OperatorConfig:
        env = os.environ.get
        return cls(
            store_uri=env("MLOPS_STORE", cls.store_uri),
            image=env("MLOPS_IMAGE", cls.image),
            image_pull_policy=env("MLOPS_IMAGE_PULL_POLICY", cls.image_pull_policy),
            s3_secret=env("MLOPS_S3_SECRET") or None,
            volume=StoreVolume(
                claim_name=env("MLOPS_STORE_PVC") or None,
                mount_path=env("MLOPS_STORE_MOUNT_PATH", StoreVolume.mount_path),
            ),
            service_account=env("MLOPS_POD_SERVICE_ACCOUNT") or None,
            metrics_port=_int("MLOPS_METRICS_PORT", cls.metrics_port),
            health_port=_int("MLOPS_HEALTH_PORT", cls.health_port),
            workers=_int("MLOPS_WORKERS", cls.workers),
            job_ttl_seconds=_int("MLOPS_JOB_TTL_SECONDS", cls.job_ttl_seconds),
            resync_seconds=_float("MLOPS_RESYNC_SECONDS", cls.resync_seconds),
            mlflow_tracking_uri=env("MLOPS_MLFLOW_TRACKING_URI") or None,
        )
