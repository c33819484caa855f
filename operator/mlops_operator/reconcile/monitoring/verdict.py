"""The verdict: status, conditions and Events from a check outcome, or from a Problem."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...api.conditions import DRIFTED, FALSE, READY, TRUE, UNKNOWN, ConditionStatus
from ...api.driftmonitor import FeatureDrift
from ...drift.plan import CheckOutcome, CheckPlan
from .. import reasons
from ..conditions import Cond, clip, condition, is_true, rfc3339
from ..decision import Decision
from .observed import Problem, spec_of

FAILURE_REASONS = {
    "reference": reasons.REFERENCE_NOT_FOUND,
    "window": reasons.SAMPLES_UNREADABLE,
    "features": reasons.FEATURES_NOT_FOUND,
    "store": reasons.STORE_UNAVAILABLE,
}


def reason_changed(body: dict[str, Any], type_: str, status: str, reason: str) -> bool:
    """True when the condition is new or differs: the moment to post an Event."""
    old = condition((body.get("status") or {}).get("conditions"), type_)
    return not old or old.get("status") != status or old.get("reason") != reason


def not_ready(body: dict[str, Any], decision: Decision, reason: str, message: str) -> None:
    """Ready=False for `reason` (replacing the Ready decided so far); a Warning when new."""
    decision.conditions = [c for c in decision.conditions if c.type != READY]
    decision.conditions.append(Cond(READY, FALSE, reason, clip(message)))
    if reason_changed(body, READY, FALSE, reason):
        decision.warn(reason, message)


def decide_problem(body: dict[str, Any], problem: Problem, decision: Decision) -> None:
    """No check possible: say why (an Event only when the reason is new)."""
    ready: ConditionStatus = TRUE if problem.ready else FALSE
    decision.conditions += [
        Cond(READY, ready, problem.reason, problem.message),
        Cond(DRIFTED, UNKNOWN, problem.reason, problem.message),
    ]
    decision.status.update(features=[], driftShare=None)
    if reason_changed(body, READY, ready, problem.reason):
        if problem.ready:
            decision.note(problem.reason, problem.message)
        else:
            decision.warn(problem.reason, problem.message)


def check_result(outcome: CheckOutcome) -> str:
    """The `result` label of mlops_drift_checks_total."""
    if outcome.failure is not None:
        return "error"
    if outcome.report is None:
        return "insufficient"
    return "drift" if outcome.report.dataset_drifted else "no_drift"


def decide_check(
    body: dict[str, Any], plan: CheckPlan, outcome: CheckOutcome, now: datetime, decision: Decision
) -> None:
    """Status, conditions and Events after one check (retraining is `retrain.decide_retrain`)."""
    spec = spec_of(body)
    decision.status.update(
        lastCheckTime=rfc3339(now),
        samples=outcome.samples,
        referenceUri=plan.reference_uri,
        sourceUri=plan.source_uri,
    )
    if outcome.failure is not None:
        reason = FAILURE_REASONS[outcome.failure]
        decision.status.update(features=[], driftShare=None)
        decision.conditions.append(Cond(DRIFTED, UNKNOWN, reason, clip(outcome.message)))
        not_ready(body, decision, reason, outcome.message)
        return
    if outcome.report is None:
        message = (
            f"{outcome.samples} samples in the window, minSamples is {spec.min_samples}; "
            "no verdict until there are enough"
        )
        decision.status.update(features=[], driftShare=None)
        decision.conditions += [
            Cond(READY, TRUE, reasons.INSUFFICIENT_SAMPLES, message),
            Cond(DRIFTED, UNKNOWN, reasons.INSUFFICIENT_SAMPLES, message),
        ]
        return
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
        Cond(READY, TRUE, reasons.CHECKED, f"checked {outcome.samples} samples")
    )
    was_drifted = is_true((body.get("status") or {}).get("conditions"), DRIFTED)
    if report.dataset_drifted:
        decision.conditions.append(Cond(DRIFTED, TRUE, reasons.DRIFT_DETECTED, summary))
        if not was_drifted:
            decision.warn(reasons.DRIFT_DETECTED, summary)
    else:
        decision.conditions.append(Cond(DRIFTED, FALSE, reasons.NO_DRIFT, summary))
        if was_drifted:
            decision.note(reasons.DRIFT_RESOLVED, summary)
