"""Thin Kopf glue per kind: read, call reconcile/, carry out the decision. No rules here."""

from . import dataset, modelversion, settings, trainingjob

__all__ = ["dataset", "modelversion", "settings", "trainingjob"]
