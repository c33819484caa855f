"""Leader election decisions over a coordination.k8s.io/v1 Lease, as client-go's leaderelection.

Pure: the observed Lease (or None), this replica's identity and the clocks in; a plan out
(create, take, renew or wait, and when to look again). `kube.leadership` gathers and carries out.

Expiry is judged on the local monotonic clock from the moment this replica last saw the
Lease's record change, never from the `renewTime` written by another machine: clocks of two
nodes may disagree, the time between two observations here may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..config import Leadership

Action = Literal["create", "take", "renew", "wait"]


@dataclass(frozen=True)
class LeaseRecord:
    """What the Lease says: who holds it, for how long, since when, how often it changed hands."""

    holder: str
    lease_seconds: float
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str | None

    @property
    def key(self) -> tuple[str, str | None, int]:
        """A new renewal or a new holder changes this; nothing else does."""
        return (self.holder, self.renew_time, self.transitions)


@dataclass(frozen=True)
class Seen:
    """The record last observed and when (local monotonic seconds) it was first seen so."""

    key: tuple[str, str | None, int]
    at: float


@dataclass(frozen=True)
class LeasePlan:
    action: Action
    seen: Seen | None
    after: float  # seconds until the next look
    spec: dict[str, Any] | None = None  # the Lease spec to write (create, take, renew)
    resource_version: str | None = None  # the version the write is conditional on
    holder: str = ""  # who holds the Lease as observed (for logs while waiting)


def micro_time(moment: datetime) -> str:
    """A MicroTime as the API server writes it: UTC, microseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(lease: dict[str, Any] | None) -> LeaseRecord | None:
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_seconds=float(spec.get("leaseDurationSeconds") or 0),
        acquire_time=spec.get("acquireTime"),
        renew_time=spec.get("renewTime"),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=(lease.get("metadata") or {}).get("resourceVersion"),
    )


def _spec(
    settings: Leadership, acquire_time: str, renew_time: str, transitions: int
) -> dict[str, Any]:
    return {
        "holderIdentity": settings.identity,
        # whole seconds on the wire; a standby rounds up, never takes a live Lease early
        "leaseDurationSeconds": max(1, round(settings.lease_seconds)),
        "acquireTime": acquire_time,
        "renewTime": renew_time,
        "leaseTransitions": transitions,
    }


def decide(
    record: LeaseRecord | None,
    seen: Seen | None,
    settings: Leadership,
    now: float,
    wall: datetime,
) -> LeasePlan:
    """What to do with the Lease as observed now.

    - no Lease: create it, holding it;
    - held by us: renew it;
    - released (no holder) or not renewed for its duration since we first saw this record:
      take it, one more transition;
    - else: wait, and look again after the retry period.
    """
    stamp = micro_time(wall)
    if record is None:
        return LeasePlan(
            "create", None, settings.renew_seconds, _spec(settings, stamp, stamp, 0), None
        )
    if seen is None or seen.key != record.key:
        seen = Seen(record.key, now)
    if record.holder == settings.identity:
        spec = _spec(settings, record.acquire_time or stamp, stamp, record.transitions)
        return LeasePlan(
            "renew", seen, settings.renew_seconds, spec, record.resource_version, record.holder
        )
    expired = now - seen.at >= max(record.lease_seconds, 1.0)
    if not record.holder or expired:
        spec = _spec(settings, stamp, stamp, record.transitions + 1)
        return LeasePlan(
            "take", seen, settings.renew_seconds, spec, record.resource_version, record.holder
        )
    return LeasePlan("wait", seen, settings.retry_seconds, holder=record.holder)


def must_step_down(last_renewed: float | None, now: float, settings: Leadership) -> bool:
    """A leader that has not renewed within the renew deadline may no longer hold the Lease
    (a standby takes it `lease_seconds` after the last renewal it saw): stop reconciling."""
    return last_renewed is not None and now - last_renewed >= settings.renew_deadline_seconds


def released(record: LeaseRecord, settings: Leadership, wall: datetime) -> dict[str, Any] | None:
    """The spec that gives the Lease up on a clean shutdown (the standby takes it at once, as
    client-go's ReleaseOnCancel), or None when it is not ours to give up."""
    if record.holder != settings.identity:
        return None
    return {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": record.acquire_time,
        "renewTime": micro_time(wall),
        "leaseTransitions": record.transitions,
    }
