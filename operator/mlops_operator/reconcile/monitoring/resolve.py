"""What to compare with what: the target's window and the reference profile, as a CheckPlan,
or the Problem that stops a check."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...api.driftmonitor import DriftMonitorSpec
from ...artifacts import paths
from ...drift.plan import CheckPlan
from .. import confinement, reasons
from ..dataset import version_entry
from .observed import Observed, Problem, lineage, serving_version, spec_of


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
            return None, _one_version_only(ref.name)
    if entry is None:
        return None, Problem(
            reasons.REFERENCE_NOT_READY, f"reference Dataset {ref.name} has no version yet"
        )
    return entry, None


def _one_version_only(name: str) -> Problem:
    return Problem(
        reasons.NO_PREVIOUS_VERSION,
        f"Dataset {name} has one version only; waiting for a second to compare",
        ready=True,
    )


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
    """What to compare with what, or why that cannot be known now. Everything the check reads
    must be in the monitor's namespace's part of the store (reconcile/confinement.py): the
    labels source, the reference profile (a ModelVersion's lineage.profileUri is its
    author's to write) and the data checked; else the Problem names the field."""
    namespace = body["metadata"]["namespace"]
    rules = confinement.Rules(store_root, operator_s3_credentials=store_root.startswith("s3://"))
    refusal = confinement.monitor_refusal(body.get("spec") or {}, namespace, rules)
    if refusal is not None:
        return Problem(refusal.reason, refusal.message)
    if observed.escape is not None:
        return Problem(observed.escape.reason, observed.escape.message)
    plan = _plan_check(body, observed, store_root, now)
    if isinstance(plan, Problem):
        return plan
    spec = spec_of(body)
    if spec.reference is not None:
        reference = f"spec.reference: Dataset {spec.reference.name} profileUri"
    elif spec.target.dataset_ref is not None:
        reference = f"spec.target.datasetRef: Dataset {spec.target.dataset_ref.name} profileUri"
    else:
        served = serving_version(observed.deployment)
        reference = f"spec.target.deploymentRef: ModelVersion {served} spec.lineage.profileUri"
    refusal = confinement.first(
        [
            confinement.read_refusal(reference, plan.reference_uri, namespace, store_root),
            confinement.read_refusal("the data checked", plan.source_uri, namespace, store_root),
        ]
    )
    return plan if refusal is None else Problem(refusal.reason, refusal.message)


def _plan_check(
    body: dict[str, Any], observed: Observed, store_root: str, now: datetime
) -> CheckPlan | Problem:
    spec = spec_of(body)
    namespace = body["metadata"]["namespace"]
    if spec.target.dataset_ref is not None:
        return _plan_dataset(spec, observed)
    assert spec.target.deployment_ref is not None
    name = spec.target.deployment_ref.name
    if observed.deployment is None:
        return Problem(reasons.DEPLOYMENT_NOT_FOUND, f"ModelDeployment {name} not found")
    served = serving_version(observed.deployment)
    if served is None:
        return Problem(reasons.NOT_SERVING, f"ModelDeployment {name} serves no ModelVersion yet")
    try:
        samples = paths.under(store_root, paths.samples_dir(namespace, name, served))
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
        return paths.under(store_root, path)
    return Problem(
        reasons.REFERENCE_NOT_FOUND,
        f"ModelVersion {name} has no training lineage (dataset); set spec.reference",
    )


def _plan_dataset(spec: DriftMonitorSpec, observed: Observed) -> CheckPlan | Problem:
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
            return _one_version_only(name)
    return CheckPlan(
        reference_uri=str(entry["profileUri"]),  # type: ignore[index]
        source_uri=str(current["snapshotUri"]),
        source="snapshot",
        rows=None,
        since=None,
        features=tuple(spec.features) if spec.features else None,
        **_thresholds(spec),
    )
