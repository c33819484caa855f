"""Two replicas, one reconciling: Kopf glue of the leader election (kube/leadership.py).

With MLOPS_LEADER_ELECTION on, every replica runs Kopf, its watch streams and its cache, so a
standby is live and Ready and its cache is warm; only the replica holding the Lease starts the
work queue's workers, the resync and the store sweep. A leader that loses the Lease stops its
workers, posts a LeaderLost Event and exits: the kubelet restarts it as a standby, so nothing
half-started can reconcile next to the new leader. On a clean shutdown it releases the Lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from .. import metrics
from ..config import OperatorConfig
from ..kube.leadership import LeaderElector
from . import controllers, storage

log = logging.getLogger(__name__)
EXIT_LOST = 3  # the exit status of a replica that lost the Lease

_elector: LeaderElector | None = None
_task: asyncio.Task[None] | None = None


@kopf.on.startup()
async def start_election(**_: Any) -> None:
    global _elector, _task
    config = OperatorConfig.from_env()
    if not config.leadership.enabled:
        metrics.LEADER.set(1)  # the only replica: it reconciles from the start
        return
    _elector = LeaderElector(config.leadership, on_started=_lead, on_lost=_lost)
    _task = asyncio.create_task(_elector.run(), name="leader-election")


async def _lead() -> None:
    controllers.current().start()
    storage.start_sweeping(OperatorConfig.from_env())


async def _lost(message: str) -> None:
    with contextlib.suppress(Exception):  # exit whatever happens; a bounded, best-effort stop
        async with asyncio.timeout(5):
            await _stop_work()
    if _elector is not None:
        await _elector.lost_event(message)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_LOST)  # no cleanup that could still write: a fresh process stands by


async def _stop_work() -> None:
    controller = controllers.CONTROLLER
    if controller is not None:
        await controller.stop()
    await storage.stop_sweeping()


@kopf.on.cleanup()
async def stop_election(**_: Any) -> None:
    global _elector, _task
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _task
        _task = None
    if _elector is not None and _elector.leading:
        await _stop_work()  # reconciles end before a standby may start its own
        await _elector.release()
    _elector = None


@kopf.on.probe(id="leader")
async def leader(**_: Any) -> str:
    """Part of /healthz: `leading`, `standby`, or `single` (no leader election). Async: it
    answers from the event loop, not from a thread of the (possibly busy) executor."""
    if _elector is None:
        return "single"
    return "leading" if _elector.leading else "standby"
