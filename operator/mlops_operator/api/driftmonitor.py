"""DriftMonitor: compare live or batch data to a reference profile and act on drift."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from .base import MAX_URI, NORMALISED_URI, ApiModel, LocalObjectRef, StatusBase, cel, validations
from .trainingjob import CLASSIFICATION_METRICS, REGRESSION_METRICS, DatasetRef, TrainingJobSpec

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
# Performance monitoring: labeled predictions needed before a verdict, and how much worse
# than its training metric a served model may become before it counts as degraded.
MIN_LABELED = 100
MAX_DROP = 0.05
PERFORMANCE_METRICS: tuple[str, ...] = CLASSIFICATION_METRICS + REGRESSION_METRICS
PerformanceMetric = Literal[PERFORMANCE_METRICS]  # type: ignore[valid-type]
Trigger = Literal["drift", "performance"]
ProductionData = Literal["append", "replace", "none"]


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


class LabelsSource(ApiModel):
    """Ground truth that arrives in bulk, from elsewhere: CSV or Parquet files with an id and
    a label column (one file, or a directory of them)."""

    uri: str = Field(
        pattern=r"^(file|s3)://.+",
        max_length=MAX_URI,
        description="In the monitor's namespace's part of the store, under an allowed file:// "
        "prefix of the operator, or an s3:// location outside the store.",
        json_schema_extra=NORMALISED_URI,
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        default="auto", description="auto: by each file's extension."
    )
    id_column: str = Field(default="id", min_length=1, max_length=256)
    label_column: str = Field(default="label", min_length=1, max_length=256)


class PerformanceThresholds(ApiModel):
    """When the served model counts as degraded. `min`/`max` are absolute bounds of the
    metric; `maxDrop` is how much worse than the served version's own training metric it may
    become (in the metric's units; for rmse/mae, worse means higher)."""

    min: float | None = Field(default=None, description="Degraded below this.")
    max: float | None = Field(default=None, description="Degraded above this (rmse, mae).")
    max_drop: float | None = Field(default=MAX_DROP, ge=0)


class Performance(ApiModel):
    """Model performance: predictions joined with ground truth by prediction id."""

    metric: PerformanceMetric | None = Field(
        default=None,
        description="The metric judged; default accuracy (classifiers) or rmse (regressors).",
    )
    min_labeled: int = Field(
        default=MIN_LABELED, ge=1, description="Labeled predictions needed before a verdict."
    )
    thresholds: PerformanceThresholds = Field(default_factory=PerformanceThresholds)
    labels: LabelsSource | None = Field(
        default=None,
        description="A bulk labels source, read besides the labels sent to the feedback API.",
    )


class DriftAction(ApiModel):
    type: Literal["alert", "retrain"] = "alert"
    triggers: list[Trigger] | None = Field(
        default=None,
        max_length=2,
        description="What starts a retrain. Default: performance when spec.performance is "
        "set, else drift.",
    )
    production_data: ProductionData = Field(
        default="append",
        description="The labeled production rows of the window in the retrain's Dataset: "
        "appended to the reference data, replacing it, or none.",
    )
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
    performance: Performance | None = None
    action: DriftAction = Field(default_factory=DriftAction)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.performance) || has(self.target.deploymentRef)",
                "performance needs a deploymentRef target (predictions are what it judges)",
                ".performance",
            ),
            cel(
                "!has(self.action) || !has(self.action.triggers) || has(self.performance) || "
                "!self.action.triggers.exists(t, t == 'performance')",
                "action.triggers names performance, which needs spec.performance",
                ".action",
            ),
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
    dataset: str | None = Field(default=None, description="The Dataset made for the retrain.")
    trigger: Trigger | None = None


class PredictionDrift(ApiModel):
    test: str
    statistic: float
    p_value: float | None = None
    drifted: bool


class WindowWritten(ApiModel):
    """The labeled production rows written for a retrain (artifacts/records.is_holdout)."""

    uri: str
    train_rows: int = Field(ge=0)
    holdout_rows: int = Field(ge=0)


class PerformanceStatus(ApiModel):
    version: str = Field(description="The served ModelVersion judged.")
    metric: str
    realized: float | None = Field(default=None, description="From labeled predictions.")
    estimated: float | None = Field(default=None, description="Label-free, from probabilities.")
    training: float | None = Field(default=None, description="The version's training metric.")
    labeled: int = Field(default=0, ge=0)
    predictions: int = Field(default=0, ge=0)
    unknown_labels: int = Field(default=0, ge=0, description="Labels of no known prediction.")
    realized_metrics: dict[str, float] = Field(default_factory=dict)
    estimated_metrics: dict[str, float] = Field(default_factory=dict)
    prediction_drift: PredictionDrift | None = None
    window: WindowWritten | None = None


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
    performance: PerformanceStatus | None = None


class DriftMonitor(ApiModel):
    spec: DriftMonitorSpec
    status: DriftMonitorStatus = Field(default_factory=DriftMonitorStatus)
