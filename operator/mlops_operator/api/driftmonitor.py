"""DriftMonitor: compare live or batch data to a reference profile and act on drift."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from .base import ApiModel, LocalObjectRef, StatusBase, cel, validations
from .trainingjob import DatasetRef, TrainingJobSpec

NumericTest = Literal["ks", "wasserstein", "psi"]
CategoricalTest = Literal["chisquare", "jensenshannon", "psi"]
Correction = Literal["none", "bonferroni", "fdr"]
NUMERIC_TESTS: tuple[str, ...] = get_args(NumericTest)
CATEGORICAL_TESTS: tuple[str, ...] = get_args(CategoricalTest)
CORRECTIONS: tuple[str, ...] = get_args(Correction)

# The defaults of a check: the spec's below, and `drift`'s when it is called without a spec.
NUMERIC_TEST: NumericTest = "ks"
CATEGORICAL_TEST: CategoricalTest = "chisquare"
CORRECTION: Correction = "none"
P_VALUE = 0.05
DISTANCE = 0.1  # Wasserstein (normalised) and Jensen-Shannon
PSI = 0.2
DRIFT_SHARE = 0.5
MIN_SAMPLES = 100
# Failed retrains kept in status.failedRetrains.
FAILED_RETRAINS_LIMIT = 100


class DriftTarget(ApiModel):
    deployment_ref: LocalObjectRef | None = None
    dataset_ref: LocalObjectRef | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.deploymentRef) != has(self.datasetRef)",
                "exactly one of deploymentRef or datasetRef must be set",
            ),
        )
    }


class Tests(ApiModel):
    numeric: NumericTest = NUMERIC_TEST
    categorical: CategoricalTest = CATEGORICAL_TEST


class Thresholds(ApiModel):
    p_value: float = Field(default=P_VALUE, gt=0, lt=1)
    distance: float = Field(default=DISTANCE, gt=0)
    psi: float = Field(default=PSI, gt=0)
    drift_share: float = Field(default=DRIFT_SHARE, gt=0, le=1)


class Window(ApiModel):
    rows: int | None = Field(default=10000, ge=1, le=10_000_000)
    duration_seconds: int | None = Field(default=None, ge=60)


class DriftAction(ApiModel):
    type: Literal["alert", "retrain"] = "alert"
    training_job_template: TrainingJobSpec | None = Field(
        default=None,
        description="Default: the TrainingJob that produced the served version.",
    )
    cooldown_seconds: int = Field(default=3600, ge=60)
    max_retrains: int = Field(default=3, ge=1, le=100, description="Cap on retrains triggered.")


class DriftMonitorSpec(ApiModel):
    target: DriftTarget
    reference: DatasetRef | None = Field(
        default=None,
        description="Default: the training profile of the served ModelVersion (deploymentRef) "
        "or the previous version of the Dataset (datasetRef).",
    )
    features: list[str] | None = Field(default=None, max_length=1000)
    tests: Tests = Field(default_factory=Tests)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    correction: Correction = CORRECTION
    window: Window = Field(default_factory=Window)
    min_samples: int = Field(default=MIN_SAMPLES, ge=1)
    interval_seconds: int = Field(default=300, ge=10, le=86400)
    action: DriftAction = Field(default_factory=DriftAction)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.action) || self.action.type != 'retrain' || "
                "has(self.action.trainingJobTemplate) || has(self.target.deploymentRef)",
                "action retrain on a datasetRef target needs action.trainingJobTemplate "
                "(there is no served model whose TrainingJob could be copied)",
                ".action",
            ),
        )
    }


class FeatureDrift(ApiModel):
    name: str
    test: str
    statistic: float
    p_value: float | None = None
    drifted: bool


class RetrainRecord(ApiModel):
    training_job: str
    at: str


class DriftMonitorStatus(StatusBase):
    last_check_time: str | None = None
    samples: int | None = Field(default=None, ge=0)
    reference_uri: str | None = None
    features: list[FeatureDrift] = Field(default_factory=list)
    drift_share: float | None = None
    last_retrain: RetrainRecord | None = None
    retrains_triggered: int | None = Field(default=None, ge=0)
    source_uri: str | None = Field(
        default=None, description="Samples directory or Dataset snapshot checked last."
    )
    failed_retrains: list[str] = Field(
        default_factory=list,
        max_length=FAILED_RETRAINS_LIMIT,
        description="Retrain TrainingJobs created by this monitor that ended Failed.",
    )


class DriftMonitor(ApiModel):
    spec: DriftMonitorSpec
    status: DriftMonitorStatus = Field(default_factory=DriftMonitorStatus)
