"""Thin Kopf glue: the watch events, the work queue, and one reconcile per kind. No rules here."""

from . import (
    controllers,
    dataset,
    driftmonitor,
    modeldeployment,
    modelversion,
    settings,
    storage,
    trainingjob,
)

__all__ = [
    "controllers",
    "dataset",
    "driftmonitor",
    "modeldeployment",
    "modelversion",
    "settings",
    "storage",
    "trainingjob",
]
