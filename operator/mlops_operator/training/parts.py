"""Read many input files partition by partition, in bounded memory.

A source URI names one file, a partitioned Dataset snapshot's `manifest.json` (its parts, in
order, with their row counts), a directory (ending in `/`: every `.parquet` or `.csv` file below
it whose name does not start with `_` or `.`), or a glob (`*`, `?`, `[`). Files are taken in
sorted order, so every pod sees the same list. Parquet is streamed by record batches of the
row groups a slice overlaps; CSV in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from ..artifacts.snapshots import is_manifest, parse_manifest
from ..artifacts.store import filesystem
from .partitions import Slice

GLOB_CHARS = "*?["


def is_many(uri: str) -> bool:
    """A directory or a glob rather than one file."""
    return uri.endswith("/") or any(c in urlsplit(uri).path for c in GLOB_CHARS)


class Files:
    """The sorted input files of a source URI on one filesystem."""

    def __init__(self, uri: str, fmt: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri, self.format = uri, fmt
        scheme = urlsplit(uri).scheme or "file"
        self.fs = filesystem(scheme, storage_options)
        self.protocol = scheme
        self._rows: list[int | None] | None = None  # known without reading footers
        self.paths = self._list()

    def _list(self) -> list[str]:
        path = self.fs._strip_protocol(self.uri)
        if is_manifest(self.uri):  # a partitioned Dataset snapshot: its parts, in order
            with self.fs.open(path, "rb") as handle:
                _, parts = parse_manifest(handle.read(), self.uri)
            self._rows = [p.rows for p in parts]
            return [self.fs._strip_protocol(p.uri) for p in parts]
        if self.uri.endswith("/"):
            found = [p for p in self.fs.find(path) if self._wanted(p)]
        elif any(c in path for c in GLOB_CHARS):
            found = [p for p in self.fs.glob(path) if self._wanted(p, check_suffix=False)]
        else:
            return [path]
        if not found:
            raise FileNotFoundError(f"no {self.format} files match {self.uri}")
        return sorted(found)

    def _wanted(self, path: str, check_suffix: bool = True) -> bool:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(("_", ".")):
            return False
        return not check_suffix or name.endswith(f".{self.format}")

    def uri_of(self, index: int) -> str:
        path = self.paths[index]
        return path if "://" in path else f"{self.protocol}://{path}"

    def row_counts(self) -> list[int | None]:
        """Rows per file from the Parquet footers; None for CSV (known only once parsed)."""
        if self.format != "parquet":
            return [None] * len(self.paths)
        if self._rows is not None:
            return list(self._rows)
        counts: list[int | None] = []
        for path in self.paths:
            with self.fs.open(path, "rb") as handle:
                counts.append(int(pq.ParquetFile(handle).metadata.num_rows))
        return counts

    def schema(self) -> pa.Schema | None:
        """The first file's Arrow schema (Parquet), for types every partition agrees on."""
        if self.format != "parquet" or not self.paths:
            return None
        with self.fs.open(self.paths[0], "rb") as handle:
            return pq.ParquetFile(handle).schema_arrow

    def batches(self, part: Slice, batch_rows: int) -> Iterator[tuple[int, pa.Table]]:
        """(row in file of the first row, rows) of `part`, at most `batch_rows` at a time."""
        with self.fs.open(self.paths[part.file], "rb") as handle:
            if self.format == "parquet":
                yield from _parquet_batches(pq.ParquetFile(handle), part, batch_rows)
            else:
                yield from _csv_batches(handle, part, batch_rows)


def _parquet_batches(
    parquet: pq.ParquetFile, part: Slice, batch_rows: int
) -> Iterator[tuple[int, pa.Table]]:
    stop = parquet.metadata.num_rows if part.stop is None else part.stop
    groups, offset, first = [], 0, None
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if offset < stop and offset + rows > part.start:
            groups.append(group)
            first = offset if first is None else first
        offset += rows
    if not groups or first is None:
        return
    position = first
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups):
        lo, hi = max(part.start, position), min(stop, position + batch.num_rows)
        if lo < hi:
            yield lo, pa.Table.from_batches([batch.slice(lo - position, hi - lo)])
        position += batch.num_rows
        if position >= stop:
            return


def _csv_batches(handle: Any, part: Slice, batch_rows: int) -> Iterator[tuple[int, pa.Table]]:
    import pandas as pd

    position = 0
    for chunk in pd.read_csv(handle, chunksize=batch_rows):
        stop = position + len(chunk) if part.stop is None else part.stop
        lo, hi = max(part.start, position), min(stop, position + len(chunk))
        if lo < hi:
            piece = chunk.iloc[lo - position : hi - position]
            yield lo, pa.Table.from_pandas(piece, preserve_index=False)
        position += len(chunk)
