"""ModelVersion: an immutable, verified model artifact with its lineage."""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import Field

from .base import (
    DNS_LABEL,
    MAX_MODEL_NAME,
    MAX_URI,
    NORMALISED_URI,
    SHA256,
    ApiModel,
    FreeForm,
    StatusBase,
    cel,
    validations,
)
from .phases import ModelVersionPhase

Datatype = Literal["BOOL", "INT32", "INT64", "FP32", "FP64", "BYTES"]

Task = Literal["classification", "regression"]
CLASSIFICATION: Final = "classification"
REGRESSION: Final = "regression"
TASKS: tuple[str, ...] = get_args(Task)

ModelFormat = Literal["onnx", "skops"]
ONNX: Final = "onnx"
SKOPS: Final = "skops"
MODEL_FORMATS: tuple[str, ...] = get_args(ModelFormat)

# The model contract: a classifier's outputs, and a regressor's.
LABEL: Final = "label"
PROBABILITIES: Final = "probabilities"
VARIABLE: Final = "variable"


class Artifact(ApiModel):
    uri: str = Field(
        pattern=r"^(file|s3)://.+",
        max_length=MAX_URI,
        description="In the store, in the ModelVersion's namespace's part of it.",
        json_schema_extra=NORMALISED_URI,
    )
    format: ModelFormat
    sha256: str = Field(pattern=SHA256)


class TensorSpec(ApiModel):
    name: str = Field(min_length=1, max_length=256)
    datatype: Datatype
    shape: list[int] = Field(default_factory=lambda: [-1], max_length=8)
    allow_missing: bool | None = Field(
        default=None,
        description=(
            "Whether NaN in this input is a missing value the model handles (an imputer, or "
            "native missing-value support). Unset: what the model itself shows. Infinity is "
            "never accepted."
        ),
    )


class Signature(ApiModel):
    inputs: list[TensorSpec] = Field(min_length=1, max_length=1000)
    outputs: list[TensorSpec] = Field(default_factory=list, max_length=16)
    class_labels: list[str] | None = Field(default=None, max_length=10000)


class DatasetLineage(ApiModel):
    name: str
    version: str
    rows_available: int | None = Field(default=None, ge=0, description="Rows of the version.")
    rows_sampled: int | None = Field(
        default=None, ge=0, description="Rows trained on, when the TrainingJob's maxRows sampled."
    )
    sample_seed: int | None = Field(default=None, ge=0, description="The sample's seed.")


class ProductionWindow(ApiModel):
    """Labeled production rows a retrain learned from (written by a DriftMonitor)."""

    monitor: str
    uri: str = Field(
        max_length=MAX_URI,
        description="The window's directory: train.parquet and holdout.parquet.",
        json_schema_extra=NORMALISED_URI,
    )
    rows: int | None = Field(default=None, ge=0, description="Rows trained on.")
    holdout_rows: int | None = Field(default=None, ge=0)
    written_at: str | None = None


class SearchLineage(ApiModel):
    """Which trial of which search a ModelVersion comes from."""

    trial: int = Field(ge=0)
    trials: int = Field(ge=1, description="Trials the search ran.")
    algorithm: str
    objective: str
    value: float
    report_uri: str | None = Field(
        default=None, max_length=MAX_URI, json_schema_extra=NORMALISED_URI
    )


class MlflowLineage(ApiModel):
    """The MLflow registered model version this ModelVersion is (created by the training pod
    when a tracking server is configured)."""

    registered_model: str = Field(min_length=1, max_length=512)
    version: str = Field(min_length=1, max_length=64)
    run_id: str | None = Field(default=None, max_length=64)


class Lineage(ApiModel):
    training_job: str | None = None
    dataset: DatasetLineage | None = None
    image: str | None = None
    image_digest: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]+:[0-9a-f]{32,}$",
        description="The digest of the image that trained, from the finished pod's status.",
    )
    profile_uri: str | None = Field(
        default=None,
        max_length=MAX_URI,
        description="Reference profile of the training data, used by drift checks.",
        json_schema_extra=NORMALISED_URI,
    )
    production_window: ProductionWindow | None = None
    target: str | None = Field(default=None, description="The training data's label column.")
    search: SearchLineage | None = Field(
        default=None, description="The hyperparameter search this version won."
    )
    run_uri: str | None = Field(
        default=None,
        max_length=MAX_URI,
        description="The training run's record.",
        json_schema_extra=NORMALISED_URI,
    )
    mlflow: MlflowLineage | None = Field(
        default=None, description="The MLflow registered model version of this ModelVersion."
    )


class ModelVersionSpec(ApiModel):
    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME, pattern=DNS_LABEL)
    version: int = Field(ge=1)
    task: Task
    artifact: Artifact
    signature: Signature
    estimator: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    params: FreeForm = Field(default_factory=dict)
    lineage: Lineage = Field(default_factory=Lineage)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("self == oldSelf", "ModelVersion spec is immutable; register a new version"),
        )
    }


class VersionChallenge(ApiModel):
    """This version as a challenger of a deployment's serving version (written by the
    ModelDeployment that compared them)."""

    deployment: str
    champion: str
    metric: str
    champion_value: float | None = None
    challenger_value: float | None = None
    verdict: str
    data: str | None = None
    at: str | None = None


class ModelVersionStatus(StatusBase):
    phase: ModelVersionPhase | None = None
    verified_sha256: str | None = None
    verified_at: str | None = None
    challenge: VersionChallenge | None = None


class ModelVersion(ApiModel):
    spec: ModelVersionSpec
    status: ModelVersionStatus = Field(default_factory=ModelVersionStatus)
