"""Drift sampling: a fraction of request rows, written as Parquet batches off the request path.

`offer()` is called on the request path: it draws random numbers and appends the kept
rows to a bounded in-memory buffer under an uncontended lock; a full buffer drops them
and counts the drop. It never wakes the writer: a daemon thread polls the buffer a few
times a second (waking a thread per request costs more than the sampling itself), and
writes `<uri>/<UTC timestamp>-<random>.parquet` through fsspec when a batch is full, when
it is old enough, and on close. Write failures are logged and counted, never raised to a
request.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from .metrics import ServingMetrics
from .signature import Column, Columns

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class Sampler:
    def __init__(
        self,
        uri: str,
        columns: Sequence[Column],
        *,
        rate: float,
        batch_size: int,
        flush_seconds: float,
        queue_size: int,
        metrics: ServingMetrics,
    ) -> None:
        self.uri = uri.rstrip("/")
        self.columns = tuple(columns)
        self.rate = rate
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.metrics = metrics
        self.queue_size = queue_size
        self._buffer: list[Columns] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._random = random.random
        self._rng = np.random.default_rng()
        self._thread = threading.Thread(target=self._run, name="drift-sampler", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            # Imported here, not at the first write: a first import on the writer thread
            # would hold the GIL long enough to stall requests.
            import fsspec
            import pyarrow.parquet  # noqa: F401

            try:  # resolves (and imports) the store's filesystem implementation
                fsspec.core.url_to_fs(self.uri)
            except Exception:
                log.warning("sample store %s is not usable yet", self.uri, exc_info=True)

            self._started = True
            self._thread.start()

    def offer(self, columns: Columns, n: int) -> None:
        """Queue a random `rate` share of the n request rows; never blocks, never raises."""
        if n == 1:
            if self._random() >= self.rate:
                return
            picked = columns
            count = 1
        else:
            mask = self._rng.random(n) < self.rate
            count = int(mask.sum())
            if count == 0:
                return
            picked = [c[mask] for c in columns]
        with self._lock:
            if len(self._buffer) < self.queue_size:
                self._buffer.append(picked)
                kept = True
            else:
                kept = False
        if kept:
            self.metrics.sampled_rows.inc(count)
        else:
            self.metrics.sample_dropped_rows.inc(count)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread."""
        if self._started:
            self._stop.set()
            self._thread.join(timeout)

    def _take(self) -> list[Columns]:
        with self._lock:
            taken, self._buffer = self._buffer, []
        return taken

    def _run(self) -> None:
        pending: list[Columns] = []
        rows = 0
        started = time.monotonic()
        while True:
            stop = self._stop.wait(POLL_SECONDS)
            taken = self._take()
            if taken and not pending:
                started = time.monotonic()
            pending.extend(taken)
            rows += sum(len(item[0]) for item in taken)
            due = time.monotonic() - started >= self.flush_seconds
            if pending and (stop or rows >= self.batch_size or due):
                self._write(pending, rows)
                pending, rows = [], 0
            if stop:
                return

    def _write(self, batches: list[Columns], rows: int) -> None:
        try:
            import fsspec
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrays = {}
            for i, column in enumerate(self.columns):
                values = np.concatenate([b[i].reshape(-1) for b in batches])
                arrays[column.name] = pa.array(values.tolist() if column.is_bytes else values)
            table = pa.table(arrays)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            path = f"{self.uri}/{stamp}-{secrets.token_hex(4)}.parquet"
            with fsspec.open(path, "wb", auto_mkdir=True) as handle:
                pq.write_table(table, handle)
            self.metrics.sample_files.inc()
        except Exception:
            # Anything can go wrong in a remote store; the server must keep serving.
            log.exception("writing %d sampled rows to %s failed; they are dropped", rows, self.uri)
            self.metrics.sample_write_errors.inc()
            self.metrics.sample_dropped_rows.inc(rows)
