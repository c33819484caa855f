"""TrainingJob: fit an estimator (scikit-learn, XGBoost, LightGBM) or run the user's own training
container on a Dataset version, optionally as a hyperparameter search, and register the model."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from .base import (
    DNS_LABEL,
    MAX_MODEL_NAME,
    SHORT_SHA,
    ApiModel,
    FreeForm,
    Resources,
    StatusBase,
    Toleration,
    cel,
    validations,
)
from .modelversion import CLASSIFICATION, REGRESSION, Task
from .phases import TrainingJobPhase
from .search import Search, SearchStatus

# The allow-list: only these estimators can be trained, each with the module that holds its
# class; scikit-learn hyperparameters are checked against that class's own get_params().
CLASSIFIERS = {
    "LogisticRegression": "sklearn.linear_model",
    "RandomForestClassifier": "sklearn.ensemble",
    "GradientBoostingClassifier": "sklearn.ensemble",
    "HistGradientBoostingClassifier": "sklearn.ensemble",
    "DecisionTreeClassifier": "sklearn.tree",
    "KNeighborsClassifier": "sklearn.neighbors",
    "SVC": "sklearn.svm",
    "GaussianNB": "sklearn.naive_bayes",
    "XGBClassifier": "xgboost",
    "LGBMClassifier": "lightgbm",
}
REGRESSORS = {
    "LinearRegression": "sklearn.linear_model",
    "Ridge": "sklearn.linear_model",
    "Lasso": "sklearn.linear_model",
    "ElasticNet": "sklearn.linear_model",
    "RandomForestRegressor": "sklearn.ensemble",
    "GradientBoostingRegressor": "sklearn.ensemble",
    "HistGradientBoostingRegressor": "sklearn.ensemble",
    "DecisionTreeRegressor": "sklearn.tree",
    "KNeighborsRegressor": "sklearn.neighbors",
    "SVR": "sklearn.svm",
    "XGBRegressor": "xgboost",
    "LGBMRegressor": "lightgbm",
}
# Gradient-boosting libraries: their hyperparameters are checked against a table of our own
# (training/boosting_params.py), so the operator never imports them.
BOOSTING = frozenset({"XGBClassifier", "LGBMClassifier", "XGBRegressor", "LGBMRegressor"})
ESTIMATORS = (*CLASSIFIERS, *REGRESSORS)
Estimator = Literal[ESTIMATORS]  # type: ignore[valid-type]

ClassificationMetric = Literal["accuracy", "f1", "roc_auc", "precision", "recall"]
RegressionMetric = Literal["rmse", "mae", "r2"]
MetricName = Literal[ClassificationMetric, RegressionMetric]
CLASSIFICATION_METRICS: tuple[str, ...] = get_args(ClassificationMetric)
REGRESSION_METRICS: tuple[str, ...] = get_args(RegressionMetric)


def task_of(estimator: str) -> Task:
    return CLASSIFICATION if estimator in CLASSIFIERS else REGRESSION


def spec_task(spec: TrainingJobSpec) -> Task:
    """The task of a TrainingJob: its estimator's, or what its container declares."""
    if spec.container is not None:
        return spec.container.task
    return task_of(spec.estimator or "")


def trainer_name(spec: TrainingJobSpec) -> str:
    """The estimator, or `container:<image>` for the user's own training code."""
    return spec.estimator or f"container:{spec.container.image if spec.container else ''}"


class DatasetRef(ApiModel):
    name: str = Field(min_length=1, max_length=253, pattern=DNS_LABEL)
    version: str | None = Field(
        default=None,
        pattern=rf"^[a-f0-9]{{{SHORT_SHA},64}}$",
        description=f"Pin a Dataset version (sha256, or a unique prefix of at least {SHORT_SHA}).",
    )


class Preprocessing(ApiModel):
    scaling: Literal["none", "standard", "minmax"] = "none"
    one_hot_categoricals: bool = True


class Split(ApiModel):
    method: Literal["holdout", "kfold"] = "holdout"
    test_size: float = Field(default=0.2, gt=0, lt=1)
    folds: int = Field(default=5, ge=2, le=20)
    seed: int = Field(default=42, ge=0)
    stratify: bool = True


class Threshold(ApiModel):
    metric: MetricName
    min: float | None = None
    max: float | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.min) || has(self.max)", "a threshold needs min or max"),
        )
    }


