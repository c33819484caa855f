"""Kopf glue for DriftMonitor: gather, plan, check in a worker thread, carry out, export."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from .. import API_VERSION, GROUP, VERSION, kube, metrics
from ..api.kinds import DRIFT_MONITOR, MODEL_DEPLOYMENT, MODEL_VERSION, TRAINING_JOB
from ..artifacts import Store
from ..config import OperatorConfig
from ..drift.window import CheckOutcome, CheckPlan, run_check
from ..reconcile import driftmonitor as decide
from ..reconcile.decision import Decision
from .common import as_dict, carry_out, forget, lock_for, now

CONFIG = OperatorConfig.from_env()


@kopf.on.create(GROUP, VERSION, DRIFT_MONITOR.plural)
@kopf.on.update(GROUP, VERSION, DRIFT_MONITOR.plural, field="spec")
@kopf.on.resume(GROUP, VERSION, DRIFT_MONITOR.plural)
@kopf.timer(GROUP, VERSION, DRIFT_MONITOR.plural, interval=CONFIG.poll_seconds, initial_delay=1)
async def reconcile_drift_monitor(body: kopf.Body, **_: Any) -> None:
    async with lock_for(body):
        plain = as_dict(body)
        with metrics.reconcile_timer(DRIFT_MONITOR.kind):
            await _reconcile(body, plain)


async def _reconcile(body: kopf.Body, plain: dict[str, Any]) -> None:
    meta = plain["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if not metrics.has_drift_series(namespace, name):
        metrics.initialise_monitor(namespace, name)
        _export_status(namespace, name, plain)  # after a restart: the last check's values
    moment = now()
    observed = await observe(plain)
    decision = Decision()
    failed = decide.decide_retrain_failures(plain, decision, observed.retrains)
    if failed:
        metrics.RETRAIN_FAILURES.labels(namespace, name).inc(len(failed))
    plan = decide.plan_check(plain, observed, CONFIG.store_uri, moment)
    if isinstance(plan, decide.Problem):
        metrics.clear_drift(namespace, name)
        _merge(decision, decide.decide_problem(plain, plan))
        await carry_out(DRIFT_MONITOR, body, plain, decision)
        return
    if not decide.check_due(plain, plan, moment):
        if decision.status or decision.events:
            await carry_out(DRIFT_MONITOR, body, plain, decision)
        return
    outcome = await asyncio.to_thread(_check, plan)
    _merge(decision, decide.decide_check(plain, plan, outcome, moment))
    labels = kube.child_labels(DRIFT_MONITOR.kind, name)
    decide.decide_retrain(
        plain, decision, outcome, observed, kube.owner_reference(plain), labels, moment
    )
    metrics.DRIFT_CHECKS.labels(namespace, name, decide.check_result(outcome)).inc()
    _export(namespace, name, outcome)
    for manifest in decision.create:
        try:
            await kube.create(manifest)
            metrics.RETRAINS_TRIGGERED.labels(namespace, name).inc()
        except kube.Conflict:
            pass  # created before a restart: the deterministic name is the guard
        except kube.ApiError as error:
            decide.retrain_rejected(decision, manifest["metadata"]["name"], error.message)
    decision.create = []
    await carry_out(DRIFT_MONITOR, body, plain, decision)


def _check(plan: CheckPlan) -> CheckOutcome:
    """Runs in a worker thread: Parquet reads and statistics never block the event loop."""
    return run_check(Store(CONFIG.store_uri), plan)


async def observe(body: dict[str, Any]) -> decide.Observed:
    """Read what the monitor depends on; only what its spec needs."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    spec = decide.spec_of(body)
    observed = decide.Observed()
    if spec.target.deployment_ref is not None:
        observed.deployment = await kube.get(
            API_VERSION, MODEL_DEPLOYMENT.kind, namespace, spec.target.deployment_ref.name
        )
        served = decide.serving_version(observed.deployment)
        if served:
            observed.model_version = await kube.get(
                API_VERSION, MODEL_VERSION.kind, namespace, served
            )
        job = decide.source_job_name(observed.model_version)
        if job and decide.needs_source_job(spec):
            observed.source_job = await kube.get(API_VERSION, TRAINING_JOB.kind, namespace, job)
    if spec.target.dataset_ref is not None:
        observed.dataset = await kube.get(
            API_VERSION, "Dataset", namespace, spec.target.dataset_ref.name
        )
    if spec.reference is not None:
        observed.reference = await kube.get(API_VERSION, "Dataset", namespace, spec.reference.name)
    if spec.action.type == "retrain":
        selector = f"{DRIFT_MONITOR.label}={name}"
        owned = await kube.list_objects(API_VERSION, TRAINING_JOB.kind, namespace, selector)
        uid = body["metadata"]["uid"]
        observed.retrains = [
            tj
            for tj in owned
            if any(o.get("uid") == uid for o in tj["metadata"].get("ownerReferences") or [])
        ]
    return observed


def _merge(into: Decision, other: Decision) -> None:
    into.status.update(other.status)
    into.conditions += other.conditions
    into.events += other.events
    into.create += other.create


def _export(namespace: str, name: str, outcome: CheckOutcome) -> None:
    if outcome.report is None:
        metrics.clear_drift(namespace, name)
        return
    metrics.record_drift(
        namespace,
        name,
        [
            metrics.FeatureSeries(f.name, f.test, f.statistic, f.p_value, f.drifted)
            for f in outcome.report.features
        ],
        outcome.report.drift_share,
    )


def _export_status(namespace: str, name: str, body: dict[str, Any]) -> None:
    status = body.get("status") or {}
    features = status.get("features") or []
    if not features:
        return
    metrics.record_drift(
        namespace,
        name,
        [
            metrics.FeatureSeries(
                f["name"], f["test"], float(f["statistic"]), f.get("pValue"), bool(f["drifted"])
            )
            for f in features
        ],
        status.get("driftShare"),
    )


@kopf.on.delete(GROUP, VERSION, DRIFT_MONITOR.plural, optional=True)
async def drift_monitor_deleted(body: kopf.Body, **_: Any) -> None:
    metrics.forget_monitor(body["metadata"]["namespace"], body["metadata"]["name"])
    forget(body)
