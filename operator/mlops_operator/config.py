"""Operator settings, read once from the environment (the Helm chart sets these)."""

from __future__ import annotations

import os
import socket
import uuid
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


def _optional_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip() in {"", "0", "none", "None"}:
        return None
    value = _int(name, 0)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class StoreLifecycle:
    """The store sweep (handlers/storage.py): compaction, retention, garbage collection."""

    sweep_seconds: float = 3600.0  # 0 (MLOPS_STORE_SWEEP_SECONDS=0): no sweep
    # Retention of samples and labels when a ModelDeployment sets none (None: no limit).
    max_age_hours: int | None = 720
    max_size_mib: int | None = None
    gc: bool = True
    gc_dry_run: bool = False  # report (Events, metrics, log) what would go; remove nothing
    gc_grace_seconds: int = 172800  # unreferenced entries younger than this stay
    compaction_grace_seconds: int = 900  # compacted inputs stay this long for slow readers


@dataclass(frozen=True)
class Leadership:
    """Leader election over a coordination.k8s.io/v1 Lease (docs/high-availability.md).

    Off by default (one replica needs none); the chart turns it on when `replicas` > 1. Every
    replica watches and keeps its cache warm; only the one holding the Lease reconciles.
    """

    enabled: bool = False
    namespace: str = "default"  # where the Lease lives: the operator's own namespace
    lease_name: str = "mlops-operator"
    identity: str = ""  # this replica's holderIdentity: the pod name plus a random suffix
    lease_seconds: float = 15.0  # a standby takes a Lease not renewed for this long
    renew_seconds: float = 5.0  # the leader renews this often
    renew_deadline_seconds: float = 10.0  # a leader that could not renew for this long exits
    retry_seconds: float = 2.0  # a standby (or a failed renew) tries again this often


@dataclass(frozen=True)
class OperatorConfig:
    store_uri: str = "file:///var/lib/mlops/store"
    image: str = "mlops-operator:0.2.0"
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
    lifecycle: StoreLifecycle = field(default_factory=StoreLifecycle)
    # file:// prefixes outside the store that sources may name (docs/security.md); none by
    # default: a file:// source must be in its namespace's part of the store.
    allowed_file_prefixes: tuple[str, ...] = ()
    # A Secret each namespace holds for itself: its pods take their S3 credentials from it
    # instead of from s3_secret (docs/security.md).
    s3_namespace_secret: str | None = None
    # S3 multipart: objects of twice this size and more are uploaded in parts of this size
    # (artifacts/store.py reads MLOPS_S3_PART_SIZE_MIB; pods on an s3:// store get it).
    s3_part_size_mib: int = 64
    # Every S3 call's connect and read timeouts and attempts (artifacts/s3_client.py reads
    # MLOPS_S3_CONNECT_TIMEOUT_SECONDS, MLOPS_S3_READ_TIMEOUT_SECONDS, MLOPS_S3_MAX_ATTEMPTS;
    # pods on an s3:// store get them).
    s3_connect_timeout_seconds: float = 10.0
    s3_read_timeout_seconds: float = 30.0
    s3_max_attempts: int = 3
    leadership: Leadership = field(default_factory=Leadership)

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
            lifecycle=lifecycle_from_env(),
            leadership=leadership_from_env(),
            allowed_file_prefixes=_prefixes("MLOPS_ALLOWED_FILE_PREFIXES"),
            s3_namespace_secret=env("MLOPS_S3_NAMESPACE_SECRET") or None,
            s3_part_size_mib=_int("MLOPS_S3_PART_SIZE_MIB", cls.s3_part_size_mib),
            s3_connect_timeout_seconds=_float(
                "MLOPS_S3_CONNECT_TIMEOUT_SECONDS", cls.s3_connect_timeout_seconds
            ),
            s3_read_timeout_seconds=_float(
                "MLOPS_S3_READ_TIMEOUT_SECONDS", cls.s3_read_timeout_seconds
            ),
            s3_max_attempts=_int("MLOPS_S3_MAX_ATTEMPTS", cls.s3_max_attempts),
        )


def _prefixes(name: str) -> tuple[str, ...]:
    """Comma-separated absolute directories, e.g. `/data/shared,/mnt/datasets`."""
    found = tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())
    for prefix in found:
        if not prefix.startswith("/") or any(s in {".", ".."} for s in prefix.split("/")):
            raise ValueError(f"{name}: {prefix!r} is not a normalised absolute directory")
    return found


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes"}:
        return True
    if raw.lower() in {"0", "false", "no"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def lifecycle_from_env() -> StoreLifecycle:
    d = StoreLifecycle
    sweep = os.environ.get("MLOPS_STORE_SWEEP_SECONDS")
    return StoreLifecycle(
        sweep_seconds=0.0 if sweep == "0" else _float("MLOPS_STORE_SWEEP_SECONDS", d.sweep_seconds),
        max_age_hours=_optional_int("MLOPS_RETENTION_MAX_AGE_HOURS", d.max_age_hours),
        max_size_mib=_optional_int("MLOPS_RETENTION_MAX_SIZE_MIB", d.max_size_mib),
        gc=_bool("MLOPS_GC", d.gc),
        gc_dry_run=_bool("MLOPS_GC_DRY_RUN", d.gc_dry_run),
        gc_grace_seconds=_int("MLOPS_GC_GRACE_SECONDS", d.gc_grace_seconds),
        compaction_grace_seconds=_int("MLOPS_COMPACTION_GRACE_SECONDS", d.compaction_grace_seconds),
    )


# This process's part of its Lease holderIdentity: two processes on one host (or a restarted
# container in the same pod) are two candidates.
_INSTANCE = uuid.uuid4().hex[:8]


def leadership_from_env() -> Leadership:
    d = Leadership
    env = os.environ.get
    pod = env("POD_NAME") or socket.gethostname()
    leadership = Leadership(
        enabled=_bool("MLOPS_LEADER_ELECTION", d.enabled),
        namespace=env("MLOPS_LEADER_ELECTION_NAMESPACE") or env("POD_NAMESPACE") or d.namespace,
        lease_name=env("MLOPS_LEADER_ELECTION_LEASE") or d.lease_name,
        identity=env("MLOPS_LEADER_ELECTION_IDENTITY") or f"{pod}_{_INSTANCE}",
        lease_seconds=_float("MLOPS_LEADER_ELECTION_LEASE_SECONDS", d.lease_seconds),
        renew_seconds=_float("MLOPS_LEADER_ELECTION_RENEW_SECONDS", d.renew_seconds),
        renew_deadline_seconds=_float(
            "MLOPS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS", d.renew_deadline_seconds
        ),
        retry_seconds=_float("MLOPS_LEADER_ELECTION_RETRY_SECONDS", d.retry_seconds),
    )
    if not (
        leadership.retry_seconds
        <= leadership.renew_seconds
        < leadership.renew_deadline_seconds
        < leadership.lease_seconds
    ):
        raise ValueError(
            "leader election needs MLOPS_LEADER_ELECTION_RETRY_SECONDS <= _RENEW_SECONDS < "
            "_RENEW_DEADLINE_SECONDS < _LEASE_SECONDS (a leader must give up before a standby "
            f"may take over), got {leadership.retry_seconds}, {leadership.renew_seconds}, "
            f"{leadership.renew_deadline_seconds}, {leadership.lease_seconds}"
        )
    return leadership
