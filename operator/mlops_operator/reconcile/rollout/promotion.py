"""Starting a rollout, and promoting its version to every replica once it has earned it."""

from __future__ import annotations

from datetime import datetime

from ...api.phases import Outcome
from .. import reasons
from ..conditions import parse_time, rfc3339
from . import children, failure, status
from .context import Rollout
from .target import Target


def start(r: Rollout, target: Target, was: str | None = None) -> datetime:
    """Mark the rollout of `target`, new or going on; returns when it started."""
    if r.old.target_version == target.name and r.old.rollout_started_at:
        return parse_time(r.old.rollout_started_at) or r.now
    how = r.spec.strategy.type if was else "first deploy"
    origin = f" (was {was})" if was else ""
    r.decision.note(reasons.ROLLOUT_STARTED, f"rolling out {target.name}{origin}: {how}")
    r.status.update(targetVersion=target.name, rolloutStartedAt=rfc3339(r.now), canary=None)
    return r.now


def promote(r: Rollout, target: str) -> None:
    previous = r.old.serving_version
    status.note_history(r, target, Outcome.PROMOTED, reasons.ROLLOUT_COMPLETE)
    r.status.update(servingVersion=target)
    if previous and previous != target:
        r.status["previousGoodVersion"] = previous
    status.clear_rollout(r)
    origin = f" (was {previous})" if previous and previous != target else ""
    r.decision.note(reasons.ROLLOUT_COMPLETE, f"serving {target}{origin}")
    status.healthy(r, target, f"{target} rolled out")


def settle_stable(r: Rollout, serving: str, target: str, started: datetime) -> None:
    """The stable Deployment rolls to `target`: promote it once complete, roll back on failure."""
    stable = r.world.stable
    if stable.complete(target, r.total()):
        children.remove_canary(r)
        promote(r, target)
        return
    trouble = failure.failure(r, stable, target, started)
    if trouble:
        failure.roll_back(r, serving, target, trouble)
        return
    status.progressing(r, reasons.ROLLOUT_STARTED, status.waiting(stable, target))
    failure.watch_deadline(r, started)


def promote_canary(r: Rollout, serving: str, target: str) -> None:
    """After the last step: the stable Deployment rolls to the new version, then the
    canary Deployment goes away."""
    old = r.old.canary
    assert old is not None
    total = r.total()
    canary_replicas = old.replicas or 1
    children.stable(r, target, total)
    children.canary(r, target, canary_replicas)
    started = parse_time(old.step_started_at) or r.now
    status.canary_status(r, old.step, total, canary_replicas, started, None, weight=100)
    settle_stable(r, serving, target, started)
