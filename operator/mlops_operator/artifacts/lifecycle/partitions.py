"""Reading the time-partitioned records of the model server (samples and labels) by window.

A records base (`samples/<ns>/<deployment>/<version>`, `labels/<ns>/<deployment>`) holds
`dt=YYYY-MM-DD/hour=HH/` partitions (artifacts/paths.py) and, from before partitions
existed, record files directly in the base (the flat layout). A window names a start
(`since`: files written at or after it) and/or a row budget (the newest `rows` rows). The
reader lists the base once (its days and any flat files), then only the days and hours the
window covers, newest first, and stops once it holds `rows` rows: its cost follows the
window, not the history (on S3, one LIST per partition read).

Every row belongs to exactly one *source*: the record file it was first written as. A
compacted file holds the rows of several sources and names them, with their row counts, in
its Parquet metadata (`SOURCES_KEY`); the reader reads each source once, from whichever file
holds it, so a partition read during compaction (before, between the compacted file's write
and its inputs' removal, after) gives the same rows. A file that vanishes between the
listing and the read (compaction removed it) makes the reader list that partition again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from .. import paths
from ..errors import ArtifactCorrupt, ArtifactMissing
from ..store import FileInfo, Store

if TYPE_CHECKING:
    import pyarrow as pa

SOURCES_KEY = b"mlops.sources"  # JSON [[source name, rows], ...] in row order
RETRIES = 3  # re-listings of a partition whose files vanished under the reader


@dataclass(frozen=True)
class Piece:
    """The rows of one source: a record file, or its slice of a compacted file."""

    name: str  # the source's file name (`<stamp>-<hex>.parquet`)
    moment: datetime  # when the source was written
    uri: str  # the file holding the rows now
    offset: int = 0
    rows: int | None = None  # None: the whole file


@dataclass
class Hour:
    """One hour of a records base: its partition directory and flat files of that hour."""

    start: datetime
    uri: str  # the partition directory (may not exist: flat files only)
    flat: list[FileInfo]


@dataclass
class Listing:
    """What one LIST of a records base shows: its day directories and its flat files."""

    base: str
    days: list[date]  # newest first
    flat: dict[datetime, list[FileInfo]]  # flat record files by their hour

    def day_list(self) -> list[date]:
        extra = {h.date() for h in self.flat}
        return sorted(set(self.days) | extra, reverse=True)


def list_base(store: Store, base: str) -> Listing:
    files, dirs = store.list_detail(base)
    days = sorted((d for name in dirs if (d := paths.day_of(name)) is not None), reverse=True)
    flat: dict[datetime, list[FileInfo]] = {}
    for info in files:
        moment = paths.record_time(info.name)
        if moment is not None:
            flat.setdefault(paths.hour_of(moment), []).append(info)
    return Listing(store.uri(base).rstrip("/"), days, flat)


def hours_of_day(store: Store, listing: Listing, day: date, *, listed: bool) -> list[Hour]:
    """The hours of `day`, newest first: its hour directories (listed when the day has a
    directory) and the hours of flat files."""
    day_uri = f"{listing.base}/dt={day.isoformat()}"
    starts: set[datetime] = {h for h in listing.flat if h.date() == day}
    if listed:
        _, dirs = store.list_detail(day_uri)
        starts |= {h for name in dirs if (h := paths.hour_in(day, name)) is not None}
    return [
        Hour(start, f"{day_uri}/hour={start:%H}", listing.flat.get(start, []))
        for start in sorted(starts, reverse=True)
    ]


def hours(store: Store, base: str, since: datetime | None = None) -> Iterator[Hour]:
    """The hours of a records base the window from `since` covers, newest first."""
    listing = list_base(store, base)
    for day in listing.day_list():
        if not paths.day_covers(day, since):
            break
        for hour in hours_of_day(store, listing, day, listed=day in listing.days):
            if paths.covers(hour.start, since):
                yield hour


class Tables:
    """Parquet files read once per window (a compacted file serves many pieces)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, pa.Table] = {}

    def table(self, uri: str) -> pa.Table:
        if uri not in self._cache:
            import pyarrow.parquet as pq

            try:
                data = self.store.read_bytes(uri)
            except FileNotFoundError as err:
                raise ArtifactMissing(f"artifact {uri} does not exist") from err
            try:
                self._cache[uri] = pq.read_table(io.BytesIO(data))
            except (ValueError, OSError) as err:  # name the file: it is what has to go
                raise ArtifactCorrupt(f"{uri}: {err}") from err
        return self._cache[uri]

    def piece(self, piece: Piece) -> pa.Table:
        table = self.table(piece.uri)
        if piece.rows is None:
            return table
        return table.slice(piece.offset, piece.rows)

    def forget(self, uris: list[str]) -> None:
        for uri in uris:
            self._cache.pop(uri, None)


