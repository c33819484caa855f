"""Thin Kopf glue: the watch events, the work queue, and one reconcile per kind. No rules here."""

from . import (
    controllers,
    dataset,
    driftmonitor,
    leadership,  # after controllers and storage: its startup starts theirs when it leads
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
    "leadership",
    "modeldeployment",
    "modelversion",
    "settings",
    "storage",
    "trainingjob",
]
