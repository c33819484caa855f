"""Canary steps: a share of the replicas on the new version, a pause, then the analysis.

A step's canary replicas come up (a child change wakes the owner), the pause starts when they
are all available and ends `pauseSeconds` later (the clock wakes the owner), then the
analysis judges the canary's own traffic. The handler reads that analysis while it gathers
the world, when `analysis_due` says the step has reached it; an inconclusive analysis is
read again every `REANALYSE_SECONDS` until the step's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ...api.modeldeployment import Analysis
from .. import reasons
from ..conditions import parse_time, rfc3339
from ..observed import Trouble
from . import children, failure, status
from .context import Rollout, Seen
from .target import route

# Traffic reaches the canary without any event: an inconclusive analysis is read again this
# often (the requests counted so far may reach minRequestCount by then).
REANALYSE_SECONDS = 5.0


@dataclass(frozen=True)
class Position:
    """Where canary step `step` stands at this instant."""

    step: int
    steps: int
    weight: int
    stable: int  # replicas
    canary: int
    started: datetime
    pause_started: datetime | None  # None: the step's canary replicas are not all available
    pause_ends: datetime | None
    trouble: Trouble | None

    @property
    def label(self) -> str:
        return f"step {self.step + 1}/{self.steps} ({self.weight}%)"

    def analysing(self, now: datetime) -> bool:
        return self.trouble is None and self.pause_ends is not None and now >= self.pause_ends


def position(seen: Seen, target: str, step: int) -> Position:
    canary = seen.spec.strategy.canary
    assert canary is not None
    weight = canary.steps[step].weight
    stable_replicas, canary_replicas = seen.split(weight)
    old = seen.old.canary
    if not (old and old.step == step and seen.old.target_version == target):
        old = None
    started = (old and parse_time(old.step_started_at)) or seen.now
    pause_started = parse_time(old.pause_started_at) if old and old.pause_started_at else None
    view = seen.world.canary
    trouble = failure.failure(seen, view, target, started, waiting=pause_started is None)
    if trouble is None and view.complete(target, canary_replicas) and pause_started is None:
        pause_started = seen.now
    pause = timedelta(seconds=canary.steps[step].pause_seconds)
    return Position(
        step,
        len(canary.steps),
        weight,
        stable_replicas,
        canary_replicas,
        started,
        pause_started,
        pause_started + pause if pause_started else None,
        trouble,
    )


def analysis_due(seen: Seen) -> tuple[str, Analysis] | None:
    """(version, gates) when this pass reaches a canary step's analysis, else None."""
    where = route(seen)
    if where.way != "canary" or where.target is None:
        return None
    at = position(seen, where.target.name, where.step)
    if not at.analysing(seen.now):
        return None
    assert seen.spec.strategy.canary is not None
    return where.target.name, seen.spec.strategy.canary.analysis


def canary_step(r: Rollout, serving: str, target: str, step: int) -> None:
    at = position(r, target, step)
    children.stable(r, serving, at.stable)
    children.canary(r, target, at.canary)
    status.canary_status(r, step, at.stable, at.canary, at.started, at.pause_started)
    if at.trouble:
        failure.roll_back(r, serving, target, at.trouble)
    elif at.pause_ends is None:
        _wait(r, at, reasons.CANARY_STEP, status.waiting(r.world.canary, target))
    elif r.now < at.pause_ends:
        _wait(r, at, reasons.CANARY_PAUSED, f"analysis at {rfc3339(at.pause_ends)}")
        r.wake_at(at.pause_ends)
    else:
        _judge(r, serving, target, at, at.pause_ends)


def _judge(r: Rollout, serving: str, target: str, at: Position, pause_ended: datetime) -> None:
    judgement = r.world.judgement
    if judgement is None:  # the handler did not read the analysis: read it next time
        _wait(r, at, reasons.CANARY_ANALYSIS, "analysing")
        r.decision.look_again_in(REANALYSE_SECONDS)
        return
    if judgement.verdict == "fail":
        failure.roll_back(r, serving, target, Trouble(judgement.reason, judgement.message))
        return
    if judgement.verdict == "inconclusive":
        deadline = pause_ended + timedelta(seconds=r.spec.progress_deadline_seconds)
        if r.now > deadline:
            failure.roll_back(r, serving, target, Trouble(judgement.reason, judgement.message))
        else:
            _wait(r, at, reasons.CANARY_ANALYSIS, judgement.message)
            r.decision.look_again_in(REANALYSE_SECONDS)
            r.wake_at(deadline)
        return
    r.decision.note(reasons.CANARY_STEP, f"{target} {at.label} passed: {judgement.message}")
    # The next step starts with this status; writing it wakes the object again.
    following = at.step + 1
    if following < at.steps:
        canary = r.spec.strategy.canary
        assert canary is not None
        nxt = canary.steps[following].weight
        status.canary_status(r, following, *r.split(nxt), r.now, None)
        status.progressing(
            r, reasons.CANARY_STEP, f"step {following + 1}/{at.steps} ({nxt}%): starting"
        )
    else:
        status.canary_status(r, following, at.stable, at.canary, r.now, None)
        status.progressing(r, reasons.PROMOTING, f"promoting {target} to every replica")


def _wait(r: Rollout, at: Position, reason: str, message: str) -> None:
    """The step waits on its replicas (within the backstop), its pause or its analysis."""
    status.progressing(r, reason, f"{at.label}: {message}")
    if at.pause_started is None:
        failure.watch_deadline(r, at.started)
