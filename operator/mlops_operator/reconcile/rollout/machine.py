"""The rollout state machine: one pass from what was seen to the Plan.

`status.phase`:
  Pending      nothing resolvable to serve (the version is missing, not Ready, or not accepted)
  Progressing  a rollout is under way: the first deploy, a rolling update, a canary step
  Healthy      the serving version runs on every replica
  RolledBack   the last rollout failed and was undone; that version is held back until the
               spec changes (metadata.generation), so GitOps and the operator never fight
  Failed       the first rollout failed: there is no good version to go back to

Waiting on children (Deployments, pods) needs no timer: their changes wake the owner. Where
time is the trigger (a pause ends, a deadline passes, an analysis is read again) the Plan's
decision says when to look again; a steady state asks for nothing.
"""

from __future__ import annotations

from ...api.conditions import FALSE, PROGRESSING
from ...api.phases import Phase
from .. import reasons
from ..conditions import Cond
from ..observed import Trouble
from . import canary, challenge, children, failure, promotion, status
from .context import Plan, Rollout
from .target import Route, Target, route


def run(r: Rollout) -> Plan:
    children.common(r)
    where = route(r)
    if where.target is None:  # unresolved
        assert where.problem is not None
        _unresolved(r, where.serving, where.problem)
    elif where.serving is None:  # first
        _first_rollout(r, where.target)
    elif where.way == "steady":
        _steady(r, where.serving)
    elif where.way == "hold_back":
        failure.hold_back(r, where.serving, where.target.name)
    elif where.way == "challenge":
        challenge.compare(r, where.serving, where.target)
    else:
        _roll_out(r, where, where.serving, where.target)
    status.finish(r)
    return r.plan


def _unresolved(r: Rollout, serving: str | None, problem: Cond) -> None:
    if serving and serving in r.versions:
        children.stable(r, serving, r.total())
        children.remove_canary(r)
        problem = Cond(
            problem.type,
            problem.status,
            problem.reason,
            f"{problem.message}; still serving {serving}",
        )
    status.clear_rollout(r)
    status.set_phase(
        r,
        Phase.PENDING,
        problem,
        progressing=Cond(PROGRESSING, FALSE, problem.reason, problem.message),
    )


def _first_rollout(r: Rollout, target: Target) -> None:
    children.stable(r, target.name, r.total())
    children.remove_canary(r)
    if target.name == r.held_back:
        failed = r.old.failed_version
        assert failed is not None
        status.failed(r, target.name, Trouble(failed.reason, failed.message))
        return
    started = promotion.start(r, target)
    if r.world.stable.complete(target.name, r.total()):
        promotion.promote(r, target.name)
        return
    trouble = failure.failure(r, r.world.stable, target.name, started)
    if trouble:
        failure.first_rollout_failed(r, target.name, trouble)
        return
    status.progressing(r, reasons.WAITING_FOR_REPLICAS, status.waiting(r.world.stable, target.name))
    failure.watch_deadline(r, started)


def _steady(r: Rollout, serving: str) -> None:
    children.stable(r, serving, r.total())
    children.remove_canary(r)
    if r.old.target_version and r.old.target_version != serving:
        r.decision.note(
            reasons.ROLLOUT_ABORTED,
            f"rollout of {r.old.target_version} stopped: the spec asks for {serving} again",
        )
    status.clear_rollout(r)
    stable = r.world.stable
    if stable.complete(serving, r.total()):
        status.healthy(r, serving, "")
    else:  # short of replicas: the Deployment's changes wake the owner
        status.progressing(
            r, reasons.WAITING_FOR_REPLICAS, status.waiting(stable, serving), unavailable=True
        )


def _roll_out(r: Rollout, where: Route, serving: str, target: Target) -> None:
    started = promotion.start(r, target, was=serving)
    if where.way == "replace":
        children.stable(r, target.name, r.total())
        children.remove_canary(r)
        promotion.settle_stable(r, serving, target.name, started)
    elif where.way == "promote":
        promotion.promote_canary(r, serving, target.name)
    else:
        canary.canary_step(r, serving, target.name, where.step)
