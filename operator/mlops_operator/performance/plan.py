"""What a model performance check computes (`PerformancePlan`) and what it found
(`PerformanceOutcome`).

Plain data, no I/O, like `drift.plan`: reconcile/ decides the plan and judges the outcome
(thresholds, conditions, retrains); `performance.window.run_performance_check` reads the
store and computes in between. See docs/performance.md, "How it is computed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Task = Literal["classification", "regression"]
LabelsFormat = Literal["auto", "csv", "parquet"]
# What went wrong, when something did: the sample files ("samples"), a labels file or the bulk
# labels source ("labels"), the reference profile ("reference"), writing the production
# window ("window").
Failure = Literal["samples", "labels", "reference", "window"]

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "f1", "roc_auc", "precision", "recall")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
# What the label-free estimate (CBPE) gives for a classifier.
ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "f1", "precision", "recall")
# Metrics where a lower value is better (the rest: higher is better).
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})

MIN_LABELED = 100
P_VALUE = 0.05


@dataclass(frozen=True)
class LabelsSource:
    """A bulk labels source: one CSV/Parquet file or a directory of them (file://, s3://)."""

    uri: str
    format: LabelsFormat = "auto"  # auto: by each file's extension
    id_column: str = "id"
    label_column: str = "label"


@dataclass(frozen=True)
class WindowTarget:
    """Where to write the labeled production rows of the window, for a retrain."""

    uri: str  # the production window directory (artifacts.paths.production_window)
    features: tuple[str, ...]  # the feature columns to keep, in this order
    target: str  # the name of the label column: the training dataset's target


@dataclass(frozen=True)
class PerformancePlan:
    """Everything a performance check needs, decided by reconcile/."""

    namespace: str
    deployment: str
    version: str  # the ModelVersion whose predictions are checked
    samples_uri: str  # samples_dir(ns, deployment, version) under the store root
    labels_uri: str  # labels_dir(ns, deployment) under the store root
    task: Task
    metrics: tuple[str, ...] = ()  # empty: every metric of the task
    labels_source: LabelsSource | None = None  # bulk labels, read beside the labels files
    since: datetime | None = None  # sample files written at or after this moment
    rows: int | None = None  # newest predictions kept
    min_labeled: int = MIN_LABELED  # fewer labeled predictions: no realized metrics
    training_metrics: dict[str, float] = field(default_factory=dict)
    reference_uri: str | None = None  # the training Dataset's profile.json
    target: str | None = None  # the target column in that profile
    p_value: float = P_VALUE  # prediction drift when its p-value is below this
    write_window: WindowTarget | None = None


@dataclass(frozen=True)
class PredictionDrift:
    """Predicted classes (chi-square) or values (KS) against training's target."""

    test: str  # "chisquare" | "ks"
    statistic: float
    p_value: float
    drifted: bool


@dataclass(frozen=True)
class WrittenWindow:
    uri: str  # the directory holding train.parquet and holdout.parquet
    train_rows: int
    holdout_rows: int
    start: datetime | None  # the oldest labeled prediction written
    end: datetime | None  # the newest


@dataclass(frozen=True)
class PerformanceOutcome:
    predictions: int = 0  # prediction rows in the window (duplicates included)
    files: int = 0  # sample files read
    labels_read: int = 0  # label rows read (labels files + bulk source)
    labeled: int = 0  # predictions joined with a valid label
    unknown_labels: int = 0  # labels whose id matches no prediction of the window
    duplicate_ids: int = 0  # prediction rows dropped because their id came earlier
    invalid_labels: int = 0  # labels that do not coerce to the prediction's type
    realized: dict[str, float] = field(default_factory=dict)  # empty below min_labeled
    estimated: dict[str, float] = field(default_factory=dict)  # classifiers with probabilities
    # whether the estimate's probabilities were first calibrated on the window's labeled rows
    # (isotonic, when at least estimate.MIN_CALIBRATION_ROWS of every class are labeled)
    estimate_calibrated: bool = False
    # realized minus the version's training metric, for the metrics both have
    vs_training: dict[str, float] = field(default_factory=dict)
    prediction_drift: PredictionDrift | None = None  # None: no reference, or no target in it
    window: WrittenWindow | None = None  # None: not asked, or no labeled rows
    failure: Failure | None = None
    message: str = ""

    @property
    def verdict(self) -> bool:
        """Whether realized metrics exist (enough labeled predictions, no failure)."""
        return self.failure is None and bool(self.realized)
