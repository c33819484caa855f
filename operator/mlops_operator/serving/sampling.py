"""Prediction sampling: a fraction of predicted rows, as records the monitors can read and join.

`offer()` runs on the request path after the model has answered: it draws one random number
per row and queues the kept rows, with their ids and predictions, in a BatchWriter
(writer.py), which writes them as Parquet off the request path. A full buffer drops them
and counts the drop.

A sample file holds, per kept row, the feature columns of the signature (in its datatypes,
as sent) and the reserved columns of artifacts/records: the prediction id, the time, the
ModelVersion, the prediction and, for classifiers, one probability column per class. The
drift check reads only the feature columns; performance monitoring joins the rest with the
labels sent to the feedback endpoint, so only sampled predictions can ever be scored.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..artifacts import records
from .metrics import ServingMetrics
from .model import Prediction
from .signature import Column, Columns
from .writer import BatchWriter, WriterCounters

if TYPE_CHECKING:
    import pyarrow as pa


class Sampled(NamedTuple):
    """The kept rows of one request."""

    columns: Columns
    ids: list[str]
    time_us: int  # when the prediction was made, microseconds since the epoch (UTC)
    predicted: np.ndarray  # labels (classifier) or values (regressor)
    probabilities: np.ndarray | None
    is_label: bool  # predicted holds class labels


class Sampler:
    def __init__(
        self,
        uri: str,
        columns: Sequence[Column],
        *,
        version: str,
        rate: float,
        batch_size: int,
        flush_seconds: float,
        queue_size: int,
        metrics: ServingMetrics,
    ) -> None:
        self.columns = tuple(columns)
        self.version = version
        self.rate = rate
        # The model's class names, set once it has loaded (probability column names).
        self.class_labels: list[str] | None = None
        self._random = random.random
        self._rng = np.random.default_rng()
        counters = WriterCounters(
            kept=metrics.sampled_rows,
            dropped=metrics.sample_dropped_rows,
            files=metrics.sample_files,
            write_errors=metrics.sample_write_errors,
            refused=metrics.sample_dropped_rows,  # a sampled row is dropped, not refused
        )
        self.writer: BatchWriter[Sampled] = BatchWriter(
            uri,
            self.table,
            name="prediction sampler",
            batch_size=batch_size,
            flush_seconds=flush_seconds,
            max_entries=queue_size,
            max_rows=None,
            counters=counters,
        )
        self.uri = self.writer.uri

    def start(self) -> None:
        self.writer.start()

    def close(self, timeout: float = 10.0) -> None:
        self.writer.close(timeout)

    def offer(self, columns: Columns, n: int, ids: list[str], prediction: Prediction) -> None:
        """Queue a random `rate` share of the n predicted rows; never blocks, never raises."""
        is_label = prediction.labels is not None
        predicted = prediction.labels if is_label else prediction.values
        if predicted is None:
            return
        probabilities = prediction.probabilities
        if n == 1:  # the common case: one draw, no arrays built
            if self._random() >= self.rate:
                return
            now = time.time_ns() // 1000
            self.writer.put(Sampled(columns, ids, now, predicted, probabilities, is_label), 1)
            return
        mask = self._rng.random(n) < self.rate
        kept = np.flatnonzero(mask)
        if kept.size == 0:
            return
        entry = Sampled(
            [c[kept] for c in columns],
            [ids[i] for i in kept.tolist()],
            time.time_ns() // 1000,
            predicted[kept],
            None if probabilities is None else probabilities[kept],
            is_label,
        )
        self.writer.put(entry, int(kept.size))

    def table(self, entries: list[Sampled]) -> pa.Table:
        """The file of the pending entries: features, then the reserved record columns."""
        import pyarrow as pa

        arrays: dict[str, pa.Array] = {}
        for i, column in enumerate(self.columns):
            values = np.concatenate([e.columns[i].reshape(-1) for e in entries])
            arrays[column.name] = pa.array(values.tolist() if column.is_bytes else values)
        ids = [row_id for e in entries for row_id in e.ids]
        rows = len(ids)
        arrays[records.ID] = pa.array(ids, pa.string())
        times = np.concatenate([np.full(len(e.ids), e.time_us, np.int64) for e in entries])
        arrays[records.TIME] = pa.array(times, pa.timestamp("us", tz="UTC"))
        arrays[records.VERSION] = pa.array([self.version] * rows, pa.string())
        predicted = np.concatenate([e.predicted.reshape(-1) for e in entries])
        arrays[records.PREDICTION] = _prediction_array(predicted, entries[0].is_label)
        probabilities = [e.probabilities for e in entries if e.probabilities is not None]
        if len(probabilities) == len(entries):
            matrix = np.concatenate(probabilities).reshape(rows, -1).astype(np.float64)
            for j, name in enumerate(self._class_names(matrix.shape[1])):
                arrays[records.probability_column(name)] = pa.array(matrix[:, j])
        return pa.table(arrays)

    def _class_names(self, width: int) -> list[str]:
        """The model's class labels, in probability column order; else column indices."""
        labels = self.class_labels
        if labels is not None and len(labels) == width:
            return [str(label) for label in labels]
        return [str(j) for j in range(width)]


def _prediction_array(predicted: np.ndarray, is_label: bool) -> pa.Array:
    """Regression values as float64; class labels as int64 or strings (records.PREDICTION).

    A classifier fitted on float targets predicts floats: integral ones are stored as int64
    (what a label 1 or 1.0 sent as feedback is meant to match), any other as text.
    """
    import pyarrow as pa

    if not is_label:
        return pa.array(predicted.astype(np.float64))
    kind = predicted.dtype.kind
    if kind in "iub":
        return pa.array(predicted.astype(np.int64))
    if kind == "f" and np.all(np.isfinite(predicted)) and np.all(predicted == np.round(predicted)):
        return pa.array(predicted.astype(np.int64))
    return pa.array([str(v) for v in predicted.tolist()], pa.string())
