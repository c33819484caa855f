"""When a rollout has failed, and what follows: rollback, or Failed with nothing to go back to.

A failure is seen three ways: the Deployment controller reports ProgressDeadlineExceeded (a
child change wakes the owner), a pod of the version will never become ready (likewise), or,
as a backstop, the rollout is still not done `BACKSTOP_DEADLINES` deadlines after it started —
the one failure only the clock reveals, so a waiting rollout asks to be woken then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ...api.phases import Outcome
from .. import reasons
from ..observed import DeploymentView, Trouble, pod_trouble
from . import children, status
from .context import Rollout, Seen

# A rollout that is neither complete nor failed this many deadlines after it started fails,
# even if the Deployment controller never reports ProgressDeadlineExceeded.
BACKSTOP_DEADLINES = 2


def backstop(seen: Seen) -> timedelta:
    return timedelta(seconds=BACKSTOP_DEADLINES * seen.spec.progress_deadline_seconds)


def failure(
    seen: Seen, view: DeploymentView, version: str, started: datetime, waiting: bool = True
) -> Trouble | None:
    """`waiting`: the version's replicas have not all been available yet. Only then can the
    backstop apply: a canary whose replicas came up and now sits in a long pause is healthy."""
    if view.exists and view.current and view.version == version and view.deadline_exceeded:
        return Trouble(reasons.PROGRESS_DEADLINE_EXCEEDED, view.message)
    trouble = pod_trouble(seen.world.pods, version)
    if trouble:
        return trouble
    if waiting and seen.now - started > backstop(seen):
        return Trouble(
            reasons.PROGRESS_DEADLINE_EXCEEDED,
            f"not available {int(backstop(seen).total_seconds())} s after the rollout started",
        )
    return None


def watch_deadline(r: Rollout, started: datetime) -> None:
    """A rollout waits on its children: their changes wake it, the backstop needs the clock."""
    r.wake_at(started + backstop(r))


def roll_back(r: Rollout, serving: str, target: str, trouble: Trouble) -> None:
    # Whatever this pass applied for the new version is replaced by the serving version, and
    # whatever it waited for is moot.
    r.decision.apply.clear()
    r.decision.requeue_after = None
    children.common(r)
    children.stable(r, serving, r.total())
    children.remove_canary(r)
    status.record_failure(r, target, trouble)
    status.note_history(r, target, Outcome.ROLLED_BACK, trouble.reason)
    status.clear_rollout(r)
    r.plan.rolled_back = True
    r.decision.warn(
        reasons.ROLLED_BACK,
        f"rolled back from {target} to {serving}: {trouble.reason}: {trouble.message}; "
        f"{target} is not retried until the spec changes",
    )
    status.rolled_back(r, serving, target, trouble)


def hold_back(r: Rollout, serving: str, target: str) -> None:
    """The target failed before: keep serving, do not retry it until the spec changes."""
    failed = r.old.failed_version
    assert failed is not None
    children.stable(r, serving, r.total())
    children.remove_canary(r)
    status.clear_rollout(r)
    status.rolled_back(r, serving, target, Trouble(failed.reason, failed.message))


def first_rollout_failed(r: Rollout, target: str, trouble: Trouble) -> None:
    status.record_failure(r, target, trouble)
    status.note_history(r, target, Outcome.FAILED, trouble.reason)
    r.decision.warn(
        reasons.ROLLOUT_FAILED,
        f"{target} failed to roll out and there is no earlier version to return to: "
        f"{trouble.reason}: {trouble.message}",
    )
    status.clear_rollout(r)
    status.failed(r, target, trouble)
