"""Which ModelVersion to serve, and which way the rollout goes from where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...api.conditions import FALSE, READY
from ...api.modeldeployment import ModelDeploymentSpec
from ...api.modelversion import ModelVersionSpec
from ...api.phases import Phase
from ...api.trainingjob import acceptance_failures
from .. import reasons
from ..conditions import Cond
from .context import Seen


@dataclass(frozen=True)
class Target:
    name: str
    spec: ModelVersionSpec


def resolve_target(
    spec: ModelDeploymentSpec, versions: list[dict[str, Any]], lost: tuple[str, ...] = ()
) -> tuple[Target | None, Cond | None]:
    """The version the spec asks for, or why there is none to deploy. `lost`: challengers
    that lost to a champion, never the target of a model policy."""
    if spec.model_version_ref is not None:
        name = spec.model_version_ref.name
        found = next((v for v in versions if v["metadata"]["name"] == name), None)
        if found is None:
            return None, Cond(
                READY, FALSE, reasons.MODEL_VERSION_NOT_FOUND, f"ModelVersion {name} not found"
            )
        if _phase(found) != Phase.READY:
            return None, Cond(
                READY,
                FALSE,
                reasons.MODEL_VERSION_NOT_READY,
                f"ModelVersion {name} is {_phase(found) or Phase.PENDING}: {_ready_message(found)}",
            )
        return _target(found), None
    assert spec.model is not None  # the CRD admits exactly one of modelVersionRef and model
    policy = spec.model
    of_model = [v for v in versions if (v.get("spec") or {}).get("model") == policy.name]
    if not of_model:
        return None, Cond(
            READY,
            FALSE,
            reasons.MODEL_VERSION_NOT_FOUND,
            f"no ModelVersion of model {policy.name} yet",
        )
    ready = [v for v in of_model if _phase(v) == Phase.READY and v["metadata"]["name"] not in lost]
    accepted = [
        v
        for v in ready
        if not acceptance_failures(v["spec"].get("metrics") or {}, policy.acceptance)
    ]
    if not accepted:
        rejected = "; ".join(
            f"{v['metadata']['name']}: "
            + ", ".join(acceptance_failures(v["spec"].get("metrics") or {}, policy.acceptance))
            for v in ready[-3:]
        )
        return None, Cond(
            READY,
            FALSE,
            reasons.NO_ACCEPTED_VERSION,
            f"model {policy.name}: {len(of_model)} versions, {len(ready)} Ready, none passes "
            f"acceptance" + (f" ({rejected})" if rejected else ""),
        )
    newest = max(accepted, key=lambda v: int(v["spec"]["version"]))
    return _target(newest), None


Way = Literal[
    "unresolved", "first", "steady", "hold_back", "challenge", "replace", "canary", "promote"
]


@dataclass(frozen=True)
class Route:
    """Which way this pass goes.

    unresolved  nothing to deploy (`problem` says why); the serving version, if any, stays
    first       the first rollout: nothing is serving yet
    steady      the target is the serving version
    hold_back   the target failed and is held back until the spec changes
    challenge   a newer version must first beat the serving one (rollout/challenge.py)
    replace     a rolling update of the stable Deployment to the target
    canary      canary step `step` of the target
    promote     every canary step passed: the stable Deployment rolls to the target
    """

    way: Way
    serving: str | None = None
    target: Target | None = None
    problem: Cond | None = None
    step: int = 0


def route(seen: Seen) -> Route:
    target, problem = resolve_target(
        seen.spec, seen.world.versions, tuple(seen.old.lost_challengers)
    )
    serving = seen.old.serving_version
    if target is None:
        return Route("unresolved", serving, problem=problem)
    if serving is None:
        return Route("first", None, target)
    if target.name == serving:
        return Route("steady", serving, target)
    if target.name == seen.held_back:
        return Route("hold_back", serving, target)
    if challenge_applies(seen, serving, target):
        return Route("challenge", serving, target)
    strategy = seen.spec.strategy
    if strategy.type == "RollingUpdate" or strategy.canary is None or serving not in seen.versions:
        return Route("replace", serving, target)
    old = seen.old
    step = old.canary.step if old.canary and old.target_version == target.name else 0
    if step >= len(strategy.canary.steps):
        return Route("promote", serving, target, step=step)
    return Route("canary", serving, target, step=step)


def challenge_applies(seen: Seen, serving: str | None, target: Target) -> bool:
    """Whether `target` must first beat `serving` (rollout/challenge.py): a model policy
    that compares, a serving version that still exists, and no won verdict for the pair."""
    policy = seen.spec.model
    if policy is None or not policy.promotion.compare or serving is None:
        return False
    if target.name == serving or serving not in seen.versions:
        return False
    last = seen.old.challenge
    won = (
        last is not None
        and last.verdict == "Won"
        and last.challenger.name == target.name
        and last.champion.name == serving
    )
    return not won


def _phase(version: dict[str, Any]) -> str | None:
    return (version.get("status") or {}).get("phase")


def _ready_message(version: dict[str, Any]) -> str:
    for condition in (version.get("status") or {}).get("conditions") or ():
        if condition.get("type") == READY:
            return str(condition.get("message") or condition.get("reason") or "")
    return "not verified yet"


def _target(version: dict[str, Any]) -> Target:
    return Target(version["metadata"]["name"], ModelVersionSpec.model_validate(version["spec"]))
