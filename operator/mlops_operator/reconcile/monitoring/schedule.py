"""When a check is due, and when to look again if none is.

A check is due on a new spec, a new source or reference, `intervalSeconds` after the last
one, and when the cooldown that held a retrain back ends (a fresh check then decides it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...drift.plan import CheckPlan
from ..conditions import parse_time
from ..decision import Decision
from .observed import Observed, spec_of
from .retrain import held_by_cooldown_until


def check_due(
    body: dict[str, Any], plan: CheckPlan, now: datetime, held_until: datetime | None = None
) -> bool:
    """Due now? `held_until`: the end of a cooldown that held a retrain back, if any."""
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
    if held_until is not None and held_until <= now:
        return True
    return now - last >= timedelta(seconds=spec_of(body).interval_seconds)


def next_check_in(body: dict[str, Any], now: datetime) -> float:
    """Seconds until `intervalSeconds` after the last check (0: now)."""
    last = parse_time((body.get("status") or {}).get("lastCheckTime"))
    if last is None:
        return 0.0
    due = last + timedelta(seconds=spec_of(body).interval_seconds)
    return max(0.0, (due - now).total_seconds())


def due(body: dict[str, Any], observed: Observed, plan: CheckPlan, now: datetime) -> bool:
    return check_due(body, plan, now, held_by_cooldown_until(body, observed.retrains))


def wait_for_check(
    body: dict[str, Any], observed: Observed, plan: CheckPlan, now: datetime, decision: Decision
) -> None:
    """No check ran: look again when the next one is due (at once if one is due already)."""
    held_until = held_by_cooldown_until(body, observed.retrains)
    if check_due(body, plan, now, held_until):
        decision.look_again_in(0)
        return
    decision.look_again_in(next_check_in(body, now))
    if held_until is not None:
        decision.look_again_in((held_until - now).total_seconds())
