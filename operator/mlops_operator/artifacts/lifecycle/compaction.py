"""Compaction: the small record files of a closed hour become one file, no row lost or doubled.

For one hour of a records base (its partition directory plus any flat-layout files of that
hour), in this order:

1. Every source of the hour is read once (partitions.pieces_of: a source already inside a
   compacted file is taken from there).
2. If more than one file holds them, one `compact-<stamp>-<hex>.parquet` is written into the
   partition with all of them, oldest first, naming each source and its row count in its
   Parquet metadata. The write is atomic (a rename, or one S3 PUT): readers see the file
   whole or not at all, and a reader that sees it reads each source once either way.
3. The files the new one holds (record files, flat files, older compacted files) are removed
   once the compacted file is older than `grace`: a reader that listed the partition before
   the compacted file existed still finds its files for that long, and one that is slower
   lists the partition again (partitions.read_hour). With `grace` 0 they go at once.

Running it twice, or after a crash between any two steps, gives the same rows: step 1 sees
each source once whatever files exist, and step 3 only removes what a compacted file holds.
Only closed hours are compacted (ended `settle` ago), so no writer adds to them any more.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .. import paths
from ..store import FileInfo, Store
from .partitions import (
    SOURCES_KEY,
    Hour,
    Tables,
    hour_files,
    hours_of_day,
    list_base,
    pieces_of,
    sources_of,
)

SETTLE = timedelta(minutes=10)  # an hour is closed this long after it ends (clock skew, flushes)


@dataclass
class CompactionResult:
    hours: int = 0  # hours looked at
    compacted: int = 0  # compacted files written
    sources: int = 0  # record files now held by the files written
    rows: int = 0
    bytes_written: int = 0
    removed: list[str] = field(default_factory=list)  # files removed (now held elsewhere)
    bytes_removed: int = 0

    def add(self, other: CompactionResult) -> None:
        self.hours += other.hours
        self.compacted += other.compacted
        self.sources += other.sources
        self.rows += other.rows
        self.bytes_written += other.bytes_written
        self.removed.extend(other.removed)
        self.bytes_removed += other.bytes_removed


def closed(hour: datetime, now: datetime, settle: timedelta = SETTLE) -> bool:
    return hour + paths.HOUR + settle <= now


def compact_hour(store: Store, hour: Hour, now: datetime, grace: timedelta) -> CompactionResult:
    """Compact one closed hour (see the module doc); returns what was written and removed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    result = CompactionResult(hours=1)
    files = hour_files(store, hour)
    tables = Tables(store)
    pieces = pieces_of(files, tables)
    compacted = [f for f in files if paths.compacted_time(f.name) is not None]
    holders = {p.uri for p in pieces}
    if len(holders) > 1:
        table = pa.concat_tables([tables.piece(p) for p in pieces], promote_options="default")
        sources = [[p.name, tables.piece(p).num_rows] for p in pieces]
        metadata = dict(table.schema.metadata or {})
        metadata[SOURCES_KEY] = json.dumps(sources).encode()
        sink = io.BytesIO()
        pq.write_table(table.replace_schema_metadata(metadata), sink, compression="zstd")
        data = sink.getvalue()
        name = paths.compacted_file(now, secrets.token_hex(4))
        uri, _ = store.write_bytes(f"{hour.uri}/{name}", data)
        newest = FileInfo(uri, name, len(data), now)
        result.compacted, result.sources = 1, len(sources)
        result.rows, result.bytes_written = table.num_rows, len(data)
        compacted.append(newest)
        sources_by_file = {newest.uri: {name for name, _ in sources}}
    else:
        sources_by_file = {}
    for info in compacted:
        if info.uri not in sources_by_file:
            sources_by_file[info.uri] = {n for n, _ in sources_of(tables.table(info.uri))}
    removable = _held_elsewhere(files, compacted, sources_by_file, now, grace)
    for info in removable:
        store.delete(info.uri)
        result.removed.append(info.uri)
        result.bytes_removed += info.size
    return result


def _held_elsewhere(
    files: list[FileInfo],
    compacted: list[FileInfo],
    sources_by_file: dict[str, set[str]],
    now: datetime,
    grace: timedelta,
) -> list[FileInfo]:
    """Files every source of which a compacted file old enough (past `grace`) holds: record
    files it names, and compacted files whose sources it all holds (the newest of equals
    stays)."""
    settled = [c for c in compacted if (paths.compacted_time(c.name) or now) + grace <= now]
    out: list[FileInfo] = []
    for info in files:
        if paths.record_time(info.name) is not None:
            if any(info.name in sources_by_file[c.uri] for c in settled):
                out.append(info)
            continue
        mine = sources_by_file.get(info.uri, set())
        for other in settled:
            if other.uri == info.uri or not mine <= sources_by_file[other.uri]:
                continue
            if (other.name, other.uri) > (info.name, info.uri):
                out.append(info)
                break
    return out


LOOKBACK = timedelta(hours=48)


def compact_base(
    store: Store,
    base: str,
    now: datetime,
    *,
    grace: timedelta,
    lookback: timedelta = LOOKBACK,
    settle: timedelta = SETTLE,
) -> CompactionResult:
    """Compact the closed hours of a records base that ended within `lookback`, and every
    hour that still has flat-layout files (they move into their partition as a compacted
    file). Older hours were compacted by earlier sweeps: they are not listed again."""
    result = CompactionResult()
    listing = list_base(store, base)
    oldest = now - lookback
    for day in listing.day_list():
        recent = paths.day_covers(day, oldest)
        if not recent and not any(h.date() == day for h in listing.flat):
            continue
        for hour in hours_of_day(store, listing, day, listed=recent and day in listing.days):
            if not closed(hour.start, now, settle):
                continue
            if hour.start + paths.HOUR < oldest and not hour.flat:
                continue
            result.add(compact_hour(store, hour, now, grace))
    return result