def acceptance_failures(metrics: dict[str, float], thresholds: list[Threshold]) -> list[str]:
    """Each failed threshold as e.g. 'accuracy 0.81 < min 0.9'."""
    failures = []
    for t in thresholds:
        value = metrics.get(t.metric)
        if value is None:
            failures.append(f"{t.metric} was not computed, cannot check the threshold")
            continue
        if t.min is not None and value < t.min:
            failures.append(f"{t.metric} {value:.4g} < min {t.min:g}")
        if t.max is not None and value > t.max:
            failures.append(f"{t.metric} {value:.4g} > max {t.max:g}")
    return failures


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class EnvVar(ApiModel):
    name: str = Field(min_length=1, max_length=256, pattern=ENV_NAME)
    value: str | None = None
    value_from: FreeForm | None = Field(
        default=None, description="As in core/v1 EnvVar.valueFrom (secretKeyRef, ...)."
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!self.name.startsWith('MLOPS_')",
                "MLOPS_* variables are the training contract's; the operator sets them",
                ".name",
            ),
        )
    }


class TrainerContainer(ApiModel):
    """The user's own training code (docs/experiments.md, the container contract): it reads
    the Dataset snapshot and writes a model, its signature and metrics to MLOPS_OUTPUT_DIR;
    the operator checks, records and registers them as for a built-in estimator."""

    image: str = Field(min_length=1, max_length=512)
    command: list[str] | None = Field(default=None, max_length=64)
    args: list[str] | None = Field(default=None, max_length=256)
    env: list[EnvVar] | None = Field(default=None, max_length=64)
    task: Task = Field(description="What the model predicts: the metrics and outputs it has.")


class TrainingJobSpec(ApiModel):
    dataset_ref: DatasetRef
    model: str = Field(
        min_length=1,
        max_length=MAX_MODEL_NAME,
        pattern=DNS_LABEL,
        description="Registered model name.",
    )
    estimator: Estimator | None = Field(
        default=None, description="A built-in estimator; or set `container` instead."
    )
    container: TrainerContainer | None = Field(
        default=None,
        description="Your own training container instead of an estimator; `hyperparameters` "
        "(and a search's trial parameters) reach it as MLOPS_HYPERPARAMETERS.",
    )
    hyperparameters: FreeForm = Field(default_factory=dict)
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    target: str = Field(min_length=1, max_length=256)
    features: list[str] | None = Field(
        default=None, max_length=1000, description="Feature columns; default: all but the target."
    )
    split: Split = Field(default_factory=Split)
    max_rows: int | None = Field(
        default=None,
        ge=100,
        description="Train on at most this many rows: a larger Dataset version is sampled "
        "uniformly without replacement, seeded with split.seed (rows used, rows available and "
        "the seed are in the ModelVersion's lineage.dataset).",
    )
    metrics: list[MetricName] | None = Field(
        default=None, max_length=8, description="Default: every metric that fits the task."
    )
    acceptance: list[Threshold] = Field(default_factory=list, max_length=16)
    image: str | None = None
    resources: Resources | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    backoff_limit: int = Field(default=1, ge=0, le=10)
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    search: Search | None = Field(
        default=None,
        description="Search these hyperparameters (on top of `hyperparameters`): one Job per "
        "trial; the best trial that passes acceptance is registered.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.estimator) != has(self.container)",
                "set exactly one of estimator or container",
            ),
            cel(
                "!has(self.container) || !has(self.search) || !has(self.search.pruning) "
                "|| self.search.pruning.type == 'none'",
                "median pruning needs a built-in estimator (a container reports no per-fold "
                "scores while it runs)",
                ".search.pruning",
            ),
            cel(
                "!has(self.search) || !has(self.search.pruning) "
                "|| self.search.pruning.type == 'none' "
                "|| (has(self.split) && self.split.method == 'kfold')",
                "median pruning works on per-fold scores: set split.method to kfold",
                ".search.pruning",
            ),
        )
    }


class TrainingJobStatus(StatusBase):
    phase: TrainingJobPhase | None = None
    job_name: str | None = None
    attempts: int | None = Field(default=None, ge=0)
    start_time: str | None = None
    completion_time: str | None = None
    dataset_version: str | None = None
    metrics: dict[str, float] | None = None
    model_version: str | None = None
    failure_reason: str | None = None
    failure_message: str | None = None
    search: SearchStatus | None = None
    run_uri: str | None = Field(default=None, description="The run record in the store.")


class TrainingJob(ApiModel):
    spec: TrainingJobSpec
    status: TrainingJobStatus = Field(default_factory=TrainingJobStatus)
