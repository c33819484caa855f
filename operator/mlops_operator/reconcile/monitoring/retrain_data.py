"""What a retrain learns from: the Dataset made for it, holding the labeled production rows
of the window (appended to the reference data, or replacing it), and the lineage note that
makes its ModelVersion say which production window went in.

The rows themselves are written by the check (`performance.window`) into
`production/<ns>/<monitor>/<window>/{train,holdout}.parquet`; only `train.parquet` is
trained on, `holdout.parquet` is what champion and challenger are later compared on.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from ... import API_VERSION
from ...api.driftmonitor import DriftMonitorSpec, Trigger
from ...api.kinds import DATASET, DRIFT_MONITOR
from ...api.labels import PRODUCTION_WINDOW
from ...api.modelversion import ProductionWindow
from ...performance.plan import WrittenWindow
from ..conditions import rfc3339
from ..ownership import child_labels, owner_reference

TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"


def triggers(spec: DriftMonitorSpec) -> tuple[Trigger, ...]:
    """What starts a retrain: the spec's list, else performance when it is monitored, else
    drift (what a monitor without spec.performance always did)."""
    if spec.action.triggers:
        return tuple(dict.fromkeys(spec.action.triggers))
    return ("performance",) if spec.performance is not None else ("drift",)


def window_name(now: datetime) -> str:
    """A window directory per check: its UTC time, so names sort by age."""
    return now.strftime("%Y%m%dT%H%M%SZ")


def retrain_dataset_manifest(
    body: dict[str, Any],
    name: str,
    dataset: dict[str, Any],
    window: WrittenWindow,
    mode: str,
) -> dict[str, Any]:
    """The retrain's Dataset: the trained-on Dataset's spec with the window's training rows
    added (`append`) or in place of its sources (`replace`). A frozen copy: no refresh."""
    spec = copy.deepcopy(dict(dataset.get("spec") or {}))
    spec.pop("refreshIntervalSeconds", None)
    production = {"uri": f"{window.uri.rstrip('/')}/{TRAIN_FILE}", "format": "parquet"}
    if mode == "replace":
        spec["source"] = production
        spec.pop("additionalSources", None)
    else:
        spec["additionalSources"] = [*(spec.get("additionalSources") or []), production]
    meta = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": DATASET.kind,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": child_labels(DRIFT_MONITOR.kind, meta["name"]),
            "ownerReferences": [owner_reference(body)],
        },
        "spec": spec,
    }


def window_annotation(monitor: str, window: WrittenWindow, now: datetime) -> dict[str, str]:
    """The TrainingJob annotation its ModelVersion's lineage copies (reconcile/trainingjob)."""
    lineage = ProductionWindow(
        monitor=monitor,
        uri=window.uri,
        rows=window.train_rows,
        holdout_rows=window.holdout_rows,
        written_at=rfc3339(now),
    )
    return {PRODUCTION_WINDOW: lineage.model_dump_json(by_alias=True, exclude_none=True)}


def holdout_uri(window_uri: str) -> str:
    return f"{window_uri.rstrip('/')}/{HOLDOUT_FILE}"
