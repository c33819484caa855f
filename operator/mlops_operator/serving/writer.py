"""Rows written to the store as Parquet batches, off the request path.

`put()` is called on the request path: it appends an entry to a bounded in-memory buffer
under an uncontended lock, or refuses it when the buffer is full. It never wakes the writer:
a daemon thread polls the buffer a few times a second (waking a thread per request costs
more than the work itself) and writes `<uri>/<UTC timestamp>-<random>.parquet` through
fsspec when a batch is full, when its oldest entry is old enough, and on close, into the
UTC hour's partition: `<uri>/dt=YYYY-MM-DD/hour=HH/<UTC timestamp>-<random>.parquet`
(artifacts/paths.record_file), so a monitor's window lists only the hours it covers. Write
failures (a full or failing store) are logged and counted, never raised to a request, and the
partial file a failed write may leave is removed. The
random part of the name keeps the files of several workers and replicas apart.

The drift sampler (sampling.py) and the feedback labels (feedback.py) are two writers;
each supplies how its entries become a table.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..artifacts import paths

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
# The file name's timestamp; artifacts/paths.record_time parses it back.
STAMP_FORMAT = paths.STAMP_FORMAT

Entry = TypeVar("Entry")


@dataclass(frozen=True)
class WriterCounters:
    """The Prometheus children a writer counts into (metrics.py makes them)."""

    kept: Any  # rows queued
    dropped: Any  # queued rows lost because their write failed
    files: Any  # files written
    write_errors: Any  # failed writes
    refused: Any | None  # rows put() refused, the buffer being full (None: the caller counts)


class BatchWriter(Generic[Entry]):
    def __init__(
        self,
        uri: str,
        build: Callable[[list[Entry]], pa.Table],
        *,
        name: str,
        batch_size: int,
        flush_seconds: float,
        max_entries: int,
        max_rows: int | None,
        counters: WriterCounters,
    ) -> None:
        self.uri = uri.rstrip("/")
        self.build = build  # pending entries -> the table of one file
        self.name = name
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.max_entries = max_entries
        self.max_rows = max_rows
        self.counters = counters
        self._buffer: list[tuple[Entry, int]] = []
        self._buffered_rows = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            # Imported here, not at the first write: a first import on the writer thread
            # would hold the GIL long enough to stall requests.
            import pyarrow.parquet  # noqa: F401

            from ..artifacts.store import url_to_fs

            try:  # resolves (and imports) the store's filesystem implementation
                url_to_fs(self.uri)
            except Exception:
                log.warning("%s: store %s is not usable yet", self.name, self.uri, exc_info=True)

            self._started = True
            self._thread.start()

    def put(self, entry: Entry, rows: int) -> bool:
        """Queue `entry` (of `rows` rows) unless the buffer is full; never blocks."""
        with self._lock:
            kept = len(self._buffer) < self.max_entries and (
                self.max_rows is None or self._buffered_rows + rows <= self.max_rows
            )
            if kept:
                self._buffer.append((entry, rows))
                self._buffered_rows += rows
        if kept:
            self.counters.kept.inc(rows)
        elif self.counters.refused is not None:
            self.counters.refused.inc(rows)
        return kept

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread."""
        if self._started:
            self._stop.set()
            self._thread.join(timeout)

    def _take(self) -> list[tuple[Entry, int]]:
        with self._lock:
            taken, self._buffer = self._buffer, []
            self._buffered_rows = 0
        return taken

    def _run(self) -> None:
        pending: list[Entry] = []
        rows = 0
        started = time.monotonic()
        while True:
            stop = self._stop.wait(POLL_SECONDS)
            taken = self._take()
            if taken and not pending:
                started = time.monotonic()
            pending.extend(entry for entry, _ in taken)
            rows += sum(count for _, count in taken)
            due = time.monotonic() - started >= self.flush_seconds
            if pending and (stop or rows >= self.batch_size or due):
                self._write(pending, rows)
                pending, rows = [], 0
            if stop:
                return

    def _write(self, entries: list[Entry], rows: int) -> None:
        path = f"{self.uri}/{paths.record_file(datetime.now(UTC), secrets.token_hex(4))}"
        try:
            import pyarrow.parquet as pq

            from ..artifacts.store import url_to_fs

            table = self.build(entries)
            # s3://: the store's endpoint and credentials (MLOPS_S3_ENDPOINT, AWS_*)
            fs, fs_path = url_to_fs(path)
            if "file" in fs.protocol:  # S3 has no directories to make
                fs.makedirs(fs_path.rsplit("/", 1)[0], exist_ok=True)
            with fs.open(fs_path, "wb") as handle:
                pq.write_table(table, handle)
            self.counters.files.inc()
        except Exception:
            # Anything can go wrong in a remote store; the server must keep serving.
            log.exception("writing %d rows of the %s to %s failed; they are dropped",
                          rows, self.name, self.uri)  # fmt: skip
            self.counters.write_errors.inc()
            self.counters.dropped.inc(rows)
            _remove_partial(path)


def _remove_partial(path: str) -> None:
    """A write that failed half-way (a full volume: ENOSPC at the flush) can leave a
    truncated file in the partition, which every reader of the window would trip on."""
    try:
        from ..artifacts.store import url_to_fs

        fs, local = url_to_fs(path)
        if fs.exists(local):
            fs.rm(local)
    except Exception:
        log.warning("could not remove the partial file %s", path, exc_info=True)
