"""The controller loop: watch events in, one work queue, one reconcile per kind.

Kopf's watch streams deliver every change of our kinds and of the children we label; each
event updates the watch cache and names the objects to reconcile again (the changed object,
the owner of a changed child, the dependents of a changed object — `reconcile.dependencies`).
A reconcile returns when time itself should wake the object again; a slow resync (minutes)
is the safety net for anything missed. No per-object timer polls the API server.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any

import kopf

from .. import API_VERSION, GROUP, VERSION, kube, metrics
from ..api.kinds import (
    BATCH_PREDICTION,
    DATASET,
    DRIFT_MONITOR,
    KINDS,
    MODEL_DEPLOYMENT,
    MODEL_VERSION,
    TRAINING_JOB,
)
from ..config import OperatorConfig
from ..kube.cache import WATCHED, selector_labels
from ..kube.resources import Resource
from ..reconcile.dependencies import Key, dependents, owners
from . import batchprediction, dataset, driftmonitor, modeldeployment, modelversion, trainingjob
from .common import as_dict
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

Reconcile = Callable[[dict[str, Any]], Awaitable[float | None]]
RECONCILERS: dict[str, Reconcile] = {
    DATASET.kind: dataset.reconcile,
    TRAINING_JOB.kind: trainingjob.reconcile,
    MODEL_VERSION.kind: modelversion.reconcile,
    MODEL_DEPLOYMENT.kind: modeldeployment.reconcile,
    DRIFT_MONITOR.kind: driftmonitor.reconcile,
    BATCH_PREDICTION.kind: batchprediction.reconcile,
}
# What to let go of when an object is gone (its children go with their owner references).
FORGET: dict[str, Callable[[str, str], None]] = {DRIFT_MONITOR.kind: driftmonitor.forget}


class Controller:
    """One operator run: the queue, its workers and the resync."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.cache = kube.cache.reset()
        self.queue = WorkQueue(self._reconcile, workers=config.workers)
        self._resync: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Deletes of a deleted owner's children in flight at once (a burst of owners).
        self._deleting = asyncio.Semaphore(32)
        # False on a standby (leader election): events fill the cache and the queue, no worker
        # runs and nothing is written until it leads (handlers/leadership.py).
        self.started = False

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        self.queue.start()
        self._resync = asyncio.create_task(self._resync_forever(), name="resync")

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._resync is not None:
            self._resync.cancel()
            await asyncio.gather(self._resync, return_exceptions=True)
        await self.queue.stop()

    # -- events in ------------------------------------------------------------------------

    def on_ours(self, event_type: str | None, obj: dict[str, Any]) -> None:
        self.cache.observe(event_type, obj)
        meta = obj["metadata"]
        key: Key = (obj["kind"], meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.queue.forget(key)
            forget = FORGET.get(key[0])
            if forget is not None:
                forget(key[1], key[2])
            if self.started:  # a standby writes nothing; the garbage collector still removes them
                self._spawn(self._delete_children(obj))
        else:
            self.queue.add(key)
        # Our kinds can be children too (a retrain TrainingJob of a DriftMonitor, a
        # ModelVersion of the TrainingJob that registered it), and read by others.
        for woken in owners(obj) | dependents(obj, self._cached):
            if woken != key:
                self.queue.add(woken)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _delete_children(self, owner: dict[str, Any]) -> None:
        """Delete what the owner controlled, as the garbage collector would, without waiting
        behind its request rate (a burst of deleted owners leaves thousands of children).

        Each delete names the version the cache saw: a child orphaned meanwhile (deleted with
        --cascade=orphan, its owner reference removed) has changed, and is not deleted. Any
        child not deleted here is the garbage collector's, as always.
        """
        meta = owner["metadata"]
        for child in self.cache.controlled_by(meta["uid"]):
            async with self._deleting:
                try:
                    await kube.delete(
                        child["apiVersion"],
                        child["kind"],
                        meta["namespace"],
                        child["metadata"]["name"],
                        resource_version=child["metadata"].get("resourceVersion"),
                    )
                except kube.ApiError as error:  # Conflict: changed since; the GC decides
                    log.debug("left %s to the garbage collector: %s", child["kind"], error)

    def on_child(self, event_type: str | None, obj: dict[str, Any]) -> None:
        self.cache.observe(event_type, obj)
        for owner in owners(obj):
            self.queue.add(owner)

    def _cached(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        return [
            o
            for (ns, _), o in self.cache.items(API_VERSION, kind)
            if ns == namespace and not o["metadata"].get("deletionTimestamp")
        ]

    # -- work -----------------------------------------------------------------------------

    async def _reconcile(self, key: Hashable) -> float | None:
        metrics.QUEUE_DEPTH.set(self.queue.depth())
        metrics.QUEUE_SCHEDULED.set(self.queue.scheduled())
        metrics.CACHED_OBJECTS.set(self.cache.size())
        assert isinstance(key, tuple)
        kind, namespace, name = (str(part) for part in key)
        body = self.cache.peek(API_VERSION, kind, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None  # gone or going: the garbage collector removes its children
        with metrics.reconcile_timer(kind):
            return await RECONCILERS[kind](as_dict(body))

    async def _resync_forever(self) -> None:
        """Every resync period, reconcile everything once, spread over the period."""
        period = self.config.resync_seconds
        while True:
            await asyncio.sleep(period)
            keys = [
                (kind.kind, ns, name)
                for kind in KINDS
                for ns, name in self.cache.keys(API_VERSION, kind.kind)
            ]
            for key in keys:
                self.queue.add(key, after=random.uniform(0, period / 2))
            log.info("resync: %d objects", len(keys))


CONTROLLER: Controller | None = None


def current() -> Controller:
    if CONTROLLER is None:
        raise RuntimeError("the controller has not started")
    return CONTROLLER


@kopf.on.startup()
async def start_controller(**_: Any) -> None:
    global CONTROLLER
    config = OperatorConfig.from_env()
    CONTROLLER = Controller(config)
    if not config.leadership.enabled:
        CONTROLLER.start()  # else the leader election starts it (handlers/leadership.py)


@kopf.on.cleanup()
async def stop_controller(**_: Any) -> None:
    global CONTROLLER
    if CONTROLLER is not None:
        await CONTROLLER.stop()
        CONTROLLER = None


def _register() -> None:
    """One Kopf event handler per watched resource; they only update the cache and queue."""

    async def on_ours(event: kopf.RawEvent, **_: Any) -> None:
        current().on_ours(event.get("type"), dict(event["object"]))

    async def on_child(event: kopf.RawEvent, **_: Any) -> None:
        current().on_child(event.get("type"), dict(event["object"]))

    for kind in KINDS:
        kopf.on.event(GROUP, VERSION, kind.plural, id=f"watch-{kind.singular}")(on_ours)
    for watched in WATCHED.values():
        if watched.api_version == API_VERSION:
            continue
        group, _, version = watched.api_version.rpartition("/")
        plural = Resource(watched.api_version, watched.kind).plural
        labels = {
            key: kopf.PRESENT if value is None else value
            for key, value in selector_labels(watched.selector).items()
        }
        kopf.on.event(group, version, plural, labels=labels, id=f"watch-{watched.kind.lower()}")(
            on_child
        )


_register()
