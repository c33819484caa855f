"""DriftMonitor: resolve what to compare, decide when to check, judge the result, retrain.

Pure. The handler gathers the objects (`Observed`); while observing it asks `check_to_run`
whether a check is due and, if so, runs it (`drift.window.run_check`) in a worker thread and
puts the outcome in `Observed.check`. Then one `decide` says everything: status, conditions,
Events, the retrain TrainingJob to create and when to look again. The clock is an argument.

The decisions live in `reconcile/monitoring/` by concern; this module is the entry point.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..drift.plan import CheckOutcome, CheckPlan
from ..performance.plan import PerformanceOutcome, PerformancePlan
from .conditions import Cond
from .decision import Decision, EventNote
from .monitoring.observed import (
    Check,
    MonitorDecision,
    Observed,
    PerformanceCheck,
    Problem,
    needs_source_job,
    owned_retrains,
    serving_version,
    source_job_name,
    spec_of,
)
from .monitoring.performance import decide_performance, plan_performance
from .monitoring.resolve import plan_check, previous_entry, training_profile
from .monitoring.retrain import (
    decide_retrain,
    decide_retrain_failures,
    held_by_cooldown_until,
    retrain_name,
    retrain_rejected,
    retrain_spec,
    retrains_so_far,
    window_target,
)
from .monitoring.schedule import check_due, due, next_check_in, wait_for_check
from .monitoring.verdict import check_result, decide_check, decide_problem, reason_changed
from .storage.retention import window_condition

__all__ = [
    "Check",
    "CheckOutcome",
    "CheckPlan",
    "Decision",
    "MonitorDecision",
    "Observed",
    "PerformanceCheck",
    "PerformanceOutcome",
    "PerformancePlan",
    "Problem",
    "check_due",
    "check_result",
    "check_to_run",
    "decide",
    "held_by_cooldown_until",
    "needs_source_job",
    "next_check_in",
    "owned_retrains",
    "plan_check",
    "previous_entry",
    "retrain_name",
    "retrain_rejected",
    "retrain_spec",
    "retrains_so_far",
    "serving_version",
    "source_job_name",
    "spec_of",
    "training_profile",
]


def check_to_run(
    body: dict[str, Any], observed: Observed, now: datetime, store_uri: str
) -> tuple[CheckPlan, PerformancePlan | None] | None:
    """The checks to run while observing, when they are due: the drift check, and the
    performance check when spec.performance asks for one (with the production window to
    write when a retrain could follow); None when nothing is due."""
    plan = plan_check(body, observed, store_uri, now)
    if isinstance(plan, Problem) or not due(body, observed, plan, now):
        return None
    window = window_target(body, observed, store_uri, now)
    return plan, plan_performance(body, observed, store_uri, now, window)


def retention_condition(body: dict[str, Any], observed: Observed) -> Cond | None:
    """WindowRetained: whether spec.window.durationSeconds fits the deployment's retention
    (an Event when it turns False)."""
    spec = spec_of(body)
    deployment = spec.target.deployment_ref.name if spec.target.deployment_ref else None
    return window_condition(spec.window.duration_seconds, observed.retention, deployment)


def decide(
    body: dict[str, Any], observed: Observed, now: datetime, store_uri: str
) -> MonitorDecision:
    """Everything one reconcile of a DriftMonitor decides.

    - newly failed retrains: recorded in the status, a Warning each;
    - no check possible (a Problem): say why; the objects it waits for wake the monitor;
    - no check ran (none due): look again when the next one is due;
    - a check ran: the drift verdict and, with spec.performance, the performance verdict;
      a retrain on degraded performance or dataset drift (per action.triggers; unless
      capped, cooling down or one still runs), on a Dataset with the window's labeled
      production rows when there are some; look again after `intervalSeconds` (or when
      the cooldown that held a retrain ends, if sooner).
    """
    decision = MonitorDecision()
    decision.failed_retrains = decide_retrain_failures(body, decision, observed.retrains)
    retained = retention_condition(body, observed)
    if retained is not None:
        decision.conditions.append(retained)
        if retained.status == "False" and reason_changed(
            body, retained.type, retained.status, retained.reason
        ):
            decision.events.append(EventNote("Warning", retained.reason, retained.message))
    plan = plan_check(body, observed, store_uri, now)
    if isinstance(plan, Problem):
        decide_problem(body, plan, decision)
        decision.clear_drift = True
        return decision
    check = observed.check
    if check is None:
        wait_for_check(body, observed, plan, now, decision)
        return decision
    decide_check(body, check.plan, check.outcome, now, decision)
    performance = observed.performance
    if performance is not None:
        decision.degraded = decide_performance(
            body, performance.plan, performance.outcome, decision
        )
        decision.performance = performance.outcome
        decision.performance_version = performance.plan.version
    decide_retrain(body, decision, observed, now, decision.degraded)
    decision.check_result = check_result(check.outcome)
    decision.drift = check.outcome.report
    decision.clear_drift = check.outcome.report is None
    decision.look_again_in(spec_of(body).interval_seconds)
    return decision
