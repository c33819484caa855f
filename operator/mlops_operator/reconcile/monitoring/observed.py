"""What a DriftMonitor reads, and the decision it comes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...api.driftmonitor import DriftMonitor, DriftMonitorSpec
from ...drift.plan import CheckOutcome, CheckPlan
from ...performance.plan import PerformanceOutcome, PerformancePlan
from ..confinement import Refusal
from ..decision import Decision
from ..storage.retention import Limits

if TYPE_CHECKING:
    from ...drift.check import DriftReport


@dataclass(frozen=True)
class Problem:
    """Why no check can run now: Ready=`ready` with this reason; Drifted=Unknown."""

    reason: str
    message: str
    ready: bool = False


@dataclass(frozen=True)
class Check:
    """A check run while observing: the plan it followed and what it found."""

    plan: CheckPlan
    outcome: CheckOutcome


@dataclass(frozen=True)
class PerformanceCheck:
    """The performance check run beside a drift check (spec.performance)."""

    plan: PerformancePlan
    outcome: PerformanceOutcome


@dataclass
class Observed:
    """The objects a monitor depends on, as read from the API server (None: absent), and
    the check run while observing, if one was due."""

    deployment: dict[str, Any] | None = None
    model_version: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None  # the target Dataset (datasetRef)
    reference: dict[str, Any] | None = None  # the Dataset named by spec.reference
    source_job: dict[str, Any] | None = None  # the TrainingJob that trained the served version
    retrains: list[dict[str, Any]] = field(default_factory=list)  # TrainingJobs we created
    # The Dataset a retrain trains on (its source is copied into the retrain's own Dataset
    # when production rows are added).
    retrain_dataset: dict[str, Any] | None = None
    check: Check | None = None
    performance: PerformanceCheck | None = None
    # The retention of the watched deployment's samples (its spec.retention over the
    # operator's default; reconcile/storage/retention.py), None for a datasetRef monitor.
    retention: Limits | None = None
    # A file the check would read links out of the namespace's part of the store
    # (reconcile/confinement.escaped): no check ran, the monitor says so.
    escape: Refusal | None = None


@dataclass
class MonitorDecision(Decision):
    """A Decision plus the facts the handler exports as Prometheus series."""

    check_result: str | None = None  # the `result` label of mlops_drift_checks_total
    drift: DriftReport | None = None  # per-feature series to record
    clear_drift: bool = False  # no verdict stands: remove the per-feature series
    failed_retrains: list[str] = field(default_factory=list)  # newly failed retrains
    performance: PerformanceOutcome | None = None  # the performance series to record
    performance_version: str | None = None  # ... of this served version
    degraded: bool | None = None  # the performance verdict (None: none)


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


def owned_retrains(body: dict[str, Any], labelled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The TrainingJobs among `labelled` this very monitor owns (not a namesake's, deleted
    and created again)."""
    uid = body["metadata"]["uid"]
    return [
        tj
        for tj in labelled
        if any(o.get("uid") == uid for o in tj["metadata"].get("ownerReferences") or [])
    ]
