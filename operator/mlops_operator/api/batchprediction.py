"""BatchPrediction: score a Dataset version (or Parquet/CSV files) with a ModelVersion, partition
by partition in an Indexed Job, into partitioned Parquet with lineage."""

from __future__ import annotations

from pydantic import Field

from .base import (
    MAX_URI,
    ApiModel,
    LocalObjectRef,
    Resources,
    StatusBase,
    Toleration,
    cel,
    validations,
)
from .dataset import DataSource
from .phases import BatchPredictionPhase
from .trainingjob import DatasetRef

MAX_PARTITIONS = 1000


class ModelSelector(ApiModel):
    """Which model scores: a ModelVersion, or whatever a ModelDeployment serves when the run
    starts (the version is then pinned in status.modelVersion for the whole run)."""

    model_version_ref: LocalObjectRef | None = None
    deployment_ref: LocalObjectRef | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.modelVersionRef) != has(self.deploymentRef)",
                "spec.model: set exactly one of modelVersionRef or deploymentRef",
            ),
        )
    }


class BatchInput(ApiModel):
    """What is scored: a Dataset version (its snapshot), or a source of Parquet/CSV files (one
    file, a directory ending in `/`, or a glob such as `s3://bucket/day=*/part-*.parquet`)."""

    dataset_ref: DatasetRef | None = None
    source: DataSource | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.datasetRef) != has(self.source)",
                "spec.input: set exactly one of datasetRef or source",
            ),
            cel(
                "!has(self.source) || !self.source.uri.startsWith('sklearn://')",
                "spec.input.source: sklearn:// sets are Dataset sources; use datasetRef",
            ),
        )
    }


class BatchPredictionSpec(ApiModel):
    model: ModelSelector
    input: BatchInput
    id_columns: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Input columns copied to every output row (e.g. a customer id).",
    )
    partitions: int = Field(
        default=1,
        ge=1,
        le=MAX_PARTITIONS,
        description="Indexed Job completions: each scores one contiguous share of the rows.",
    )
    parallelism: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARTITIONS,
        description="Partitions scored at once (default: all of them).",
    )
    backoff_limit_per_index: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a failed partition; the others are not redone.",
    )
    batch_rows: int = Field(
        default=65536,
        ge=1,
        le=10_000_000,
        description="Rows fed to the model at once inside a partition (bounds memory).",
    )
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    image: str | None = None
    resources: Resources | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.parallelism) || self.parallelism <= self.partitions",
                "spec.parallelism must not exceed spec.partitions",
            ),
        )
    }


class BatchDatasetLineage(ApiModel):
    name: str
    version: str


class BatchLineage(ApiModel):
    model_version: str
    model_sha256: str
    dataset: BatchDatasetLineage | None = None
    source_uri: str | None = Field(default=None, max_length=MAX_URI)


class BatchPredictionStatus(StatusBase):
    phase: BatchPredictionPhase | None = None
    job_name: str | None = None
    run: str | None = Field(default=None, description="The run's key (its output directory).")
    run_generation: int | None = Field(default=None, ge=0)
    partitions: int | None = Field(default=None, ge=0)
    partitions_done: int | None = Field(default=None, ge=0)
    partitions_failed: int | None = Field(default=None, ge=0)
    progress: str | None = Field(default=None, description="partitions done/total")
    pod_failures: int | None = Field(default=None, ge=0, description="Failed partition attempts.")
    rows: int | None = Field(default=None, ge=0)
    rows_per_second: float | None = Field(default=None, ge=0)
    output_uri: str | None = None
    lineage: BatchLineage | None = None
    started_at: str | None = None
    completed_at: str | None = None
    failure_reason: str | None = None


class BatchPrediction(ApiModel):
    spec: BatchPredictionSpec
    status: BatchPredictionStatus = Field(default_factory=BatchPredictionStatus)
