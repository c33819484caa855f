"""Which objects a change wakes: the one place that says who depends on whom.

A reconcile is a function of an object and what it observes; when any of that changes, the
object must be reconciled again. Children (Jobs, Deployments, Services, Pods, autoscalers,
retrain TrainingJobs) name their owner by label and owner reference. Between our own kinds:

  Dataset          -> TrainingJobs that train on it, DriftMonitors that watch or compare it
  ModelVersion     -> ModelDeployments that pin it or follow its model; DriftMonitors of
                      deployments (the served version's profile is their reference)
  ModelDeployment  -> DriftMonitors that watch it
  Dataset, ModelVersion, ModelDeployment -> BatchPredictions that score with / read them
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import API_VERSION
from ..api.kinds import (
    BATCH_PREDICTION,
    DATASET,
    DRIFT_MONITOR,
    KINDS,
    MODEL_DEPLOYMENT,
    MODEL_VERSION,
    TRAINING_JOB,
)

Key = tuple[str, str, str]  # (kind, namespace, name) of one of our objects
# The objects of one of our kinds in a namespace, as last seen.
Lookup = Callable[[str, str], Iterable[dict[str, Any]]]

_BY_LABEL = {kind.label: kind.kind for kind in KINDS}
_OURS = {kind.kind for kind in KINDS}


def owners(child: dict[str, Any]) -> set[Key]:
    """The objects of ours a child belongs to, by its mlops.dev/<kind> labels and owner refs."""
    meta = child.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    found: set[Key] = set()
    for label, value in (meta.get("labels") or {}).items():
        kind = _BY_LABEL.get(label)
        if kind is not None and value:
            found.add((kind, namespace, value))
    for ref in meta.get("ownerReferences") or []:
        if ref.get("apiVersion") == API_VERSION and ref.get("kind") in _OURS:
            found.add((ref["kind"], namespace, ref.get("name") or ""))
    return found


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _name(ref: Any) -> str | None:
    return ref.get("name") if isinstance(ref, dict) else None


def _keys(kind: str, namespace: str, objects: Iterable[dict[str, Any]]) -> set[Key]:
    return {(kind, namespace, o["metadata"]["name"]) for o in objects}


def dependents(changed: dict[str, Any], lookup: Lookup) -> set[Key]:
    """Our objects that read `changed` (one of our kinds) while they reconcile."""
    meta = changed.get("metadata") or {}
    namespace, name, kind = meta.get("namespace") or "", meta.get("name"), changed.get("kind")
    woken: set[Key] = set()
    if kind == DATASET.kind:
        trainers = [
            t
            for t in lookup(TRAINING_JOB.kind, namespace)
            if _name(_spec(t).get("datasetRef")) == name
        ]
        monitors = [
            m
            for m in lookup(DRIFT_MONITOR.kind, namespace)
            if name
            in (
                _name((_spec(m).get("target") or {}).get("datasetRef")),
                _name(_spec(m).get("reference")),
            )
        ]
        woken |= _keys(TRAINING_JOB.kind, namespace, trainers)
        woken |= _keys(DRIFT_MONITOR.kind, namespace, monitors)
    elif kind == MODEL_VERSION.kind:
        model = _spec(changed).get("model")
        deployments = [
            d
            for d in lookup(MODEL_DEPLOYMENT.kind, namespace)
            if _name(_spec(d).get("modelVersionRef")) == name
            or _name(_spec(d).get("model")) == model
        ]
        monitors = [
            m
            for m in lookup(DRIFT_MONITOR.kind, namespace)
            if (_spec(m).get("target") or {}).get("deploymentRef")
        ]
        woken |= _keys(MODEL_DEPLOYMENT.kind, namespace, deployments)
        woken |= _keys(DRIFT_MONITOR.kind, namespace, monitors)
    elif kind == MODEL_DEPLOYMENT.kind:
        monitors = [
            m
            for m in lookup(DRIFT_MONITOR.kind, namespace)
            if _name((_spec(m).get("target") or {}).get("deploymentRef")) == name
        ]
        woken |= _keys(DRIFT_MONITOR.kind, namespace, monitors)
    return woken | _batch_readers(changed, lookup)


def _batch_readers(changed: dict[str, Any], lookup: Lookup) -> set[Key]:
    """BatchPredictions whose input is the changed Dataset, whose model is the changed
    ModelVersion (referenced, or pinned in status), or whose deployment changed."""
    meta = changed.get("metadata") or {}
    namespace, name, kind = meta.get("namespace") or "", meta.get("name"), changed.get("kind")
    if kind not in (DATASET.kind, MODEL_VERSION.kind, MODEL_DEPLOYMENT.kind):
        return set()
    readers = []
    for batch in lookup(BATCH_PREDICTION.kind, namespace):
        spec, status = _spec(batch), batch.get("status") or {}
        model = spec.get("model") or {}
        if kind == DATASET.kind:
            read = _name((spec.get("input") or {}).get("datasetRef")) == name
        elif kind == MODEL_VERSION.kind:
            read = name in (
                _name(model.get("modelVersionRef")),
                (status.get("lineage") or {}).get("modelVersion"),
            ) or bool(model.get("deploymentRef"))
        else:
            read = _name(model.get("deploymentRef")) == name
        if read:
            readers.append(batch)
    return _keys(BATCH_PREDICTION.kind, namespace, readers)
