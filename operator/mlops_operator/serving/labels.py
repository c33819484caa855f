"""Ground truth received at the feedback endpoint, written to the store like the samples.

Every label is kept (no sampling rate): a BatchWriter (writer.py) writes
`<labels uri>/dt=YYYY-MM-DD/hour=HH/<UTC timestamp>-<random>.parquet` with the columns
records.ID (string), records.LABEL (string, records.encode_label) and records.TIME
(timestamp[us, UTC], when the label was received). The labels directory belongs to the
deployment, not to a version: any replica of any version may receive a label, and the
random part of the file name keeps their files apart. A label is matched to its prediction
by id, whichever version made it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

from ..artifacts import records
from .metrics import ServingMetrics
from .writer import BatchWriter, WriterCounters

if TYPE_CHECKING:
    import pyarrow as pa

# Labels held in memory before the feedback endpoint answers 503 (the client retries) rather
# than accepting labels it might lose.
QUEUE_ROWS = 100_000


class Labels(NamedTuple):
    """The labels of one feedback request."""

    ids: list[str]
    labels: list[str]  # records.encode_label of each value
    time_us: int  # receipt time, microseconds since the epoch (UTC)


class LabelWriter:
    def __init__(
        self, uri: str, *, batch_size: int, flush_seconds: float, metrics: ServingMetrics
    ) -> None:
        counters = WriterCounters(
            kept=metrics.feedback_labels,
            dropped=metrics.feedback_dropped_labels,
            files=metrics.feedback_files,
            write_errors=metrics.feedback_write_errors,
            refused=None,  # the endpoint answers 503 and counts a rejection
        )
        self.writer: BatchWriter[Labels] = BatchWriter(
            uri,
            table,
            name="feedback label writer",
            batch_size=batch_size,
            flush_seconds=flush_seconds,
            max_entries=QUEUE_ROWS,
            max_rows=QUEUE_ROWS,
            counters=counters,
        )
        self.uri = self.writer.uri

    def start(self) -> None:
        self.writer.start()

    def close(self, timeout: float = 10.0) -> None:
        self.writer.close(timeout)

    def add(self, ids: list[str], values: list[object]) -> bool:
        """Queue the labels; False (nothing queued) when the buffer is full."""
        encoded = [records.encode_label(v) for v in values]
        return self.writer.put(Labels(ids, encoded, time.time_ns() // 1000), len(ids))


def table(entries: list[Labels]) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    times = np.concatenate([np.full(len(e.ids), e.time_us, np.int64) for e in entries])
    return pa.table(
        {
            records.ID: pa.array([i for e in entries for i in e.ids], pa.string()),
            records.LABEL: pa.array([v for e in entries for v in e.labels], pa.string()),
            records.TIME: pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )
