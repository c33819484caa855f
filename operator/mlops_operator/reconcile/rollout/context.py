"""What one pass of the rollout reads (`Seen`) and what it builds (`Rollout`, `Plan`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from ...api.modeldeployment import ModelDeployment, ModelDeploymentSpec, ModelDeploymentStatus
from ...config import OperatorConfig
from ..analysis import Judgement
from ..decision import Decision
from ..observed import DeploymentView
from ..serving import Parent, split_replicas


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
    judgement: Judgement | None = None  # the canary analysis, read when `analysis_due` said so
    # The champion/challenger comparison, read when `comparison_due` said so (its type lives
    # in rollout/challenge.py, which imports this module).
    comparison: Any = None


@dataclass
class Plan:
    decision: Decision
    rolled_back: bool = False  # this pass rolled a version back (the ROLLBACKS metric counts it)
    # (ModelVersion name, status patch): a challenger's verdict, written to its own status
    version_status: tuple[str, dict[str, Any]] | None = None


@dataclass
class Seen:
    """The resource and its world at one instant: everything a decision reads."""

    spec: ModelDeploymentSpec
    old: ModelDeploymentStatus
    generation: int
    world: World
    now: datetime
    versions: dict[str, dict[str, Any]] = field(init=False)
    held_back: str | None = field(init=False)  # the failed version, while the spec is unchanged

    def __post_init__(self) -> None:
        self.versions = {v["metadata"]["name"]: v for v in self.world.versions}
        failed = self.old.failed_version
        self.held_back = (
            failed.name if failed and failed.spec_generation == self.generation else None
        )

    @classmethod
    def read(cls, body: dict[str, Any], world: World, now: datetime, **extra: Any) -> Self:
        """Raises pydantic's ValidationError for a spec or status the models refuse."""
        resource = ModelDeployment.model_validate(
            {"spec": body.get("spec") or {}, "status": body.get("status") or {}}
        )
        generation = int(body["metadata"].get("generation") or 1)
        return cls(resource.spec, resource.status, generation, world, now, **extra)

    def total(self) -> int:
        scaling = self.spec.autoscaling
        if scaling is None:
            return self.spec.replicas
        return max(self.world.stable.replicas, scaling.min_replicas)

    def split(self, weight: int) -> tuple[int, int]:
        """(stable, canary) replicas; with an autoscaler the stable count is the HPA's."""
        if self.spec.autoscaling is None:
            return split_replicas(self.spec.replicas, weight)
        stable = self.total()
        if weight >= 100:
            return stable, stable
        return stable, max(1, -(-stable * weight // (100 - weight)))


@dataclass
class Rollout(Seen):
    """One pass of the state machine: what it read, and the Plan it builds as it goes."""

    config: OperatorConfig = field(kw_only=True)
    parent: Parent = field(kw_only=True)
    plan: Plan = field(default_factory=lambda: Plan(Decision()), kw_only=True)

    @property
    def decision(self) -> Decision:
        return self.plan.decision

    @property
    def status(self) -> dict[str, Any]:
        return self.plan.decision.status

    def wake_at(self, moment: datetime) -> None:
        """Time is the next trigger: look again at `moment` (the earliest wake-up wins)."""
        self.decision.look_again_in((moment - self.now).total_seconds())
