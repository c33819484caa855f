"""The store sweep: compaction, retention and garbage collection, one namespace at a time.

Time is the trigger (nothing in the cluster changes when an hour closes or a grace period
ends), so this is the one timer: every `MLOPS_STORE_SWEEP_SECONDS` one sweep of the whole
store, not one per object. Per namespace: gather (a recursive listing of the namespace's part
of the store, in a worker thread; the live objects of every namespace from the API server
itself, not from the watch cache, so nothing referenced can look unreferenced after a
restart), decide (reconcile/storage, pure), carry out (removals and compaction in worker
threads; Events; metrics). A failing store is logged and counted; the next sweep tries
again; reconciles never wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import kopf

from .. import API_VERSION, kube, metrics
from ..api.kinds import DATASET, DRIFT_MONITOR, MODEL_DEPLOYMENT, MODEL_VERSION, TRAINING_JOB
from ..api.labels import MANAGED_BY
from ..config import OperatorConfig, StoreLifecycle
from ..reconcile.storage import gc, retention, sweep
from .common import now

log = logging.getLogger(__name__)
CONFIG = OperatorConfig.from_env()
FIRST_SWEEP_SECONDS = 60.0  # after start: let the operator settle first
BATCH_PREDICTION = "BatchPrediction"
MANAGED_BY_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
KINDS = (DATASET.kind, TRAINING_JOB.kind, MODEL_VERSION.kind, MODEL_DEPLOYMENT.kind,
         DRIFT_MONITOR.kind, BATCH_PREDICTION)  # fmt: skip


@dataclass
class NamespaceSweep:
    plan: sweep.SweepPlan
    removed: list[str]
    compacted: int
    report: str


def settings_of(lifecycle: StoreLifecycle) -> sweep.Settings:
    return sweep.Settings(
        grace=timedelta(seconds=lifecycle.gc_grace_seconds),
        default_limits=retention.Limits(lifecycle.max_age_hours, lifecycle.max_size_mib),
        gc=lifecycle.gc,
        dry_run=lifecycle.gc_dry_run,
    )


async def _list(api_version: str, kind: str, namespaces: list[str] | None,
                selector: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Cluster-wide, or namespace by namespace (a namespaced install may list no more)."""
    if namespaces is None:
        return await kube.list_fresh(api_version, kind, None, selector)
    out: list[dict[str, Any]] = []
    for namespace in namespaces:
        out.extend(await kube.list_fresh(api_version, kind, namespace, selector))
    return out


async def live_objects(
    namespaces: list[str],
) -> tuple[list[dict[str, Any]], dict[str, list[str]], list[str]]:
    """Every object of the operator's kinds, the names of its Jobs per namespace, and the
    namespaces whose objects could all be read (the only ones swept: what cannot be seen
    might be referenced). Cluster-wide when RBAC allows, else per namespace."""
    scope: list[str] | None = None
    try:
        await kube.list_fresh(API_VERSION, DATASET.kind, None)
    except kube.ApiError as error:
        if error.status != 403:
            raise
        scope = []
        for namespace in namespaces:
            try:
                await kube.list_fresh(API_VERSION, DATASET.kind, namespace)
                scope.append(namespace)
            except kube.ApiError as inner:
                if inner.status != 403:
                    raise
    objects: list[dict[str, Any]] = []
    for kind in KINDS:
        try:
            objects.extend(await _list(API_VERSION, kind, scope))
        except kube.ApiError as error:
            if kind == BATCH_PREDICTION and error.status == 404:
                continue  # an older CRD set without the kind
            raise
    jobs: dict[str, list[str]] = {}
    for job in await _list("batch/v1", "Job", scope, MANAGED_BY_SELECTOR):
        meta = job["metadata"]
        jobs.setdefault(meta["namespace"], []).append(meta["name"])
    return objects, jobs, namespaces if scope is None else scope


async def sweep_store(
    lifecycle: StoreLifecycle, store_uri: str, moment: datetime | None = None
) -> list[NamespaceSweep]:
    """One sweep of the whole store; returns what it did per namespace."""
    from ..artifacts import Store
    from ..artifacts.lifecycle import inventory

    moment = moment or now()
    store = Store(store_uri)
    found = await asyncio.to_thread(inventory.namespaces, store)
    objects, jobs, visible = await live_objects(found)
    settings = settings_of(lifecycle)
    done = []
    for namespace in visible:
        done.append(
            await sweep_namespace(
                store, namespace, objects, jobs.get(namespace, []), moment, settings, lifecycle
            )
        )
    usage = await asyncio.to_thread(store.usage)
    if usage is not None:
        metrics.STORE_VOLUME_BYTES.labels("used").set(usage[0])
        metrics.STORE_VOLUME_BYTES.labels("capacity").set(usage[1])
    return done


