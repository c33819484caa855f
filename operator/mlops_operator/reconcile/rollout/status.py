"""The ModelDeployment's status: phase, conditions, the canary's place and the history."""

from __future__ import annotations

from datetime import datetime

from ...api.conditions import FALSE, PROGRESSING, READY, ROLLED_BACK, TRUE
from ...api.modeldeployment import HISTORY_LIMIT
from ...api.phases import Outcome, Phase
from .. import reasons
from ..conditions import Cond, rfc3339
from ..observed import DeploymentView, Trouble
from ..serving import effective_weight, url
from .context import Rollout


def set_phase(r: Rollout, phase: Phase, ready: Cond, progressing: Cond | None) -> None:
    r.status["phase"] = phase
    conditions = [ready]
    if progressing is not None:
        conditions.append(progressing)
    r.decision.conditions[:] = conditions


def progressing(r: Rollout, reason: str, message: str, unavailable: bool = False) -> None:
    ready = Cond(READY, FALSE, reasons.UNAVAILABLE if unavailable else reason, message)
    set_phase(r, Phase.PROGRESSING, ready, progressing=Cond(PROGRESSING, TRUE, reason, message))


def healthy(r: Rollout, version: str, progress_message: str) -> None:
    stable = r.world.stable
    set_phase(
        r,
        Phase.HEALTHY,
        Cond(
            READY,
            TRUE,
            reasons.AVAILABLE,
            f"serving {version} on {stable.available}/{stable.replicas} replicas",
        ),
        progressing=Cond(PROGRESSING, FALSE, reasons.ROLLOUT_COMPLETE, progress_message),
    )


def rolled_back(r: Rollout, serving: str, target: str, trouble: Trouble) -> None:
    held = held_message(target, f"{trouble.reason}: {trouble.message}")
    set_phase(
        r,
        Phase.ROLLED_BACK,
        Cond(READY, FALSE, reasons.ROLLED_BACK, f"serving {serving}; {held}"),
        progressing=Cond(PROGRESSING, FALSE, reasons.ROLLOUT_ABORTED, trouble.message),
    )


def failed(r: Rollout, target: str, trouble: Trouble) -> None:
    """The first rollout failed: there is no good version to go back to."""
    set_phase(
        r,
        Phase.FAILED,
        Cond(READY, FALSE, trouble.reason, held_message(target, trouble.message)),
        progressing=Cond(PROGRESSING, FALSE, reasons.ROLLOUT_ABORTED, trouble.message),
    )


def record_failure(r: Rollout, target: str, trouble: Trouble) -> None:
    r.status["failedVersion"] = {
        "name": target,
        "reason": trouble.reason,
        "message": trouble.message,
        "specGeneration": r.generation,
        "at": rfc3339(r.now),
    }


def note_history(r: Rollout, version: str, outcome: Outcome, reason: str) -> None:
    history = [h.wire() for h in r.old.history]
    history.append({"version": version, "outcome": outcome, "at": rfc3339(r.now), "reason": reason})
    r.status["history"] = history[-HISTORY_LIMIT:]


def clear_rollout(r: Rollout) -> None:
    for key in ("targetVersion", "rolloutStartedAt", "canary"):
        r.status[key] = None


def canary_status(
    r: Rollout,
    step: int,
    stable: int,
    canary: int,
    step_started: datetime,
    pause_started: datetime | None,
    weight: int | None = None,
) -> None:
    r.status["canary"] = {
        "step": step,
        "weight": effective_weight(stable, canary) if weight is None else weight,
        "replicas": canary,
        "stepStartedAt": rfc3339(step_started),
        "pauseStartedAt": rfc3339(pause_started) if pause_started else None,
    }


def waiting(view: DeploymentView, version: str) -> str:
    if not view.exists or view.version != version:
        return f"creating replicas of {version}"
    counts = f"{view.available}/{view.replicas} replicas available, {view.updated} updated"
    return f"{version}: {counts}"


def finish(r: Rollout) -> None:
    """The RolledBack condition, the ready replicas and the URL: the same on every path."""
    phase = r.status.get("phase")
    rolled = phase == Phase.ROLLED_BACK or (phase == Phase.FAILED and r.held_back is not None)
    failure = r.status.get("failedVersion") or (
        r.old.failed_version.wire() if r.old.failed_version else None
    )
    if rolled and failure:
        cond = Cond(
            ROLLED_BACK, TRUE, failure["reason"], f"{failure['name']}: {failure['message']}"
        )
    else:
        cond = Cond(ROLLED_BACK, FALSE, reasons.NOT_ROLLED_BACK, "")
    r.decision.conditions.append(cond)
    stable, canary = r.world.stable, r.world.canary
    r.status["readyReplicas"] = stable.ready + canary.ready
    r.status["url"] = url(r.parent.name, r.parent.namespace)


def held_message(version: str, why: str) -> str:
    return f"{version} failed ({why}); it is not retried until the spec changes"