def sources_of(table: pa.Table) -> list[tuple[str, int]]:
    metadata = table.schema.metadata or {}
    raw = metadata.get(SOURCES_KEY)
    if raw is None:
        return []
    return [(str(name), int(rows)) for name, rows in json.loads(raw)]


def pieces_of(files: list[FileInfo], tables: Tables) -> list[Piece]:
    """Every source of an hour exactly once, oldest first (by write time, then name). A
    source is taken from the newest compacted file holding it, else from its own file, so a
    partition compacted again is read from its newest compacted file alone."""
    found: dict[str, Piece] = {}
    compacted = [f for f in files if paths.compacted_time(f.name) is not None]
    for info in sorted(compacted, key=lambda f: f.name, reverse=True):
        offset = 0
        for name, rows in sources_of(tables.table(info.uri)):
            moment = paths.record_time(name)
            if moment is not None and name not in found:
                found[name] = Piece(name, moment, info.uri, offset, rows)
            offset += rows
    for info in files:
        moment = paths.record_time(info.name)
        if moment is not None:
            found.setdefault(info.name, Piece(info.name, moment, info.uri))
    return sorted(found.values(), key=lambda p: (p.moment, p.name))


def hour_files(store: Store, hour: Hour, *, listed: bool = True) -> list[FileInfo]:
    files = list(hour.flat)
    if listed:
        files.extend(store.list_detail(hour.uri)[0])
    return files


def read_hour(
    store: Store, hour: Hour, tables: Tables, since: datetime | None, budget: int | None
) -> tuple[list[pa.Table], int]:
    """The hour's pieces written at or after `since`, newest first until `budget` rows;
    returns the tables newest first and the number of pieces read. Lists the partition again
    when a file vanished under it (compaction)."""
    for attempt in range(RETRIES + 1):
        files = hour_files(store, hour)
        try:
            chosen = [p for p in pieces_of(files, tables) if since is None or p.moment >= since]
            out: list[pa.Table] = []
            total = 0
            for piece in reversed(chosen):
                table = tables.piece(piece)
                out.append(table)
                total += table.num_rows
                if budget is not None and total >= budget:
                    break
            return out, len(out)
        except ArtifactMissing:
            if attempt == RETRIES:
                raise
            tables.forget([f.uri for f in files])
            hour.flat = [f for f in hour.flat if store.exists(f.uri)]
    raise AssertionError("unreachable")


def read_window(
    store: Store, base: str, since: datetime | None = None, rows: int | None = None
) -> tuple[pa.Table | None, int]:
    """The newest `rows` rows (all when None) of the sources written at or after `since`,
    oldest first, and how many sources they came from; None when there is none."""
    import pyarrow as pa

    tables = Tables(store)
    newest_first: list[pa.Table] = []
    total = 0
    sources = 0
    for hour in hours(store, base, since):
        budget = None if rows is None else rows - total
        read, count = read_hour(store, hour, tables, since, budget)
        newest_first.extend(read)
        total += sum(t.num_rows for t in read)
        sources += count
        if rows is not None and total >= rows:
            break
    if not newest_first:
        return None, 0
    combined = pa.concat_tables(list(reversed(newest_first)), promote_options="default")
    combined = combined.replace_schema_metadata(None)
    if rows is not None and combined.num_rows > rows:
        combined = combined.slice(combined.num_rows - rows)
    return combined, sources