async def sweep_namespace(
    store: Any,
    namespace: str,
    objects: list[dict[str, Any]],
    jobs: list[str],
    moment: datetime,
    settings: sweep.Settings,
    lifecycle: StoreLifecycle,
) -> NamespaceSweep:
    from ..artifacts.lifecycle import compaction, inventory

    listed = await asyncio.to_thread(inventory.files_of, store, namespace)
    files = [gc.FileRef(f.name, f.size, f.modified) for f in listed]
    refs = gc.references(namespace, objects, jobs, store.root)
    deployments = [
        o for o in objects
        if o.get("kind") == MODEL_DEPLOYMENT.kind and o["metadata"]["namespace"] == namespace
    ]  # fmt: skip
    plan = sweep.decide(namespace, files, refs, deployments, moment, settings)
    removed = await asyncio.to_thread(inventory.remove, store, plan.removals())
    grace = timedelta(seconds=lifecycle.compaction_grace_seconds)
    compacted = 0
    for base in plan.compact:
        result = await asyncio.to_thread(compaction.compact_base, store, base, moment, grace=grace)
        compacted += result.sources
        kind = gc.SAMPLES if base.startswith("samples/") else gc.LABELS
        freed = result.bytes_removed - result.bytes_written
        _count_removed(namespace, kind, "compaction", len(result.removed), freed)
    if compacted:
        metrics.STORE_COMPACTED_FILES.labels(namespace).inc(compacted)
    _export(plan)
    await _post(namespace, deployments, plan)
    report = gc.report(namespace, plan.choices, dry_run=plan.dry_run)
    log.info("store sweep of %s:\n%s", namespace, report)
    return NamespaceSweep(plan, removed, compacted, report)


def _count_removed(namespace: str, kind: str, cause: str, objects: int, freed: int) -> None:
    if objects:
        metrics.STORE_REMOVED_OBJECTS.labels(namespace, kind, cause).inc(objects)
    if freed > 0:
        metrics.STORE_FREED_BYTES.labels(namespace, kind, cause).inc(freed)


def _export(plan: sweep.SweepPlan) -> None:
    ns = plan.namespace
    for kind in gc.KINDS:
        size, count = plan.usage.get(kind, (0, 0))
        metrics.STORE_BYTES.labels(ns, kind).set(size)
        metrics.STORE_OBJECTS.labels(ns, kind).set(count)
    pending: dict[str, int] = {}
    for entry in plan.gc_removals():
        if plan.dry_run:
            pending[entry.kind] = pending.get(entry.kind, 0) + entry.bytes
        else:
            _count_removed(ns, entry.kind, "gc", entry.objects, entry.bytes)
    for kind in gc.KINDS:
        metrics.STORE_GC_PENDING_BYTES.labels(ns, kind).set(pending.get(kind, 0))
    if not plan.dry_run:
        for name, parts in plan.expired.items():
            for part in parts:
                kind = gc.SAMPLES if part.path.startswith("samples/") else gc.LABELS
                _count_removed(ns, kind, "retention", part.objects, part.bytes)
            del name


async def _post(namespace: str, deployments: list[dict[str, Any]], plan: sweep.SweepPlan) -> None:
    by_name = {d["metadata"]["name"]: d for d in deployments}
    for notice in plan.notices:
        if notice.deployment is not None and notice.deployment in by_name:
            body = by_name[notice.deployment]
        else:
            body = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace, "namespace": namespace}}  # fmt: skip
        await kube.event(body, "Normal", notice.reason, notice.message)


_task: asyncio.Task[None] | None = None


async def _forever(lifecycle: StoreLifecycle, store_uri: str) -> None:
    await asyncio.sleep(min(FIRST_SWEEP_SECONDS, lifecycle.sweep_seconds))
    while True:
        try:
            await sweep_store(lifecycle, store_uri)
            metrics.STORE_SWEEPS.labels("ok").inc()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A failing store or API server: counted and logged; the next sweep tries again.
            log.exception("store sweep failed")
            metrics.STORE_SWEEPS.labels("error").inc()
        await asyncio.sleep(lifecycle.sweep_seconds)


@kopf.on.startup()
async def start_sweeper(**_: Any) -> None:
    config = OperatorConfig.from_env()
    if not config.leadership.enabled:
        start_sweeping(config)  # else the leader election starts it (handlers/leadership.py)


def start_sweeping(config: OperatorConfig) -> None:
    global _task
    if config.lifecycle.sweep_seconds > 0 and _task is None:
        _task = asyncio.create_task(_forever(config.lifecycle, config.store_uri), name="sweep")


@kopf.on.cleanup()
async def stop_sweeper(**_: Any) -> None:
    await stop_sweeping()


async def stop_sweeping() -> None:
    global _task
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _task
        _task = None
