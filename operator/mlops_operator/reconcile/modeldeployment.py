"""ModelDeployment: which ModelVersion to serve, and the rollout state machine.

`status.phase`:
  Pending      nothing resolvable to serve (the version is missing, not Ready, or not accepted)
  Progressing  a rollout is under way: the first deploy, a rolling update, a canary step
  Healthy      the serving version runs on every replica
  RolledBack   the last rollout failed and was undone; that version is held back until the
               spec changes (metadata.generation), so GitOps and the operator never fight
  Failed       the first rollout failed: there is no good version to go back to

Every decision is a function of the resource, its observed children and the clock; the
handler gathers those, calls `decide` and carries the result out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ..api.modeldeployment import (
    Analysis,
    ModelDeployment,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
)
from ..api.modelversion import ModelVersionSpec
from ..api.trainingjob import acceptance_failures
from ..config import OperatorConfig
from . import reasons
from .analysis import Judgement
from .conditions import Cond, parse_time, rfc3339
from .decision import Decision, ObjectKey
from .observed import DeploymentView, Trouble, pod_trouble
from .serving import (
    Parent,
    Workload,
    autoscaler_manifest,
    canary_name,
    deployment_manifest,
    effective_weight,
    service_manifest,
    spec_hash,
    split_replicas,
    stable_name,
    url,
)

HISTORY_LIMIT = 10
# A rollout that is neither complete nor failed this many deadlines after it started fails,
# even if the Deployment controller never reports ProgressDeadlineExceeded.
BACKSTOP_DEADLINES = 2


@dataclass(frozen=True)
class World:
    """The ModelDeployment's surroundings, as the handler observed them."""

    versions: list[dict[str, Any]]  # ModelVersion objects in the namespace
    stable: DeploymentView = field(default_factory=DeploymentView)
    canary: DeploymentView = field(default_factory=DeploymentView)
    pods: list[dict[str, Any]] = field(default_factory=list)
    service_hash: str | None = None
    autoscaler_hash: str | None = None
    autoscaler_exists: bool = False
    judgement: Judgement | None = None  # set when the handler ran the canary analysis


@dataclass
class Plan:
    decision: Decision
    analyse: str | None = None  # analyse this version's canary pods, then decide again
    gates: Analysis | None = None  # ...against these gates
    rolled_back: bool = False


@dataclass(frozen=True)
class Target:
    name: str
    spec: ModelVersionSpec


def resolve_target(
    spec: ModelDeploymentSpec, versions: list[dict[str, Any]]
) -> tuple[Target | None, Cond | None]:
    """The version the spec asks for, or why there is none to deploy."""
    if spec.model_version_ref is not None:
        name = spec.model_version_ref.name
        found = next((v for v in versions if v["metadata"]["name"] == name), None)
        if found is None:
            return None, Cond(
                "Ready", "False", reasons.MODEL_VERSION_NOT_FOUND, f"ModelVersion {name} not found"
            )
        if _phase(found) != "Ready":
            return None, Cond(
                "Ready",
                "False",
                reasons.MODEL_VERSION_NOT_READY,
                f"ModelVersion {name} is {_phase(found) or 'Pending'}: {_ready_message(found)}",
            )
        return _target(found), None
    assert spec.model is not None  # the CRD admits exactly one of modelVersionRef and model
    policy = spec.model
    of_model = [v for v in versions if (v.get("spec") or {}).get("model") == policy.name]
    if not of_model:
        return None, Cond(
            "Ready",
            "False",
            reasons.MODEL_VERSION_NOT_FOUND,
            f"no ModelVersion of model {policy.name} yet",
        )
    ready = [v for v in of_model if _phase(v) == "Ready"]
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
            "Ready",
            "False",
            reasons.NO_ACCEPTED_VERSION,
            f"model {policy.name}: {len(of_model)} versions, {len(ready)} Ready, none passes "
            f"acceptance" + (f" ({rejected})" if rejected else ""),
        )
    newest = max(accepted, key=lambda v: int(v["spec"]["version"]))
    return _target(newest), None


def decide(
    body: dict[str, Any], world: World, config: OperatorConfig, now: datetime, parent: Parent
) -> Plan:
    try:
        resource = ModelDeployment.model_validate(
            {"spec": body.get("spec") or {}, "status": body.get("status") or {}}
        )
    except ValidationError as error:
        decision = Decision(status={"phase": "Failed"})
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        decision.conditions.append(
            Cond("Ready", "False", reasons.INVALID_SPEC, f"{where}: {first['msg']}")
        )
        decision.done = True
        return Plan(decision)
    return _Rollout(body, resource, world, config, now, parent).run()


