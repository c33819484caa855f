"""Leader election: one replica holds a coordination.k8s.io/v1 Lease and reconciles.

The loop gathers the Lease (one GET), asks `reconcile.leadership.decide` what to do, and carries
it out (one conditional write: create, or replace at the resourceVersion it read, so two
standbys racing for an expired Lease cannot both win). It calls back:

- `on_started` once, when this replica first holds the Lease;
- `on_lost(reason)` when a leader finds another holder or has not renewed within the renew
  deadline. It must stop reconciling at once: the handlers exit the process, and the kubelet
  restarts it as a standby with an empty work queue.

A standby waits with its watch cache warm; `mlops_operator_leader` says which is which.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from .. import metrics
from ..config import Leadership
from ..reconcile.leadership import (
    LeasePlan,
    Seen,
    decide,
    must_step_down,
    record_of,
    released,
)
from .client import ApiError, Conflict, call, read
from .events import event
from .resources import Resource

log = logging.getLogger(__name__)
LEASE = Resource("coordination.k8s.io/v1", "Lease")


def _now() -> float:
    return time.monotonic()


def _wall() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    def __init__(
        self,
        settings: Leadership,
        on_started: Callable[[], Awaitable[None]],
        on_lost: Callable[[str], Awaitable[None]],
        clock: Callable[[], float] = _now,
        wall: Callable[[], datetime] = _wall,
    ) -> None:
        self.settings = settings
        self._on_started = on_started
        self._on_lost = on_lost
        self._clock, self._wall = clock, wall
        self.leading = False
        self._seen: Seen | None = None
        self._last_renewed: float | None = None
        self._waiting_on = ""

    # -- the API boundary ---------------------------------------------------------------------

    async def _read(self) -> dict[str, Any] | None:
        return await read(
            LEASE.api_version, LEASE.kind, self.settings.namespace, self.settings.lease_name
        )

    async def _write(self, plan: LeasePlan) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "apiVersion": LEASE.api_version,
            "kind": LEASE.kind,
            "metadata": {
                "name": s.lease_name,
                "namespace": s.namespace,
                "labels": {"app.kubernetes.io/managed-by": "mlops-operator"},
            },
            "spec": plan.spec,
        }
        if plan.action == "create":
            return await call("POST", LEASE.path(s.namespace), body=body)
        body["metadata"]["resourceVersion"] = plan.resource_version
        return await call("PUT", LEASE.path(s.namespace, s.lease_name), body=body)

    def _attempt_timeout(self) -> float:
        s = self.settings
        return max(s.retry_seconds, s.renew_deadline_seconds - s.renew_seconds)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: acquire, then renew; returns only after `on_lost` (which should exit)."""
        s = self.settings
        metrics.LEADER.set(0)
        log.info(
            "leader election: %s is a candidate for Lease %s/%s",
            s.identity,
            s.namespace,
            s.lease_name,
        )
        while True:
            try:
                after = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug here must not leave a leader that never renews
                log.exception("leader election failed")
                await self._on_lost(f"{s.identity}: leader election failed: {error!r}")
                return
            if after is None:
                return
            await asyncio.sleep(after)

    async def step(self) -> float | None:
        """One look at the Lease: seconds until the next, or None once leadership is lost."""
        s = self.settings
        try:
            async with asyncio.timeout(self._attempt_timeout()):
                plan = decide(
                    record_of(await self._read()), self._seen, s, self._clock(), self._wall()
                )
                self._seen = plan.seen
                if self.leading and plan.action != "renew":
                    lost_because = f"the Lease is held by {plan.holder or 'nobody'} now"
                    written = None
                elif plan.action == "wait":
                    if plan.holder != self._waiting_on:
                        log.info("leader election: standing by, %s leads", plan.holder)
                        self._waiting_on = plan.holder
                    return plan.after
                else:
                    lost_because = ""
                    written = record_of(await self._write(plan))
        except (ApiError, TimeoutError, OSError) as error:
            # Conflict: another replica wrote first; anything else: the API server is away
            if not isinstance(error, Conflict):
                log.warning(
                    "leader election: Lease %s/%s: %s",
                    s.namespace,
                    s.lease_name,
                    error or "timed out",
                )
            if self.leading and must_step_down(self._last_renewed, self._clock(), s):
                await self._lose(f"the Lease was not renewed for {s.renew_deadline_seconds:.0f}s")
                return None
            return s.retry_seconds
        if lost_because:  # outside the attempt's timeout: stepping down is not cut short
            await self._lose(lost_because)
            return None
        self._last_renewed = self._clock()
        if written is not None:
            self._seen = Seen(written.key, self._last_renewed)
        if not self.leading:
            await self._start(plan)
        return plan.after

    async def _start(self, plan: LeasePlan) -> None:
        s = self.settings
        self.leading = True
        metrics.LEADER.set(1)
        metrics.LEADER_TRANSITIONS.labels("acquired").inc()
        taken = f" from {plan.holder}" if plan.holder else ""
        message = f"{s.identity} acquired Lease {s.namespace}/{s.lease_name}{taken}; reconciling"
        log.info("leader election: %s", message)
        await self._event("Normal", "LeaderElected", message)
        await self._on_started()

    async def _lose(self, why: str) -> None:
        s = self.settings
        self.leading = False
        metrics.LEADER.set(0)
        metrics.LEADER_TRANSITIONS.labels("lost").inc()
        message = f"{s.identity} lost Lease {s.namespace}/{s.lease_name}: {why}; stops reconciling"
        log.error("leader election: %s", message)
        await self._on_lost(message)

    async def _event(self, type_: str, reason: str, message: str) -> None:
        """An Event on the Lease (`kubectl describe lease`); best effort, bounded in time."""
        s = self.settings
        lease = {
            "apiVersion": LEASE.api_version,
            "kind": LEASE.kind,
            "metadata": {"name": s.lease_name, "namespace": s.namespace},
        }
        try:
            async with asyncio.timeout(self.settings.retry_seconds):
                await event(lease, "Warning" if type_ == "Warning" else "Normal", reason, message)
        except TimeoutError:
            log.warning("leader election: the %s Event was not posted in time", reason)

    async def lost_event(self, message: str) -> None:
        await self._event("Warning", "LeaderLost", message)

    async def release(self) -> None:
        """On a clean shutdown, after reconciling stopped: give the Lease up so a standby takes
        it at once instead of after `lease_seconds`."""
        if not self.leading:
            return
        self.leading = False
        metrics.LEADER.set(0)
        s = self.settings
        try:
            async with asyncio.timeout(self._attempt_timeout()):
                record = record_of(await self._read())
                spec = released(record, s, self._wall()) if record is not None else None
                if spec is None or record is None:
                    return
                await self._write(LeasePlan("take", None, 0, spec, record.resource_version))
        except (ApiError, TimeoutError, OSError) as error:
            log.warning("leader election: could not release the Lease (%s); it expires", error)
            return
        log.info("leader election: %s released Lease %s/%s", s.identity, s.namespace, s.lease_name)
