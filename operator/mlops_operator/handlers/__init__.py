"""Thin Kopf glue per kind: read, call reconcile/, carry out the decision. No rules here."""

from . import dataset, driftmonitor, modeldeployment, modelversion, settings, trainingjob

__all__ = [
    "dataset",
    "driftmonitor",
    "modeldeployment",
    "modelversion",
    "settings",
    "trainingjob",
]
