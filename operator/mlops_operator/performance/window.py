"""One model performance check, end to end: read the window's predictions and every label,
join them, compute realized metrics, the label-free estimate and prediction drift, and write
the labeled production rows for a retrain. Blocking I/O and CPU work: the operator runs
`run_performance_check` in a worker thread, never on its event loop.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd

from ..artifacts import ArtifactError, Store
from ..artifacts.records import ID, LABEL, PREDICTION, TIME, is_holdout
from ..drift.profile import ReferenceProfile
from ..drift.window import read_window
from .estimate import calibrate, cbpe
from .join import Joined, join, label_kind
from .labels_source import read_label_files, read_labels_source
from .metrics import metric_names, model_classes, realized
from .plan import PerformanceOutcome, PerformancePlan, WindowTarget, WrittenWindow
from .prediction_drift import prediction_drift

TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"


def run_performance_check(store: Store, plan: PerformancePlan) -> PerformanceOutcome:
    """Read, join, measure, write. Never raises for bad data: a failure is in the outcome."""
    try:
        samples, files = read_window(store, plan.samples_uri, plan.since, plan.rows)
    except (ArtifactError, OSError, ValueError) as err:
        return PerformanceOutcome(failure="samples", message=f"{plan.samples_uri}: {err}")
    if len(samples) and (ID not in samples.columns or PREDICTION not in samples.columns):
        return PerformanceOutcome(
            predictions=len(samples),
            files=files,
            failure="samples",
            message=f"{plan.samples_uri}: sample files lack the {ID} and {PREDICTION} columns",
        )
    try:
        labels = read_label_files(store, plan.labels_uri, plan.since)
        if plan.labels_source is not None:
            bulk = read_labels_source(plan.labels_source, store.storage_options)
            labels = pd.concat([labels, bulk], ignore_index=True) if len(labels) else bulk
    except (ArtifactError, OSError, ValueError, KeyError) as err:
        where = plan.labels_source.uri if plan.labels_source else plan.labels_uri
        return PerformanceOutcome(
            predictions=len(samples), files=files, failure="labels", message=f"{where}: {err}"
        )

    joined = join(samples, labels, task=plan.task)
    counted = PerformanceOutcome(
        predictions=joined.predictions,
        files=files,
        labels_read=joined.labels_read,
        labeled=len(joined.frame),
        unknown_labels=joined.unknown_labels,
        duplicate_ids=joined.duplicate_ids,
        invalid_labels=joined.invalid_labels,
    )
    kind = label_kind(samples[PREDICTION], plan.task) if len(samples) else "float"
    names = metric_names(plan.task, plan.metrics)
    measured: dict[str, float] = {}
    if len(joined.frame) >= max(plan.min_labeled, 1):
        measured = realized(joined.frame, plan.task, names, kind)
    vs_training = {
        m: measured[m] - float(plan.training_metrics[m])
        for m in measured
        if m in plan.training_metrics
    }
    estimated: dict[str, float] = {}
    calibrated = False
    if plan.task == "classification" and len(samples):
        deduped = samples[~samples[ID].duplicated(keep="first")]
        found = model_classes(deduped, kind)
        if found is not None:
            classes, proba = found
            predicted = deduped[PREDICTION].astype(str) if kind == "str" else deduped[PREDICTION]
            predicted = predicted.to_numpy()
            # What the estimate is for: the predictions still waiting for their labels,
            # with the probabilities calibrated on the labeled ones (as NannyML calibrates on
            # its reference period). When every prediction is labeled, the served
            # probabilities as they are: calibrating on the same labels the realized value
            # comes from would only repeat it, and the raw estimate beside the realized one
            # shows what the labels add (concept drift).
            waiting = ~deduped[ID].isin(joined.frame[ID]).to_numpy()
            labeled = model_classes(joined.frame, kind) if len(joined.frame) else None
            if waiting.any() and labeled is not None and labeled[0] == classes:
                y = joined.frame[LABEL].to_numpy()
                part = proba[waiting]
                fitted = calibrate(part, labeled[1], y.astype(str) if kind == "str" else y, classes)
                calibrated = fitted is not part
                estimated = cbpe(fitted, classes, predicted[waiting])
            else:
                estimated = cbpe(proba, classes, predicted)

    drift = None
    if plan.reference_uri and plan.target and len(samples):
        try:
            profile = ReferenceProfile.from_json(store.read_bytes(plan.reference_uri))
        except (ArtifactError, ValueError, KeyError) as err:
            return replace(
                counted,
                realized=measured,
                estimated=estimated,
                estimate_calibrated=calibrated,
                vs_training=vs_training,
                failure="reference",
                message=f"{plan.reference_uri}: {err}",
            )
        drift = prediction_drift(profile, plan.target, samples[PREDICTION], plan.task, plan.p_value)

    written = None
    if plan.write_window is not None and len(joined.frame):
        try:
            written = write_window(store, plan.write_window, joined)
        except (ArtifactError, OSError, ValueError) as err:
            return replace(
                counted,
                realized=measured,
                estimated=estimated,
                estimate_calibrated=calibrated,
                vs_training=vs_training,
                prediction_drift=drift,
                failure="window",
                message=f"{plan.write_window.uri}: {err}",
            )
    return replace(
        counted,
        realized=measured,
        estimated=estimated,
        estimate_calibrated=calibrated,
        vs_training=vs_training,
        prediction_drift=drift,
        window=written,
    )


def window_frames(target: WindowTarget, joined: Joined) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labeled rows as (train, holdout): the target's features then its target column
    (the decoded labels), ordered by prediction id; a row is held out when
    `records.is_holdout(id)`."""
    frame = joined.frame
    missing = [f for f in target.features if f not in frame.columns]
    if missing:
        raise ValueError(f"features missing from the sampled predictions: {', '.join(missing)}")
    if target.target in target.features:
        raise ValueError(f"target column {target.target!r} is also a feature")
    order = np.argsort(frame[ID].astype(str).to_numpy(dtype=object), kind="stable")
    ordered = frame.iloc[order]
    rows = ordered[list(target.features)].reset_index(drop=True)
    rows[target.target] = ordered[LABEL].to_numpy()
    held = np.fromiter((is_holdout(i) for i in ordered[ID].astype(str)), bool, len(ordered))
    train = rows[~held].reset_index(drop=True)
    holdout = rows[held].reset_index(drop=True)
    return train, holdout


def write_window(store: Store, target: WindowTarget, joined: Joined) -> WrittenWindow:
    """Write train.parquet and holdout.parquet under `target.uri`: the same joined rows give
    the same bytes, so a check that runs twice writes the same window."""
    train, holdout = window_frames(target, joined)
    base = target.uri.rstrip("/")
    store.write_bytes(f"{base}/{TRAIN_FILE}", _parquet(train))
    store.write_bytes(f"{base}/{HOLDOUT_FILE}", _parquet(holdout))
    times = joined.frame[TIME] if TIME in joined.frame.columns else pd.Series([], dtype=object)
    times = pd.to_datetime(times, utc=True).dropna()
    return WrittenWindow(
        uri=base,
        train_rows=len(train),
        holdout_rows=len(holdout),
        start=_moment(times.min()) if len(times) else None,
        end=_moment(times.max()) if len(times) else None,
    )


def _parquet(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def _moment(value: pd.Timestamp) -> datetime:
    moment: datetime = value.to_pydatetime()
    return moment
