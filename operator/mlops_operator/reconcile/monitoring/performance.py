"""Model performance: the check to run beside the drift check (a PerformancePlan) and the
verdict on what it found — realized metrics from predictions joined with ground truth,
the label-free estimate, prediction drift — as status, the PerformanceDegraded condition
and Events. Whether a degraded model is retrained is `retrain.decide_retrain`'s call."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...api.conditions import FALSE, PERFORMANCE_DEGRADED, TRUE, UNKNOWN
from ...api.driftmonitor import Performance, PerformanceStatus, PredictionDrift, WindowWritten
from ...api.modelversion import CLASSIFICATION
from ...artifacts import paths
from ...performance.plan import (
    LOWER_IS_BETTER,
    LabelsSource,
    PerformanceOutcome,
    PerformancePlan,
    WindowTarget,
)
from .. import reasons
from ..conditions import Cond, clip, is_true, replacing, without_nones
from ..decision import Decision
from .observed import Observed, serving_version, spec_of
from .resolve import training_profile
from .verdict import not_ready

FAILURE_REASONS = {
    "samples": reasons.SAMPLES_UNREADABLE,
    "labels": reasons.LABELS_UNREADABLE,
    "reference": reasons.REFERENCE_NOT_FOUND,
    "window": reasons.SAMPLES_UNREADABLE,
}


def metric_of(performance: Performance, task: str) -> str:
    """The metric judged: the spec's, else accuracy for a classifier and rmse for a regressor."""
    if performance.metric:
        return str(performance.metric)
    return "accuracy" if task == CLASSIFICATION else "rmse"


def worse_by(metric: str, value: float, baseline: float) -> float:
    """How much worse `value` is than `baseline` (negative: better), whichever way is better."""
    return value - baseline if metric in LOWER_IS_BETTER else baseline - value


def broken_threshold(
    performance: Performance, metric: str, value: float, training: float | None
) -> str | None:
    """Why `value` counts as degraded, or None when it passes every threshold."""
    limits = performance.thresholds
    if limits.min is not None and value < limits.min:
        return f"below thresholds.min {limits.min:g}"
    if limits.max is not None and value > limits.max:
        return f"above thresholds.max {limits.max:g}"
    if limits.max_drop is not None and training is not None:
        drop = worse_by(metric, value, training)
        if drop > limits.max_drop:
            return (
                f"{drop:.3f} worse than in training ({training:.4g}); "
                f"maxDrop is {limits.max_drop:g}"
            )
    return None


def plan_performance(
    body: dict[str, Any],
    observed: Observed,
    store_root: str,
    now: datetime,
    window: WindowTarget | None = None,
) -> PerformancePlan | None:
    """The performance check of the served version, when spec.performance asks for one."""
    spec = spec_of(body)
    performance = spec.performance
    mv = observed.model_version
    served = serving_version(observed.deployment)
    if performance is None or spec.target.deployment_ref is None or mv is None or not served:
        return None
    namespace = body["metadata"]["namespace"]
    deployment = spec.target.deployment_ref.name
    mv_spec = mv.get("spec") or {}
    task = str(mv_spec.get("task") or CLASSIFICATION)
    reference = training_profile(mv, namespace, store_root)
    labels = performance.labels
    return PerformancePlan(
        namespace=namespace,
        deployment=deployment,
        version=served,
        samples_uri=paths.under(store_root, paths.samples_dir(namespace, deployment, served)),
        labels_uri=paths.under(store_root, paths.labels_dir(namespace, deployment)),
        task="regression" if task != CLASSIFICATION else "classification",
        labels_source=(
            LabelsSource(labels.uri, labels.format, labels.id_column, labels.label_column)
            if labels
            else None
        ),
        since=(
            now - timedelta(seconds=spec.window.duration_seconds)
            if spec.window.duration_seconds
            else None
        ),
        rows=spec.window.rows,
        min_labeled=performance.min_labeled,
        training_metrics={k: float(v) for k, v in (mv_spec.get("metrics") or {}).items()},
        reference_uri=reference if isinstance(reference, str) else None,
        target=target_column(observed),
        write_window=window,
    )


