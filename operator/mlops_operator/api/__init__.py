"""The mlops.dev/v1alpha1 API: one module per kind; CRDs are generated from these models."""

from .dataset import Dataset, DatasetSpec, DatasetStatus
from .driftmonitor import DriftMonitor, DriftMonitorSpec, DriftMonitorStatus
from .kinds import KINDS, Kind, by_kind
from .modeldeployment import ModelDeployment, ModelDeploymentSpec, ModelDeploymentStatus
from .modelversion import ModelVersion, ModelVersionSpec, ModelVersionStatus
from .trainingjob import TrainingJob, TrainingJobSpec, TrainingJobStatus

__all__ = [
    "KINDS",
    "Dataset",
    "DatasetSpec",
    "DatasetStatus",
    "DriftMonitor",
    "DriftMonitorSpec",
    "DriftMonitorStatus",
    "Kind",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelVersion",
    "ModelVersionSpec",
    "ModelVersionStatus",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "by_kind",
]
