"""ModelDeployment: serve a ModelVersion with rolling or canary rollout and automatic rollback."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import (
    DNS_LABEL,
    MAX_MODEL_NAME,
    ApiModel,
    LocalObjectRef,
    Quantity,
    Resources,
    StatusBase,
    cel,
    validations,
)
from .phases import ModelDeploymentPhase, RevisionOutcome
from .trainingjob import CLASSIFICATION_METRICS, REGRESSION_METRICS, Threshold

# Revisions kept in status.history.
HISTORY_LIMIT = 10
# Request sampling for drift checks, unless the spec says otherwise (the model server's
# defaults too).
SAMPLE_RATE = 0.1
SAMPLE_BATCH_SIZE = 256
SAMPLE_FLUSH_SECONDS = 60
# Lost challengers kept in status.lostChallengers (never rolled out while listed there).
LOST_CHALLENGERS_LIMIT = 50
COMPARE_METRICS: tuple[str, ...] = CLASSIFICATION_METRICS + REGRESSION_METRICS
CompareMetric = Literal[COMPARE_METRICS]  # type: ignore[valid-type]


class Promotion(ApiModel):
    """Champion vs challenger: before a newer version replaces the serving one (policy
    latest), both are scored on the same data neither trained on, and the newer one rolls
    out only if it is not worse by more than `tolerance` (or, with `minImprovement`, only if
    it is better by at least that much)."""

    compare: bool = Field(default=True, description="false: roll the newest version out as is.")
    metric: CompareMetric | None = Field(
        default=None,
        description="Default: accuracy (classifiers) or rmse (regressors).",
    )
    tolerance: float = Field(
        default=0.0, ge=0, description="How much worse the challenger may score."
    )
    min_improvement: float | None = Field(
        default=None, ge=0, description="The challenger must score better by at least this."
    )


class ModelPolicy(ApiModel):
    """Continuous deployment: follow the newest Ready version of a model."""

    name: str = Field(min_length=1, max_length=MAX_MODEL_NAME, pattern=DNS_LABEL)
    policy: Literal["latest"] = "latest"
    acceptance: list[Threshold] = Field(
        default_factory=list,
        max_length=16,
        description="Only versions whose metrics pass every threshold are deployed.",
    )
    promotion: Promotion = Field(default_factory=Promotion)


class Autoscaling(ApiModel):
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    target_cpu_utilization_percentage: int = Field(default=80, ge=1, le=100)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("self.minReplicas <= self.maxReplicas", "minReplicas must not exceed maxReplicas"),
        )
    }


class RollingUpdate(ApiModel):
    max_surge: Quantity = "25%"
    max_unavailable: Quantity = 0


class CanaryStep(ApiModel):
    weight: int = Field(ge=1, le=100, description="Share of replicas on the new version, %.")
    pause_seconds: int = Field(default=60, ge=0, le=86400)


class PrometheusGate(ApiModel):
    address: str = Field(pattern=r"^https?://.+")
    query: str = Field(min_length=1, max_length=4096)
    max: float


class Analysis(ApiModel):
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1)
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    min_request_count: int = Field(default=0, ge=0)
    prometheus: PrometheusGate | None = None


class Canary(ApiModel):
    steps: list[CanaryStep] = Field(min_length=1, max_length=20)
    analysis: Analysis = Field(default_factory=Analysis)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.steps.map(s, s.weight).isSorted() && "
                "self.steps.all(s, self.steps.filter(t, t.weight == s.weight).size() == 1)",
                "canary step weights must be strictly increasing",
                ".steps",
            ),
        )
    }


class Strategy(ApiModel):
    type: Literal["RollingUpdate", "Canary"] = "RollingUpdate"
    rolling_update: RollingUpdate | None = None
    canary: Canary | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("self.type != 'Canary' || has(self.canary)", "a Canary strategy needs canary"),
            cel(
                "self.type != 'RollingUpdate' || !has(self.canary)",
                "canary is only allowed with type Canary",
            ),
        )
    }


class Sampling(ApiModel):
    rate: float = Field(
        default=SAMPLE_RATE, ge=0, le=1, description="Share of requests logged for drift."
    )
    batch_size: int = Field(
        default=SAMPLE_BATCH_SIZE, ge=1, le=100000, description="Rows per sample file."
    )
    flush_seconds: int = Field(
        default=SAMPLE_FLUSH_SECONDS,
        ge=1,
        le=3600,
        description="A partial sample file is written when its oldest row is this old.",
    )


class Retention(ApiModel):
    """How long the request samples, predictions and labels of the deployment are kept in
    the store (docs/storage.md). Unset fields take the operator's defaults (chart values
    store.retention.*). The hour being written is never removed."""

    max_age_hours: int | None = Field(
        default=None,
        ge=1,
        le=87600,
        description="Hour partitions that ended longer ago than this are removed.",
    )
    max_size_mib: int | None = Field(
        default=None,
        ge=1,
        le=104857600,
        description="Oldest hour partitions are removed until the deployment's records "
        "(samples of every version and labels) fit in this size.",
    )


class ModelDeploymentSpec(ApiModel):
    model_version_ref: LocalObjectRef | None = None
    model: ModelPolicy | None = None
    replicas: int = Field(default=1, ge=0, le=1000)
    autoscaling: Autoscaling | None = None
    image: str | None = None
    resources: Resources | None = None
    strategy: Strategy = Field(default_factory=Strategy)
    progress_deadline_seconds: int = Field(default=600, ge=10, le=86400)
    sampling: Sampling = Field(default_factory=Sampling)
    retention: Retention | None = Field(
        default=None,
        description="Age and size limits of the samples and labels; default: the operator's.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.modelVersionRef) != has(self.model)",
                "exactly one of modelVersionRef or model must be set",
            ),
        )
    }


class CanaryStatus(ApiModel):
    step: int = Field(
        ge=0, description="Index into spec.strategy.canary.steps; = len(steps) while promoting."
    )
    weight: int = Field(
        ge=0, le=100, description="Share of serving replicas on the new version, %."
    )
    replicas: int | None = Field(default=None, ge=0)
    step_started_at: str | None = None
    pause_started_at: str | None = Field(
        default=None, description="When the step's canary replicas were all available."
    )


class FailedVersion(ApiModel):
    name: str
    reason: str
    message: str = ""
    spec_generation: int | None = Field(
        default=None, description="Not retried while metadata.generation equals this."
    )
    at: str | None = None


class Revision(ApiModel):
    version: str
    outcome: RevisionOutcome
    at: str
    reason: str = ""


class ChallengeValue(ApiModel):
    name: str
    value: float | None = None


class ChallengeData(ApiModel):
    uri: str
    kind: Literal["production-holdout", "dataset-holdout"]
    rows: int | None = Field(default=None, ge=0)


class Challenge(ApiModel):
    """A champion/challenger comparison: the serving version against a newer one."""

    champion: ChallengeValue
    challenger: ChallengeValue
    metric: str
    verdict: Literal["Comparing", "Won", "Lost", "Failed"]
    data: ChallengeData | None = None
    message: str = ""
    at: str | None = None


class ModelDeploymentStatus(StatusBase):
    phase: ModelDeploymentPhase | None = None
    serving_version: str | None = None
    previous_good_version: str | None = None
    target_version: str | None = None
    failed_version: FailedVersion | None = None
    canary: CanaryStatus | None = None
    rollout_started_at: str | None = None
    history: list[Revision] = Field(default_factory=list, max_length=HISTORY_LIMIT)
    url: str | None = None
    ready_replicas: int | None = None
    challenge: Challenge | None = None
    lost_challengers: list[str] = Field(
        default_factory=list,
        max_length=LOST_CHALLENGERS_LIMIT,
        description="Versions that lost to the champion: not rolled out.",
    )


class ModelDeployment(ApiModel):
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)
