"""Dataset: a versioned, validated and profiled snapshot of a data source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import MAX_URI, NORMALISED_URI, ApiModel, StatusBase, cel, validations
from .phases import DatasetPhase

SOURCE_URI = r"^(file|s3|https|sklearn)://.+"
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes")


class DataSource(ApiModel):
    uri: str = Field(
        pattern=SOURCE_URI,
        max_length=MAX_URI,
        description="file://, s3://, https:// or sklearn://iris|wine|breast_cancer|diabetes. "
        "A store URI must be in the object's namespace's part of the store; a file:// URI "
        "outside the store must be under one of the operator's allowed prefixes.",
        json_schema_extra=NORMALISED_URI,
    )
    format: Literal["csv", "parquet"] = "csv"
    s3_secret_ref: str | None = Field(
        default=None,
        description="Secret with endpoint, access and secret keys for s3:// sources.",
    )


class Column(ApiModel):
    name: str = Field(min_length=1, max_length=256)
    type: Literal["numeric", "categorical", "target"]


class DataSchema(ApiModel):
    columns: list[Column] = Field(min_length=1, max_length=1000)


class ValidationRule(ApiModel):
    name: str | None = Field(default=None, max_length=128)
    column: str = Field(min_length=1, max_length=256)
    check: Literal["notNull", "range", "allowedValues"]
    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(default=None, min_length=1, max_length=1000)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.check != 'range' || has(self.min) || has(self.max)",
                "a range rule needs min or max",
            ),
            cel(
                "self.check != 'allowedValues' || has(self.values)",
                "an allowedValues rule needs values",
            ),
            cel(
                "!has(self.min) || !has(self.max) || self.min <= self.max",
                "min must not exceed max",
            ),
        )
    }

    def display_name(self) -> str:
        return self.name or f"{self.column}:{self.check}"


class Validation(ApiModel):
    min_rows: int = Field(default=1, ge=0)
    rules: list[ValidationRule] = Field(default_factory=list, max_length=200)


class ProfileSettings(ApiModel):
    sample_size: int = Field(
        default=10000,
        ge=100,
        le=1_000_000,
        description="Rows kept per numeric feature as a sorted reference sample.",
    )
    bins: int = Field(default=20, ge=2, le=200, description="Histogram bins per numeric feature.")


class DatasetSpec(ApiModel):
    source: DataSource
    additional_sources: list[DataSource] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "More rows with exactly the columns of `source` (any order), appended to it: "
            "e.g. the labeled production rows of a monitor's window for a retrain. "
            "Reserved `mlops.*` columns are dropped."
        ),
    )
    schema_: DataSchema | None = Field(default=None, alias="schema")
    validation: Validation = Field(default_factory=Validation)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    refresh_interval_seconds: int | None = Field(
        default=None,
        ge=60,
        description="Re-read the source this often; new content becomes a new version.",
    )
    image: str | None = Field(default=None, description="Image of the profile Job.")
    partitions: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Snapshot and profile the source in this many partitions (an Indexed Job, "
        "rows streamed by row groups, then a merge Job): for Parquet sources bigger than one "
        "pod's memory. The snapshot is then a manifest.json of content-addressed parts. "
        "Unset: one profile Job reads the source whole.",
    )
    parallelism: int | None = Field(
        default=None, ge=1, le=1000, description="Partitions profiled at once; default: all."
    )
    backoff_limit_per_index: int | None = Field(
        default=None, ge=0, le=10, description="Retries of one failed partition (default 2)."
    )
    batch_rows: int | None = Field(
        default=None,
        ge=1000,
        le=10_000_000,
        description="Rows a partition holds at once (and per row group of its part); "
        "default 262144.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.partitions) || self.source.format == 'parquet'",
                "a partitioned Dataset reads Parquet: set spec.source.format to parquet "
                "(or unset spec.partitions)",
                ".partitions",
            ),
            cel(
                "!has(self.partitions) || !has(self.additionalSources) "
                "|| size(self.additionalSources) == 0",
                "spec.additionalSources are not read by a partitioned Dataset: unset one of them",
                ".partitions",
            ),
            cel(
                "!has(self.partitions) || !self.source.uri.startsWith('sklearn://')",
                "sklearn:// sets are small: unset spec.partitions",
                ".partitions",
            ),
            cel(
                "!has(self.parallelism) || (has(self.partitions) "
                "&& self.parallelism <= self.partitions)",
                "spec.parallelism needs spec.partitions and must not exceed it",
                ".parallelism",
            ),
        )
    }


class RuleResult(ApiModel):
    name: str
    passed: bool
    message: str = ""
    failing_rows: int | None = Field(default=None, ge=0)


class DatasetVersion(ApiModel):
    version: str
    rows: int = Field(ge=0)
    created_at: str
    snapshot_uri: str
    profile_uri: str


class SourceRows(ApiModel):
    uri: str
    rows: int = Field(ge=0)


class DatasetStatus(StatusBase):
    phase: DatasetPhase | None = None
    version: str | None = None
    rows: int | None = Field(default=None, ge=0)
    columns: int | None = Field(default=None, ge=0)
    snapshot_uri: str | None = None
    profile_uri: str | None = None
    sources: list[SourceRows] = Field(
        default_factory=list,
        max_length=21,
        description="What went into this version: each source and the rows it gave.",
    )
    validation: list[RuleResult] = Field(default_factory=list)
    history: list[DatasetVersion] = Field(default_factory=list, max_length=50)
    job_name: str | None = None
    last_profiled_at: str | None = None
    failure_reason: str | None = None
    profile_run: int | None = Field(
        default=None, ge=0, description="Bumped to re-read the source (refreshIntervalSeconds)."
    )
    completed_run: str | None = Field(default=None, description="generation/run last finished.")
    partitions: int | None = Field(
        default=None, ge=0, description="Partitions of the current partitioned run."
    )
    partitions_done: int | None = Field(default=None, ge=0)
    progress: str | None = Field(default=None, description="partitions done/total")
    pod_failures: int | None = Field(default=None, ge=0, description="Failed partition attempts.")


class Dataset(ApiModel):
    spec: DatasetSpec
    status: DatasetStatus = Field(default_factory=DatasetStatus)
