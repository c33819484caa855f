"""DriftMonitor glue: gather (and run a due check in a worker thread), decide, carry out,
export the series. No decisions here: they are all in reconcile/driftmonitor.py."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import API_VERSION, kube, metrics
from ..api.conditions import PERFORMANCE_DEGRADED
from ..api.kinds import DATASET, DRIFT_MONITOR, MODEL_DEPLOYMENT, MODEL_VERSION, TRAINING_JOB
from ..config import OperatorConfig
from ..drift.plan import CheckOutcome, CheckPlan
from ..performance.plan import PerformanceOutcome, PerformancePlan
from ..reconcile import confinement
from ..reconcile import driftmonitor as decide
from ..reconcile.conditions import condition_value
from ..reconcile.storage.retention import Limits, limits

if TYPE_CHECKING:
    from ..drift.check import DriftReport
from .common import carry_out, now

CONFIG = OperatorConfig.from_env()


async def reconcile(plain: dict[str, Any]) -> float | None:
    """One reconcile of a DriftMonitor (a plain body); returns when to look again."""
    meta = plain["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if not metrics.has_drift_series(namespace, name):
        metrics.initialise_monitor(namespace, name)
        _restore_series(namespace, name, plain)  # after a restart: the last check's values
    moment = now()
    observed = await observe(plain, moment)
    decision = decide.decide(plain, observed, moment, CONFIG.store_uri)
    try:
        await carry_out(DRIFT_MONITOR, plain, decision)
    except kube.ApiError as error:
        if not decision.create or isinstance(error, kube.Conflict):
            raise
        # The retrain TrainingJob was refused (creating it is the first step of carry_out).
        decision = decide.retrain_rejected(decision, error.message)
        await carry_out(DRIFT_MONITOR, plain, decision)
    _export(namespace, name, decision)
    return decision.requeue_after


def forget(namespace: str, name: str) -> None:
    """The DriftMonitor is gone: drop its series."""
    metrics.forget_monitor(namespace, name)


def _check(plan: CheckPlan) -> CheckOutcome:
    """Runs in a worker thread: Parquet reads and statistics never block the event loop.

    The statistics (numpy, scipy, pyarrow) are imported here, on the first check: an operator
    with no DriftMonitor never loads them.
    """
    from ..artifacts import Store
    from ..drift.window import run_check

    return run_check(Store(CONFIG.store_uri), plan)


def _performance_check(plan: PerformancePlan) -> PerformanceOutcome:
    """Runs in a worker thread, like `_check` (scikit-learn's metrics load on the first)."""
    from ..artifacts import Store
    from ..performance.window import run_performance_check

    return run_performance_check(Store(CONFIG.store_uri), plan)


def _escape(
    namespace: str, plan: CheckPlan, performance: PerformancePlan | None
) -> confinement.Refusal | None:
    """A file the check would read that links out of the namespace's part of the store."""
    from ..artifacts.symlinks import escape

    roots = confinement.namespace_roots(CONFIG.store_uri, namespace)
    reads = [("the reference profile", plan.reference_uri), ("the samples", plan.source_uri)]
    if performance is not None:
        reads.append(("the labels", performance.labels_uri))
        if performance.labels_source is not None:
            reads.append(("spec.performance.labels.uri", performance.labels_source.uri))
    for field, uri in reads:
        found = escape(uri, roots)
        if found is not None:
            return confinement.escaped(field, found, namespace)
    return None


async def observe(body: dict[str, Any], moment: datetime) -> decide.Observed:
    """Read what the monitor depends on (only what its spec needs); run a due check."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    spec = decide.spec_of(body)
    observed = decide.Observed()
    if spec.target.deployment_ref is not None:
        observed.deployment = await kube.get(
            API_VERSION, MODEL_DEPLOYMENT.kind, namespace, spec.target.deployment_ref.name
        )
        observed.retention = limits(
            observed.deployment,
            Limits(CONFIG.lifecycle.max_age_hours, CONFIG.lifecycle.max_size_mib),
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
            API_VERSION, DATASET.kind, namespace, spec.target.dataset_ref.name
        )
    if spec.reference is not None:
        observed.reference = await kube.get(
            API_VERSION, DATASET.kind, namespace, spec.reference.name
        )
    if spec.action.type == "retrain":
        selector = f"{DRIFT_MONITOR.label}={name}"
        labelled = await kube.list_objects(API_VERSION, TRAINING_JOB.kind, namespace, selector)
        observed.retrains = decide.owned_retrains(body, labelled)
        chosen = decide.retrain_spec(spec, observed.source_job)
        if chosen is not None and spec.action.production_data != "none":
            observed.retrain_dataset = await kube.get(
                API_VERSION, DATASET.kind, namespace, chosen["datasetRef"]["name"]
            )
    plans = decide.check_to_run(body, observed, moment, CONFIG.store_uri)
    if plans is not None:
        plan, performance = plans
        observed.escape = await asyncio.to_thread(_escape, namespace, plan, performance)
    if plans is not None and observed.escape is None:
        plan, performance = plans
        observed.check = decide.Check(plan, await asyncio.to_thread(_check, plan))
        if performance is not None:
            outcome = await asyncio.to_thread(_performance_check, performance)
            observed.performance = decide.PerformanceCheck(performance, outcome)
    return observed


def _export(namespace: str, name: str, decision: decide.MonitorDecision) -> None:
    if decision.failed_retrains:
        metrics.RETRAIN_FAILURES.labels(namespace, name).inc(len(decision.failed_retrains))
    if decision.check_result is not None:
        metrics.DRIFT_CHECKS.labels(namespace, name, decision.check_result).inc()
    if decision.create:
        metrics.RETRAINS_TRIGGERED.labels(namespace, name).inc(len(decision.create))
    if decision.drift is not None:
        _record(namespace, name, decision.drift)
    elif decision.clear_drift:
        metrics.clear_drift(namespace, name)
    if decision.performance is not None and decision.performance_version:
        outcome = decision.performance
        metrics.record_performance(
            namespace,
            name,
            decision.performance_version,
            realized=outcome.realized,
            estimated=outcome.estimated,
            labeled=outcome.labeled,
            degraded=decision.degraded,
        )


def _record(namespace: str, name: str, report: DriftReport) -> None:
    metrics.record_drift(
        namespace,
        name,
        [
            metrics.FeatureSeries(f.name, f.test, f.statistic, f.p_value, f.drifted)
            for f in report.features
        ],
        report.drift_share,
    )


def _restore_series(namespace: str, name: str, body: dict[str, Any]) -> None:
    status = body.get("status") or {}
    performance = status.get("performance") or {}
    if performance.get("version"):
        metrics.record_performance(
            namespace,
            name,
            performance["version"],
            realized=performance.get("realizedMetrics") or {},
            estimated=performance.get("estimatedMetrics") or {},
            labeled=int(performance.get("labeled") or 0),
            degraded=condition_value(status.get("conditions"), PERFORMANCE_DEGRADED),
        )
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
