"""DriftMonitor: resolve what to compare, decide when to check, judge the result, retrain.

Pure: the caller gathers the objects (`Observed`), runs the check (`drift.window.run_check`)
in a worker thread and carries out the Decision. The clock is an argument.

Retrains are level-triggered: the count and the time of the last one come from both the
status and the TrainingJobs this monitor owns (deterministic names `<monitor>-retrain-<n>`),
so a restart between creating a TrainingJob and writing the status never makes a second one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..api.driftmonitor import DriftMonitor, DriftMonitorSpec, FeatureDrift, RetrainRecord
from ..artifacts import paths
from ..drift.window import CheckOutcome, CheckPlan
from . import reasons
from .conditions import Cond, Status, condition, is_true, parse_time, rfc3339
from .dataset import version_entry
from .decision import Decision

READY = "Ready"
DRIFTED = reasons.DRIFTED
FINISHED = ("Succeeded", "Failed")
MAX_NAME = 63


@dataclass(frozen=True)
class Problem:
    """Why no check can run now: Ready=`ready` with this reason; Drifted=Unknown."""

    reason: str
    message: str
    ready: bool = False


@dataclass
class Observed:
    """The objects a monitor depends on, as read from the API server (None: absent)."""

    deployment: dict[str, Any] | None = None
    model_version: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None  # the target Dataset (datasetRef)
    reference: dict[str, Any] | None = None  # the Dataset named by spec.reference
    source_job: dict[str, Any] | None = None  # the TrainingJob that trained the served version
    retrains: list[dict[str, Any]] = field(default_factory=list)  # TrainingJobs we created


def spec_of(body: dict[str, Any]) -> DriftMonitorSpec:
    return DriftMonitor.model_validate({"spec": body["spec"]}).spec


# --- what to read -------------------------------------------------------------------------


def serving_version(deployment: dict[str, Any] | None) -> str | None:
    """The ModelVersion name the ModelDeployment serves now (status.servingVersion)."""
    value = ((deployment or {}).get("status") or {}).get("servingVersion")
    return str(value) if value else None


def lineage(model_version: dict[str, Any] | None) -> dict[str, Any]:
    return dict(((model_version or {}).get("spec") or {}).get("lineage") or {})


def source_job_name(model_version: dict[str, Any] | None) -> str | None:
    name = lineage(model_version).get("trainingJob")
    return str(name) if name else None


def needs_source_job(spec: DriftMonitorSpec) -> bool:
    return spec.action.type == "retrain" and spec.action.training_job_template is None


# --- resolving target and reference --------------------------------------------------------


def _store_uri(store_root: str, path: str) -> str:
    return f"{store_root.rstrip('/')}/{path}"


def _reference_entry(
    spec: DriftMonitorSpec, dataset: dict[str, Any] | None, exclude: str | None = None
) -> tuple[dict[str, Any] | None, Problem | None]:
    """The history entry of spec.reference (pinned, else current; `exclude` skips a version)."""
    ref = spec.reference
    assert ref is not None
    if dataset is None:
        return None, Problem(reasons.REFERENCE_NOT_FOUND, f"reference Dataset {ref.name} not found")
    if ref.version:
        entry = version_entry(dataset, ref.version)
        if entry is None:
            return None, Problem(
                reasons.DATASET_VERSION_NOT_FOUND,
                f"reference Dataset {ref.name} has no (unique) version {ref.version}",
            )
        return entry, None
    entry = version_entry(dataset, None)
    if entry is not None and entry.get("version") == exclude:
        entry = previous_entry(dataset)
        if entry is None:
            return None, Problem(
                reasons.NO_PREVIOUS_VERSION,
                f"Dataset {ref.name} has one version only; waiting for a second to compare",
                ready=True,
            )
    if entry is None:
        return None, Problem(
            reasons.REFERENCE_NOT_READY, f"reference Dataset {ref.name} has no version yet"
        )
    return entry, None


def previous_entry(dataset: dict[str, Any]) -> dict[str, Any] | None:
    """The version before the current one (history is newest first)."""
    status = dataset.get("status") or {}
    history = list(status.get("history") or [])
    current = status.get("version")
    for i, entry in enumerate(history):
        if entry.get("version") == current:
            return history[i + 1] if i + 1 < len(history) else None
    return None


def _thresholds(spec: DriftMonitorSpec) -> dict[str, Any]:
    return {
        "numeric_test": spec.tests.numeric,
        "categorical_test": spec.tests.categorical,
        "p_value": spec.thresholds.p_value,
        "distance": spec.thresholds.distance,
        "psi": spec.thresholds.psi,
        "drift_share": spec.thresholds.drift_share,
        "correction": spec.correction,
        "min_samples": spec.min_samples,
    }


def plan_check(
    body: dict[str, Any], observed: Observed, store_root: str, now: datetime
) -> CheckPlan | Problem:
    """What to compare with what, or why that cannot be known now."""
    spec = spec_of(body)
    namespace = body["metadata"]["namespace"]
    if spec.target.dataset_ref is not None:
        return _plan_dataset(spec, observed, now)
    assert spec.target.deployment_ref is not None
    name = spec.target.deployment_ref.name
    if observed.deployment is None:
        return Problem(reasons.DEPLOYMENT_NOT_FOUND, f"ModelDeployment {name} not found")
    served = serving_version(observed.deployment)
    if served is None:
        return Problem(reasons.NOT_SERVING, f"ModelDeployment {name} serves no ModelVersion yet")
    try:
        samples = _store_uri(store_root, paths.samples_dir(namespace, name, served))
    except ValueError as err:
        return Problem(reasons.NOT_SERVING, f"servingVersion {served!r}: {err}")
    mv = observed.model_version
    if spec.reference is not None:
        entry, problem = _reference_entry(spec, observed.reference)
        if problem:
            return problem
        reference_uri = str(entry["profileUri"])  # type: ignore[index]
    else:
        if mv is None:
            return Problem(
                reasons.MODEL_VERSION_NOT_FOUND,
                f"ModelVersion {served} (served by {name}) not found",
            )
        found = training_profile(mv, namespace, store_root)
        if isinstance(found, Problem):
            return found
        reference_uri = found
    features = spec.features
    if features is None and mv is not None:
        inputs = [t["name"] for t in (mv.get("spec") or {}).get("signature", {}).get("inputs", [])]
        features = inputs or None
    return CheckPlan(
        reference_uri=reference_uri,
        source_uri=samples,
        source="samples",
        rows=spec.window.rows,
        since=(
            now - timedelta(seconds=spec.window.duration_seconds)
            if spec.window.duration_seconds
            else None
        ),
        features=tuple(features) if features else None,
        **_thresholds(spec),
    )


def training_profile(mv: dict[str, Any], namespace: str, store_root: str) -> str | Problem:
    """The reference profile of the data the ModelVersion was trained on."""
    found = lineage(mv)
    name = mv["metadata"]["name"]
    if found.get("profileUri"):
        return str(found["profileUri"])
    dataset = found.get("dataset") or {}
    if dataset.get("name") and dataset.get("version"):
        try:
            path = paths.dataset_profile(namespace, dataset["name"], dataset["version"])
        except ValueError as err:
            return Problem(reasons.REFERENCE_NOT_FOUND, f"ModelVersion {name} lineage: {err}")
        return _store_uri(store_root, path)
    return Problem(
        reasons.REFERENCE_NOT_FOUND,
        f"ModelVersion {name} has no training lineage (dataset); set spec.reference",
    )


def _plan_dataset(spec: DriftMonitorSpec, observed: Observed, now: datetime) -> CheckPlan | Problem:
    assert spec.target.dataset_ref is not None
    name = spec.target.dataset_ref.name
    if observed.dataset is None:
        return Problem(reasons.DATASET_NOT_FOUND, f"Dataset {name} not found")
    current = version_entry(observed.dataset, None)
    if current is None:
        return Problem(reasons.DATASET_NOT_READY, f"Dataset {name} has no version yet")
    if spec.reference is not None:
        same = spec.reference.name == name
        reference_ds = observed.dataset if same else observed.reference
        entry, problem = _reference_entry(
            spec, reference_ds, exclude=current["version"] if same else None
        )
        if problem:
            return problem
    else:
        entry = previous_entry(observed.dataset)
        if entry is None:
            return Problem(
                reasons.NO_PREVIOUS_VERSION,
                f"Dataset {name} has one version only; waiting for a second to compare",
                ready=True,
            )
    return CheckPlan(
        reference_uri=str(entry["profileUri"]),  # type: ignore[index]
        source_uri=str(current["snapshotUri"]),
        source="snapshot",
        rows=None,
        since=None,
        features=tuple(spec.features) if spec.features else None,
        **_thresholds(spec),
    )


# --- when to check -------------------------------------------------------------------------


def check_due(body: dict[str, Any], plan: CheckPlan, now: datetime) -> bool:
    """A new spec, a new source or reference, or `intervalSeconds` since the last check."""
    status = body.get("status") or {}
    generation = body["metadata"].get("generation") or 1
    if status.get("observedGeneration") != generation:
        return True
    if (
        status.get("sourceUri") != plan.source_uri
        or status.get("referenceUri") != plan.reference_uri
    ):
        return True
    last = parse_time(status.get("lastCheckTime"))
    if last is None:
        return True
    return now - last >= timedelta(seconds=spec_of(body).interval_seconds)


def next_check_in(body: dict[str, Any], now: datetime) -> float:
    last = parse_time((body.get("status") or {}).get("lastCheckTime"))
    if last is None:
        return 0.0
    due = last + timedelta(seconds=spec_of(body).interval_seconds)
    return max(0.0, (due - now).total_seconds())


# --- judging a check -----------------------------------------------------------------------


def _reason_changed(body: dict[str, Any], type_: str, status: str, reason: str) -> bool:
    old = condition((body.get("status") or {}).get("conditions"), type_)
    return not old or old.get("status") != status or old.get("reason") != reason


def decide_problem(body: dict[str, Any], problem: Problem) -> Decision:
    """No check possible: say why (an Event only when the reason is new); retried on the timer."""
    decision = Decision()
    ready: Status = "True" if problem.ready else "False"
    decision.conditions += [
        Cond(READY, ready, problem.reason, problem.message),
        Cond(DRIFTED, "Unknown", problem.reason, problem.message),
    ]
    decision.status.update(features=[], driftShare=None)
    if _reason_changed(body, READY, ready, problem.reason):
        if problem.ready:
            decision.note(problem.reason, problem.message)
        else:
            decision.warn(problem.reason, problem.message)
    return decision


FAILURE_REASONS = {
    "reference": reasons.REFERENCE_NOT_FOUND,
    "window": reasons.SAMPLES_UNREADABLE,
    "features": reasons.FEATURES_NOT_FOUND,
}


def check_result(outcome: CheckOutcome) -> str:
    """The `result` label of mlops_drift_checks_total."""
    if outcome.failure is not None:
        return "error"
    if outcome.report is None:
        return "insufficient"
    return "drift" if outcome.report.dataset_drifted else "no_drift"


def decide_check(
    body: dict[str, Any], plan: CheckPlan, outcome: CheckOutcome, now: datetime
) -> Decision:
    """Status, conditions and Events after one check (retraining is `decide_retrain`)."""
    spec = spec_of(body)
    decision = Decision()
    decision.status.update(
        lastCheckTime=rfc3339(now),
        samples=outcome.samples,
        referenceUri=plan.reference_uri,
        sourceUri=plan.source_uri,
    )
    if outcome.failure is not None:
        reason = FAILURE_REASONS[outcome.failure]
        decision.status.update(features=[], driftShare=None)
        decision.conditions += [
            Cond(READY, "False", reason, outcome.message[:2048]),
            Cond(DRIFTED, "Unknown", reason, outcome.message[:2048]),
        ]
        if _reason_changed(body, READY, "False", reason):
            decision.warn(reason, outcome.message)
        return decision
    if outcome.report is None:
        message = (
            f"{outcome.samples} samples in the window, minSamples is {spec.min_samples}; "
            "no verdict until there are enough"
        )
        decision.status.update(features=[], driftShare=None)
        decision.conditions += [
            Cond(READY, "True", reasons.INSUFFICIENT_SAMPLES, message),
            Cond(DRIFTED, "Unknown", reasons.INSUFFICIENT_SAMPLES, message),
        ]
        return decision
    report = outcome.report
    drifted = [f.name for f in report.features if f.drifted]
    decision.status.update(
        features=[
            FeatureDrift(
                name=f.name,
                test=f.test,
                statistic=f.statistic,
                p_value=f.p_value,
                drifted=f.drifted,
            ).wire()
            for f in report.features
        ],
        driftShare=round(report.drift_share, 6),
    )
    summary = (
        f"{len(drifted)} of {len(report.features)} features drifted "
        f"(share {report.drift_share:.2f}, threshold {spec.thresholds.drift_share:.2f}) "
        f"in {outcome.samples} samples" + (f": {', '.join(drifted[:20])}" if drifted else "")
    )
    decision.conditions.append(
        Cond(READY, "True", reasons.CHECKED, f"checked {outcome.samples} samples")
    )
    was_drifted = is_true((body.get("status") or {}).get("conditions"), DRIFTED)
    if report.dataset_drifted:
        decision.conditions.append(Cond(DRIFTED, "True", reasons.DRIFT_DETECTED, summary))
        if not was_drifted:
            decision.warn(reasons.DRIFT_DETECTED, summary)
    else:
        decision.conditions.append(Cond(DRIFTED, "False", reasons.NO_DRIFT, summary))
        if was_drifted:
            decision.note(reasons.DRIFT_RESOLVED, summary)
    return decision


# --- retraining ----------------------------------------------------------------------------


def retrain_name(monitor: str, n: int) -> str:
    tail = f"-retrain-{n}"
    return monitor[: MAX_NAME - len(tail)].rstrip("-") + tail


def retrains_so_far(body: dict[str, Any], retrains: list[dict[str, Any]]) -> int:
    status = body.get("status") or {}
    return max(int(status.get("retrainsTriggered") or 0), len(retrains))


def last_retrain_at(body: dict[str, Any], retrains: list[dict[str, Any]]) -> datetime | None:
    record = (body.get("status") or {}).get("lastRetrain") or {}
    moments = [parse_time(record.get("at"))]
    moments += [parse_time((tj.get("metadata") or {}).get("creationTimestamp")) for tj in retrains]
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def retrain_spec(
    spec: DriftMonitorSpec, source_job: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The TrainingJob spec to run: the template, else a copy of the one behind the served
    version; the Dataset version is unpinned so it trains on the newest one."""
    if spec.action.training_job_template is not None:
        chosen = spec.action.training_job_template.wire()
    elif source_job is not None:
        chosen = copy.deepcopy(dict(source_job.get("spec") or {}))
    else:
        return None
    chosen["datasetRef"] = {"name": chosen["datasetRef"]["name"]}
    return chosen