def target_column(observed: Observed) -> str | None:
    """The training data's label column: the served version's lineage says it, else the
    TrainingJob behind it (versions registered before lineage named it)."""
    lineage = ((observed.model_version or {}).get("spec") or {}).get("lineage") or {}
    job = ((observed.source_job or {}).get("spec") or {}).get("target")
    value = lineage.get("target") or job
    return str(value) if value else None


def decide_performance(
    body: dict[str, Any], plan: PerformancePlan, outcome: PerformanceOutcome, decision: Decision
) -> bool | None:
    """Status, the PerformanceDegraded condition and its Events after one check; returns
    whether the model is degraded (None: no verdict — too few labels, or a failure)."""
    spec = spec_of(body)
    assert spec.performance is not None
    metric = metric_of(spec.performance, plan.task)
    training = plan.training_metrics.get(metric)
    realized = outcome.realized.get(metric)
    estimated = outcome.estimated.get(metric)
    drift = outcome.prediction_drift
    written = outcome.window
    new = PerformanceStatus(
        version=plan.version,
        metric=metric,
        realized=_round(realized),
        estimated=_round(estimated),
        training=_round(training),
        labeled=outcome.labeled,
        predictions=outcome.predictions,
        unknown_labels=outcome.unknown_labels,
        realized_metrics={k: round(v, 6) for k, v in outcome.realized.items()},
        estimated_metrics={k: round(v, 6) for k, v in outcome.estimated.items()},
        prediction_drift=(
            PredictionDrift(
                test=drift.test,
                statistic=drift.statistic,
                p_value=drift.p_value,
                drifted=drift.drifted,
            )
            if drift
            else None
        ),
        window=(
            WindowWritten(
                uri=written.uri, train_rows=written.train_rows, holdout_rows=written.holdout_rows
            )
            if written
            else None
        ),
    ).wire()
    # The whole object: a merge patch would keep what the last check found and this one
    # did not (a realized value, a metric), so those keys are written as null.
    old = (body.get("status") or {}).get("performance")
    decision.status["performance"] = replacing(old, without_nones(new))
    was = is_true((body.get("status") or {}).get("conditions"), PERFORMANCE_DEGRADED)
    if outcome.failure is not None:
        reason = FAILURE_REASONS[outcome.failure]
        field = "spec.performance.labels" if outcome.failure == "labels" else "the store"
        message = f"performance check failed ({field}): {outcome.message}"
        decision.conditions.append(Cond(PERFORMANCE_DEGRADED, UNKNOWN, reason, clip(message)))
        not_ready(body, decision, reason, message)
        return None
    estimate = f"; estimated {metric} {estimated:.4f} (label-free)" if estimated is not None else ""
    if realized is None:
        message = (
            f"{outcome.labeled} labeled of {outcome.predictions} predictions of {plan.version}, "
            f"minLabeled is {spec.performance.min_labeled}; no verdict until there are "
            f"enough{estimate}"
        )
        decision.conditions.append(
            Cond(PERFORMANCE_DEGRADED, UNKNOWN, reasons.INSUFFICIENT_LABELS, clip(message))
        )
        return None
    summary = (
        f"{metric} {realized:.4f} on {outcome.labeled} labeled predictions of {plan.version}"
        + (f" (training {training:.4f})" if training is not None else "")
        + estimate
    )
    broken = broken_threshold(spec.performance, metric, realized, training)
    if broken:
        text = f"{summary}: {broken}"
        decision.conditions.append(
            Cond(PERFORMANCE_DEGRADED, TRUE, reasons.PERFORMANCE_DEGRADED, clip(text))
        )
        if not was:
            decision.warn(reasons.PERFORMANCE_DEGRADED, text)
        return True
    decision.conditions.append(Cond(PERFORMANCE_DEGRADED, FALSE, reasons.PERFORMANCE_OK, summary))
    if was:
        decision.note(reasons.PERFORMANCE_RECOVERED, summary)
    return False


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