class _Rollout:
    """One pass of the state machine; builds the Decision as it goes."""

    def __init__(
        self,
        body: dict[str, Any],
        resource: ModelDeployment,
        world: World,
        config: OperatorConfig,
        now: datetime,
        parent: Parent,
    ) -> None:
        self.spec: ModelDeploymentSpec = resource.spec
        self.old: ModelDeploymentStatus = resource.status
        self.generation = int(body["metadata"].get("generation") or 1)
        self.world, self.config, self.now, self.parent = world, config, now, parent
        self.versions = {v["metadata"]["name"]: v for v in world.versions}
        self.plan = Plan(Decision())
        self.status = self.plan.decision.status
        failed = self.old.failed_version
        self.held_back = (
            failed.name if failed and failed.spec_generation == self.generation else None
        )

    # -- the state machine -------------------------------------------------------------------

    def run(self) -> Plan:
        self._children_common()
        target, problem = resolve_target(self.spec, self.world.versions)
        serving = self.old.serving_version
        if target is None:
            assert problem is not None
            self._unresolved(serving, problem)
        elif serving is None:
            self._first_rollout(target)
        elif target.name == serving:
            self._steady(serving)
        elif target.name == self.held_back:
            self._hold_back(serving, target.name)
        else:
            self._roll_out(serving, target)
        self._finish()
        return self.plan

    def _unresolved(self, serving: str | None, problem: Cond) -> None:
        if serving and serving in self.versions:
            self._stable(serving, self._total())
            self._remove_canary()
            problem = Cond(
                problem.type,
                problem.status,
                problem.reason,
                f"{problem.message}; still serving {serving}",
            )
        self._clear_rollout()
        self._set(
            "Pending",
            problem,
            progressing=Cond("Progressing", "False", problem.reason, problem.message),
        )

    def _first_rollout(self, target: Target) -> None:
        self._stable(target.name, self._total())
        self._remove_canary()
        if target.name == self.held_back:
            failed = self.old.failed_version
            assert failed is not None
            self._set(
                "Failed",
                Cond("Ready", "False", failed.reason, _held_message(target.name, failed.message)),
                progressing=Cond("Progressing", "False", reasons.ROLLOUT_ABORTED, failed.message),
            )
            return
        started = self._start(target)
        if self.world.stable.complete(target.name, self._total()):
            self._promote(target.name)
            return
        trouble = self._failure(self.world.stable, target.name, started)
        if trouble:
            self._record_failure(target.name, trouble)
            self._note_history(target.name, "Failed", trouble.reason)
            self.plan.decision.warn(
                reasons.ROLLOUT_FAILED,
                f"{target.name} failed to roll out and there is no earlier version to return to: "
                f"{trouble.reason}: {trouble.message}",
            )
            self._clear_rollout()
            self._set(
                "Failed",
                Cond("Ready", "False", trouble.reason, _held_message(target.name, trouble.message)),
                progressing=Cond("Progressing", "False", reasons.ROLLOUT_ABORTED, trouble.message),
            )
            return
        self._progressing(
            reasons.WAITING_FOR_REPLICAS, self._waiting(self.world.stable, target.name)
        )

    def _steady(self, serving: str) -> None:
        self._stable(serving, self._total())
        self._remove_canary()
        if self.old.target_version and self.old.target_version != serving:
            self.plan.decision.note(
                reasons.ROLLOUT_ABORTED,
                f"rollout of {self.old.target_version} stopped: the spec asks for {serving} again",
            )
        self._clear_rollout()
        stable = self.world.stable
        if stable.complete(serving, self._total()):
            self._set_healthy(serving, "")
        else:
            self._progressing(
                reasons.WAITING_FOR_REPLICAS, self._waiting(stable, serving), unavailable=True
            )

    def _hold_back(self, serving: str, target: str) -> None:
        failed = self.old.failed_version
        assert failed is not None
        self._stable(serving, self._total())
        self._remove_canary()
        self._clear_rollout()
        self._set_rolled_back(serving, target, Trouble(failed.reason, failed.message))

    def _roll_out(self, serving: str, target: Target) -> None:
        started = self._start(target, was=serving)
        canary = self.spec.strategy.canary
        if (
            self.spec.strategy.type == "RollingUpdate"
            or canary is None
            or serving not in self.versions
        ):
            self._stable(target.name, self._total())
            self._remove_canary()
            self._settle_stable(serving, target.name, started)
            return
        step = (
            self.old.canary.step
            if self.old.canary and self.old.target_version == target.name
            else 0
        )
        if step >= len(canary.steps):
            self._promote_canary(serving, target.name)
            return
        self._canary_step(serving, target.name, step)

    def _canary_step(self, serving: str, target: str, step: int) -> None:
        canary = self.spec.strategy.canary
        assert canary is not None
        weight = canary.steps[step].weight
        stable_replicas, canary_replicas = self._split(weight)
        self._stable(serving, stable_replicas)
        self._canary(target, canary_replicas)
        old = self.old.canary
        if not (old and old.step == step and self.old.target_version == target):
            old = None
        step_started = (old and parse_time(old.step_started_at)) or self.now
        pause_started = parse_time(old.pause_started_at) if old and old.pause_started_at else None
        view = self.world.canary
        trouble = self._failure(view, target, step_started)
        if trouble is None and view.complete(target, canary_replicas) and pause_started is None:
            pause_started = self.now
        self._canary_status(step, stable_replicas, canary_replicas, step_started, pause_started)
        label = f"step {step + 1}/{len(canary.steps)} ({weight}%)"
        if trouble:
            self._roll_back(serving, target, trouble)
            return
        if pause_started is None:
            self._progressing(reasons.CANARY_STEP, f"{label}: {self._waiting(view, target)}")
            return
        pause = timedelta(seconds=canary.steps[step].pause_seconds)
        if self.now < pause_started + pause:
            self._progressing(
                reasons.CANARY_PAUSED, f"{label}: analysis at {rfc3339(pause_started + pause)}"
            )
            return
        judgement = self.world.judgement
        if judgement is None:
            self.plan.analyse, self.plan.gates = target, canary.analysis
            self._progressing(reasons.CANARY_ANALYSIS, f"{label}: analysing")
            return
        if judgement.verdict == "fail":
            self._roll_back(serving, target, Trouble(judgement.reason, judgement.message))
            return
        if judgement.verdict == "inconclusive":
            deadline = (
                pause_started + pause + timedelta(seconds=self.spec.progress_deadline_seconds)
            )
            if self.now > deadline:
                self._roll_back(serving, target, Trouble(judgement.reason, judgement.message))
            else:
                self._progressing(reasons.CANARY_ANALYSIS, f"{label}: {judgement.message}")
            return
        self.plan.decision.note(
            reasons.CANARY_STEP, f"{target} {label} passed: {judgement.message}"
        )
        following = step + 1
        if following < len(canary.steps):
            nxt = canary.steps[following].weight
            self._canary_status(following, *self._split(nxt), self.now, None)
            self._progressing(
                reasons.CANARY_STEP, f"step {following + 1}/{len(canary.steps)} ({nxt}%): starting"
            )
        else:
            self._canary_status(following, stable_replicas, canary_replicas, self.now, None)
            self._progressing(reasons.PROMOTING, f"promoting {target} to every replica")

    def _promote_canary(self, serving: str, target: str) -> None:
        """After the last step: the stable Deployment rolls to the new version, then the
        canary Deployment goes away."""
        old = self.old.canary
        assert old is not None
        total = self._total()
        canary_replicas = old.replicas or 1
        self._stable(target, total)
        self._canary(target, canary_replicas)
        started = parse_time(old.step_started_at) or self.now
        self._canary_status(old.step, total, canary_replicas, started, None, weight=100)
        self._settle_stable(serving, target, started)

    def _settle_stable(self, serving: str, target: str, started: datetime) -> None:
        stable = self.world.stable
        if stable.complete(target, self._total()):
            self._remove_canary()
            self._promote(target)
            return
        trouble = self._failure(stable, target, started)
        if trouble:
            self._roll_back(serving, target, trouble)
            return
        self._progressing(reasons.ROLLOUT_STARTED, self._waiting(stable, target))

    # -- transitions -------------------------------------------------------------------------

    def _start(self, target: Target, was: str | None = None) -> datetime:
        """Mark the rollout of `target`, new or going on; returns when it started."""
        if self.old.target_version == target.name and self.old.rollout_started_at:
            return parse_time(self.old.rollout_started_at) or self.now
        how = self.spec.strategy.type if was else "first deploy"
        origin = f" (was {was})" if was else ""
        self.plan.decision.note(
            reasons.ROLLOUT_STARTED, f"rolling out {target.name}{origin}: {how}"
        )
        self.status.update(
            targetVersion=target.name, rolloutStartedAt=rfc3339(self.now), canary=None
        )
        return self.now

    def _promote(self, target: str) -> None:
        previous = self.old.serving_version
        self._note_history(target, "Promoted", reasons.ROLLOUT_COMPLETE)
        self.status.update(servingVersion=target)
        if previous and previous != target:
            self.status["previousGoodVersion"] = previous
        self._clear_rollout()
        origin = f" (was {previous})" if previous and previous != target else ""
        self.plan.decision.note(reasons.ROLLOUT_COMPLETE, f"serving {target}{origin}")
        self._set_healthy(target, f"{target} rolled out")

    def _set_healthy(self, version: str, progress_message: str) -> None:
        stable = self.world.stable
        self._set(
            "Healthy",
            Cond(
                "Ready",
                "True",
                reasons.AVAILABLE,
                f"serving {version} on {stable.available}/{stable.replicas} replicas",
            ),
            progressing=Cond("Progressing", "False", reasons.ROLLOUT_COMPLETE, progress_message),
        )

    def _roll_back(self, serving: str, target: str, trouble: Trouble) -> None:
        # Whatever this pass applied for the new version is replaced by the serving version.
        self.plan.decision.apply.clear()
        self._children_common()
        self._stable(serving, self._total())
        self._remove_canary()
        self._record_failure(target, trouble)
        self._note_history(target, "RolledBack", trouble.reason)
        self._clear_rollout()
        self.plan.rolled_back = True
        self.plan.decision.warn(
            reasons.ROLLED_BACK,
            f"rolled back from {target} to {serving}: {trouble.reason}: {trouble.message}; "
            f"{target} is not retried until the spec changes",
        )
        self._set_rolled_back(serving, target, trouble)

    def _set_rolled_back(self, serving: str, target: str, trouble: Trouble) -> None:
        held = _held_message(target, f"{trouble.reason}: {trouble.message}")
        self._set(
            "RolledBack",
            Cond("Ready", "False", reasons.ROLLED_BACK, f"serving {serving}; {held}"),
            progressing=Cond("Progressing", "False", reasons.ROLLOUT_ABORTED, trouble.message),
        )

    def _record_failure(self, target: str, trouble: Trouble) -> None:
        self.status["failedVersion"] = {
            "name": target,
            "reason": trouble.reason,
            "message": trouble.message,
            "specGeneration": self.generation,
            "at": rfc3339(self.now),
        }

    def _note_history(self, version: str, outcome: str, reason: str) -> None:
        history = [h.wire() for h in self.old.history]
        history.append(
            {"version": version, "outcome": outcome, "at": rfc3339(self.now), "reason": reason}
        )
        self.status["history"] = history[-HISTORY_LIMIT:]

    def _clear_rollout(self) -> None:
        for key in ("targetVersion", "rolloutStartedAt", "canary"):
            self.status[key] = None

    # -- children ----------------------------------------------------------------------------

    def _children_common(self) -> None:
        self._put(service_manifest(self.parent), self.world.service_hash)
        autoscaler = autoscaler_manifest(self.parent, self.spec)
        if autoscaler is not None:
            self._put(autoscaler, self.world.autoscaler_hash)
        elif self.world.autoscaler_exists:
            self.plan.decision.delete.append(
                ObjectKey(
                    "autoscaling/v2", "HorizontalPodAutoscaler", stable_name(self.parent.name)
                )
            )

    def _stable(self, version: str, replicas: int) -> None:
        manifest = self._deployment("stable", version, replicas)
        if manifest is not None:
            self._put(manifest, self.world.stable.spec_hash)

    def _canary(self, version: str, replicas: int) -> None:
        manifest = self._deployment("canary", version, replicas)
        if manifest is not None:
            self._put(manifest, self.world.canary.spec_hash)

    def _deployment(self, track: str, version: str, replicas: int) -> dict[str, Any] | None:
        found = self.versions.get(version)
        if found is None:  # a deleted ModelVersion: leave its pods as they are
            return None
        managed = None if track == "stable" and self.spec.autoscaling else replicas
        workload = Workload(
            track,  # type: ignore[arg-type]
            version,
            ModelVersionSpec.model_validate(found["spec"]),
            managed,
        )
        return deployment_manifest(self.parent, self.spec, workload, self.config)

    def _remove_canary(self) -> None:
        if self.world.canary.exists:
            self.plan.decision.delete.append(
                ObjectKey("apps/v1", "Deployment", canary_name(self.parent.name))
            )

    def _put(self, manifest: dict[str, Any], observed_hash: str | None) -> None:
        if spec_hash(manifest) != observed_hash:
            self.plan.decision.apply.append(manifest)

    # -- helpers -----------------------------------------------------------------------------

    def _total(self) -> int:
        scaling = self.spec.autoscaling
        if scaling is None:
            return self.spec.replicas
        return max(self.world.stable.replicas, scaling.min_replicas)

    def _split(self, weight: int) -> tuple[int, int]:
        """(stable, canary) replicas; with an autoscaler the stable count is the HPA's."""
        if self.spec.autoscaling is None:
            return split_replicas(self.spec.replicas, weight)
        stable = self._total()
        if weight >= 100:
            return stable, stable
        return stable, max(1, -(-stable * weight // (100 - weight)))

    def _failure(self, view: DeploymentView, version: str, started: datetime) -> Trouble | None:
        if view.exists and view.current and view.version == version and view.deadline_exceeded:
            return Trouble(reasons.PROGRESS_DEADLINE_EXCEEDED, view.message)
        trouble = pod_trouble(self.world.pods, version)
        if trouble:
            return trouble
        backstop = timedelta(seconds=BACKSTOP_DEADLINES * self.spec.progress_deadline_seconds)
        if self.now - started > backstop:
            return Trouble(
                reasons.PROGRESS_DEADLINE_EXCEEDED,
                f"not available {int(backstop.total_seconds())} s after the rollout started",
            )
        return None

    def _waiting(self, view: DeploymentView, version: str) -> str:
        if not view.exists or view.version != version:
            return f"creating replicas of {version}"
        counts = f"{view.available}/{view.replicas} replicas available, {view.updated} updated"
        return f"{version}: {counts}"

    def _canary_status(
        self,
        step: int,
        stable: int,
        canary: int,
        step_started: datetime,
        pause_started: datetime | None,
        weight: int | None = None,
    ) -> None:
        self.status["canary"] = {
            "step": step,
            "weight": effective_weight(stable, canary) if weight is None else weight,
            "replicas": canary,
            "stepStartedAt": rfc3339(step_started),
            "pauseStartedAt": rfc3339(pause_started) if pause_started else None,
        }

    def _progressing(self, reason: str, message: str, unavailable: bool = False) -> None:
        ready = Cond("Ready", "False", reasons.UNAVAILABLE if unavailable else reason, message)
        self._set("Progressing", ready, progressing=Cond("Progressing", "True", reason, message))

    def _set(self, phase: str, ready: Cond, progressing: Cond | None) -> None:
        self.status["phase"] = phase
        conditions = [ready]
        if progressing is not None:
            conditions.append(progressing)
        self.plan.decision.conditions[:] = conditions

    def _finish(self) -> None:
        phase = self.status.get("phase")
        rolled_back = phase in ("RolledBack",) or (phase == "Failed" and self.held_back is not None)
        failed = self.status.get("failedVersion") or (
            self.old.failed_version.wire() if self.old.failed_version else None
        )
        if rolled_back and failed:
            cond = Cond(
                "RolledBack", "True", failed["reason"], f"{failed['name']}: {failed['message']}"
            )
        else:
            cond = Cond("RolledBack", "False", reasons.NOT_ROLLED_BACK, "")
        self.plan.decision.conditions.append(cond)
        stable, canary = self.world.stable, self.world.canary
        self.status["readyReplicas"] = stable.ready + canary.ready
        self.status["url"] = url(self.parent.name, self.parent.namespace)


def _phase(version: dict[str, Any]) -> str | None:
    return (version.get("status") or {}).get("phase")


def _ready_message(version: dict[str, Any]) -> str:
    for condition in (version.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return str(condition.get("message") or condition.get("reason") or "")
    return "not verified yet"


def _target(version: dict[str, Any]) -> Target:
    return Target(version["metadata"]["name"], ModelVersionSpec.model_validate(version["spec"]))


def _held_message(version: str, why: str) -> str:
    return f"{version} failed ({why}); it is not retried until the spec changes"