def retrain_manifest(
    body: dict[str, Any],
    n: int,
    spec: dict[str, Any],
    owner: dict[str, Any],
    labels: dict[str, str],
) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {
            "name": retrain_name(body["metadata"]["name"], n),
            "namespace": body["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


def decide_retrain(
    body: dict[str, Any],
    decision: Decision,
    outcome: CheckOutcome,
    observed: Observed,
    owner: dict[str, Any],
    labels: dict[str, str],
    now: datetime,
) -> Decision:
    """On dataset drift with action retrain: one TrainingJob, unless capped, cooling down or
    one is still running. Adds to `decision`."""
    spec = spec_of(body)
    if spec.action.type != "retrain" or outcome.report is None:
        return decision
    if not outcome.report.dataset_drifted:
        return decision
    done = retrains_so_far(body, observed.retrains)
    held = _retrain_held(spec, observed, done, last_retrain_at(body, observed.retrains), now)
    if held:
        _append_to_drifted(decision, f"; no retrain: {held}")
        return decision
    chosen = retrain_spec(spec, observed.source_job)
    if chosen is None:
        message = (
            "drift detected but there is nothing to retrain: the served ModelVersion names no "
            "TrainingJob that still exists; set spec.action.trainingJobTemplate"
        )
        decision.conditions = [c for c in decision.conditions if c.type != READY]
        decision.conditions.append(Cond(READY, "False", reasons.RETRAIN_SOURCE_NOT_FOUND, message))
        if _reason_changed(body, READY, "False", reasons.RETRAIN_SOURCE_NOT_FOUND):
            decision.warn(reasons.RETRAIN_SOURCE_NOT_FOUND, message)
        return decision
    n = done + 1
    manifest = retrain_manifest(body, n, chosen, owner, labels)
    name = manifest["metadata"]["name"]
    decision.create.append(manifest)
    decision.status.update(
        retrainsTriggered=n,
        lastRetrain=RetrainRecord(training_job=name, at=rfc3339(now)).wire(),
    )
    _append_to_drifted(decision, f"; retraining with TrainingJob {name}")
    decision.note(
        reasons.RETRAIN_TRIGGERED,
        f"TrainingJob {name} created (retrain {n} of {spec.action.max_retrains})",
    )
    return decision


def _retrain_held(
    spec: DriftMonitorSpec,
    observed: Observed,
    done: int,
    last: datetime | None,
    now: datetime,
) -> str | None:
    if done >= spec.action.max_retrains:
        return f"maxRetrains ({spec.action.max_retrains}) reached"
    running = [
        tj["metadata"]["name"]
        for tj in observed.retrains
        if (tj.get("status") or {}).get("phase") not in FINISHED
    ]
    if running:
        return f"TrainingJob {running[0]} is still running"
    if last is not None and now - last < timedelta(seconds=spec.action.cooldown_seconds):
        until = last + timedelta(seconds=spec.action.cooldown_seconds)
        return f"cooling down until {rfc3339(until)}"
    return None


def _append_to_drifted(decision: Decision, text: str) -> None:
    decision.conditions = [
        Cond(c.type, c.status, c.reason, (c.message + text)[:2048]) if c.type == DRIFTED else c
        for c in decision.conditions
    ]


def new_retrain_failures(body: dict[str, Any], retrains: list[dict[str, Any]]) -> list[str]:
    """Retrain TrainingJobs that ended Failed since the status last recorded them."""
    seen = set((body.get("status") or {}).get("failedRetrains") or [])
    return sorted(
        tj["metadata"]["name"]
        for tj in retrains
        if (tj.get("status") or {}).get("phase") == "Failed" and tj["metadata"]["name"] not in seen
    )


def decide_retrain_failures(
    body: dict[str, Any], decision: Decision, retrains: list[dict[str, Any]]
) -> list[str]:
    """Record newly failed retrains in the status (with a Warning); returns their names."""
    failed = new_retrain_failures(body, retrains)
    if failed:
        seen = list((body.get("status") or {}).get("failedRetrains") or [])
        decision.status["failedRetrains"] = (seen + failed)[-100:]
        for name in failed:
            decision.warn(reasons.RETRAIN_FAILED, f"retrain TrainingJob {name} failed")
    return failed


def retrain_rejected(decision: Decision, name: str, message: str) -> Decision:
    """The API server refused the retrain TrainingJob: nothing was created, say why."""
    decision.status.pop("retrainsTriggered", None)
    decision.status.pop("lastRetrain", None)
    text = f"retrain TrainingJob {name} was refused: {message}"[:2048]
    decision.conditions = [c for c in decision.conditions if c.type != READY]
    decision.conditions.append(Cond(READY, "False", reasons.RETRAIN_FAILED, text))
    decision.events = [e for e in decision.events if e.reason != reasons.RETRAIN_TRIGGERED]
    decision.warn(reasons.RETRAIN_FAILED, text)
    return decision
