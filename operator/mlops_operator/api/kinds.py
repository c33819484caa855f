"""The table of kinds: names, models and what `kubectl get` shows for each; and the built-in
kinds the operator creates or reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import BaseModel

from .. import GROUP
from .batchprediction import BatchPrediction
from .conditions import DRIFTED, PERFORMANCE_DEGRADED, READY
from .dataset import Dataset
from .driftmonitor import DriftMonitor
from .modeldeployment import ModelDeployment
from .modelversion import ModelVersion
from .trainingjob import TrainingJob


class BuiltinKind(NamedTuple):
    """A Kubernetes kind of the operator's children (and their pods)."""

    api_version: str
    kind: str


JOB = BuiltinKind("batch/v1", "Job")
DEPLOYMENT = BuiltinKind("apps/v1", "Deployment")
SERVICE = BuiltinKind("v1", "Service")
POD = BuiltinKind("v1", "Pod")
HORIZONTAL_POD_AUTOSCALER = BuiltinKind("autoscaling/v2", "HorizontalPodAutoscaler")


def kind_label(kind: str) -> str:
    """The label every child of a `kind` object carries: mlops.dev/<kind in lower case>."""
    return f"{GROUP}/{kind.lower()}"


def condition_column(type_: str) -> dict[str, str | int]:
    """A printer column showing the status of condition `type_`, named after it."""
    return {
        "name": type_,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{type_}")].status',
    }


READY_COLUMN = condition_column(READY)
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short: str
    model: type[BaseModel]
    columns: list[dict[str, str | int]] = field(default_factory=list)
    # More short names, kept for compatibility: kubectl resolves a built-in resource first,
    # so an alias a built-in also uses is reachable only with the group (`ds.mlops.dev`).
    aliases: tuple[str, ...] = ()

    @property
    def short_names(self) -> list[str]:
        """The CRD's shortNames: `short` first (the one that works alone), then the aliases."""
        return [self.short, *self.aliases]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def label(self) -> str:
        """The label every child carries: mlops.dev/<kind>: <name>."""
        return kind_label(self.kind)


def _col(name: str, path: str, type_: str = "string", priority: int = 0) -> dict[str, str | int]:
    column: dict[str, str | int] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


# `ds` is apps/v1 DaemonSet's short name and kubectl resolves built-ins first, so Dataset's
# own is `dset`; `ds` stays as an alias (`kubectl get ds.mlops.dev` still works).
DATASET = Kind(
    "Dataset",
    "datasets",
    "dset",
    Dataset,
    [
        _col("Version", ".status.version"),
        _col("Rows", ".status.rows", "integer"),
        _col("Phase", ".status.phase", priority=1),
        _col("Source", ".spec.source.uri", priority=1),
    ],
    aliases=("ds",),
)
TRAINING_JOB = Kind(
    "TrainingJob",
    "trainingjobs",
    "tj",
    TrainingJob,
    [
        _col("Phase", ".status.phase"),
        _col("Model", ".spec.model"),
        _col("ModelVersion", ".status.modelVersion"),
        _col("Trials", ".status.search.progress"),
        _col("Best", ".status.search.bestValue", "number"),
        _col("Estimator", ".spec.estimator", priority=1),
        _col("Objective", ".status.search.objective", priority=1),
        _col("Reason", ".status.failureReason", priority=1),
    ],
)
MODEL_VERSION = Kind(
    "ModelVersion",
    "modelversions",
    "mv",
    ModelVersion,
    [
        _col("Model", ".spec.model"),
        _col("Version", ".spec.version", "integer"),
        _col("Format", ".spec.artifact.format"),
        _col("Challenge", ".status.challenge.verdict"),
        _col("Champion", ".status.challenge.championValue", "number", priority=1),
        _col("Challenger", ".status.challenge.challengerValue", "number", priority=1),
        _col("Dataset", ".spec.lineage.dataset.name", priority=1),
        _col("TrainingJob", ".spec.lineage.trainingJob", priority=1),
    ],
)
MODEL_DEPLOYMENT = Kind(
    "ModelDeployment",
    "modeldeployments",
    "mdep",
    ModelDeployment,
    [
        _col("Phase", ".status.phase"),
        _col("Serving", ".status.servingVersion"),
        _col("Target", ".status.targetVersion"),
        _col("Canary", ".status.canary.weight", "integer"),
        _col("Failed", ".status.failedVersion.name"),
        _col("Challenge", ".status.challenge.verdict", priority=1),
        _col("URL", ".status.url", priority=1),
    ],
)
DRIFT_MONITOR = Kind(
    "DriftMonitor",
    "driftmonitors",
    "dm",
    DriftMonitor,
    [
        condition_column(DRIFTED),
        _col("Share", ".status.driftShare", "number"),
        condition_column(PERFORMANCE_DEGRADED),
        _col("Metric", ".status.performance.metric"),
        _col("Realized", ".status.performance.realized", "number"),
        _col("Estimated", ".status.performance.estimated", "number"),
        _col("Labeled", ".status.performance.labeled", "integer", priority=1),
        _col("Samples", ".status.samples", "integer", priority=1),
        _col("LastCheck", ".status.lastCheckTime", "date", priority=1),
    ],
)

BATCH_PREDICTION = Kind(
    "BatchPrediction",
    "batchpredictions",
    "bp",
    BatchPrediction,
    [
        _col("Phase", ".status.phase"),
        _col("Progress", ".status.progress"),
        _col("Rows", ".status.rows", "integer"),
        _col("Rows/s", ".status.rowsPerSecond", "number"),
        _col("ModelVersion", ".status.lineage.modelVersion"),
        _col("Output", ".status.outputUri", priority=1),
        _col("Reason", ".status.failureReason", priority=1),
    ],
)

KINDS: tuple[Kind, ...] = (
    DATASET,
    TRAINING_JOB,
    MODEL_VERSION,
    MODEL_DEPLOYMENT,
    DRIFT_MONITOR,
    BATCH_PREDICTION,
)


def by_kind(name: str) -> Kind:
    for kind in KINDS:
        if kind.kind == name:
            return kind
    raise KeyError(name)
