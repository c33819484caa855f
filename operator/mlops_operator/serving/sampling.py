"""Drift sampling: a fraction of request rows, written as Parquet batches off the request path.

`offer()` is called on the request path and only draws random numbers and does a
non-blocking put on a bounded queue; a full queue drops the rows and counts them. A
daemon thread collects rows and writes `<uri>/<UTC timestamp>-<random>.parquet` through
fsspec when a batch is full, when it is old enough, and on close. Write failures are
logged and counted, never raised to a request.
"""

from __future__ import annotations

import logging
import queue
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

_STOP = object()


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
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._random = random.random
        self._rng = np.random.default_rng()
        self._thread = threading.Thread(target=self._run, name="drift-sampler", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
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
        try:
            self._queue.put_nowait(picked)
            self.metrics.sampled_rows.inc(count)
        except queue.Full:
            self.metrics.sample_dropped_rows.inc(count)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread."""
        if not self._started:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("sample queue still full at shutdown; pending samples are lost")
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        pending: list[Columns] = []
        rows = 0
        started = time.monotonic()
        while True:
            timeout = max(0.0, self.flush_seconds - (time.monotonic() - started))
            try:
                item = self._queue.get(timeout=timeout if pending else None)
            except queue.Empty:
                item = None
            stop = item is _STOP
            if item is not None and not stop:
                if not pending:
                    started = time.monotonic()
                pending.append(item)  # type: ignore[arg-type]
                rows += len(item[0])  # type: ignore[index]
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
