"""ModelDeployment: which ModelVersion to serve, and the rollout state machine.

The public entry. The handler gathers the world once — the ModelVersions, the Deployments,
pods, Service and autoscaler, and, when `analysis_due` says the canary has reached its
analysis, that analysis's Judgement — then calls `decide` once and carries the Plan out.
`plan.decision.requeue_after` says when time itself is the next trigger.

Every decision is a function of the resource, its observed world and the clock; the parts
live in `reconcile/rollout/` (state machine, canary, promotion, failure, status, children).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..api.conditions import FALSE, READY
from ..api.modeldeployment import HISTORY_LIMIT, Analysis
from ..api.phases import Phase
from ..config import OperatorConfig
from . import reasons
from .conditions import Cond
from .decision import Decision
from .rollout import canary, challenge, machine
from .rollout.challenge import Comparison
from .rollout.context import Plan, Rollout, Seen, World
from .rollout.failure import BACKSTOP_DEADLINES
from .rollout.target import Target, resolve_target, route
from .serving import Parent

__all__ = [
    "BACKSTOP_DEADLINES",
    "HISTORY_LIMIT",
    "Comparison",
    "Plan",
    "Target",
    "World",
    "analysis_due",
    "comparison_due",
    "decide",
    "resolve_target",
]


def decide(
    body: dict[str, Any], world: World, config: OperatorConfig, now: datetime, parent: Parent
) -> Plan:
    try:
        rollout = Rollout.read(body, world, now, config=config, parent=parent)
    except ValidationError as error:
        return Plan(_refused(error))
    return machine.run(rollout)


def analysis_due(body: dict[str, Any], world: World, now: datetime) -> tuple[str, Analysis] | None:
    """(canary version, gates) when `decide` at `now` reaches a canary step's analysis: the
    handler then reads the analysis and puts its Judgement in the World. `world.judgement` is
    not looked at; everything else must be what `decide` will see."""
    try:
        seen = Seen.read(body, world, now)
    except ValidationError:
        return None
    return canary.analysis_due(seen)


def comparison_due(body: dict[str, Any], world: World, now: datetime) -> str | None:
    """The challenger whose comparison `decide` at `now` looks at: the handler then reads
    its compare Job and result into `world.comparison`."""
    try:
        seen = Seen.read(body, world, now)
    except ValidationError:
        return None
    where = route(seen)
    return challenge.comparison_due(seen, where.serving, where.target)


def _refused(error: ValidationError) -> Decision:
    decision = Decision(status={"phase": Phase.FAILED})
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    decision.conditions.append(Cond(READY, FALSE, reasons.INVALID_SPEC, f"{where}: {first['msg']}"))
    decision.done = True
    return decision
