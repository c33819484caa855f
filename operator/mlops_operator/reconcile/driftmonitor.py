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
from .decision import Decision
from .monitoring.observed import (
    Check,
    MonitorDecision,
    Observed,
    Problem,
    needs_source_job,
    owned_retrains,
    serving_version,
    source_job_name,
    spec_of,
)
from .monitoring.resolve import plan_check, previous_entry, training_profile
from .monitoring.retrain import (
    decide_retrain,
    decide_retrain_failures,
    held_by_cooldown_until,
    retrain_name,
    retrain_rejected,
    retrains_so_far,
)
from .monitoring.schedule import check_due, due, next_check_in, wait_for_check
from .monitoring.verdict import check_result, decide_check, decide_problem

__all__ = [
    "Check",
    "CheckOutcome",
    "CheckPlan",
    "Decision",
    "MonitorDecision",
    "Observed",
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
    "retrains_so_far",
    "serving_version",
    "source_job_name",
    "spec_of",
    "training_profile",
]


def check_to_run(
    body: dict[str, Any], observed: Observed, now: datetime, store_uri: str
) -> CheckPlan | None:
    """The check to run while observing, when one is due; None otherwise."""
    plan = plan_check(body, observed, store_uri, now)
    if isinstance(plan, Problem) or not due(body, observed, plan, now):
        return None
    return plan


def decide(
    body: dict[str, Any], observed: Observed, now: datetime, store_uri: str
) -> MonitorDecision:
    """Everything one reconcile of a DriftMonitor decides.

    - newly failed retrains: recorded in the status, a Warning each;
    - no check possible (a Problem): say why; the objects it waits for wake the monitor;
    - no check ran (none due): look again when the next one is due;
    - a check ran: the verdict, a retrain TrainingJob on dataset drift (unless capped,
      cooling down or one still runs), and look again after `intervalSeconds` (or when the
      cooldown that held a retrain ends, if sooner).
    """
    decision = MonitorDecision()
    decision.failed_retrains = decide_retrain_failures(body, decision, observed.retrains)
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
    decide_retrain(body, decision, observed, now)
    decision.check_result = check_result(check.outcome)
    decision.drift = check.outcome.report
    decision.clear_drift = check.outcome.report is None
    decision.look_again_in(spec_of(body).interval_seconds)
    return decision
