"""Time-partitioned records: the layout, windows that list only what they cover, and
compaction that neither loses nor doubles a row, also under a concurrent reader."""

from __future__ import annotations

import io
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_operator.artifacts import Store, paths
from mlops_operator.artifacts.lifecycle import compaction, partitions
from mlops_operator.artifacts.records import ID, TIME

NOW = datetime(2025, 6, 30, 12, 30, tzinfo=UTC)
BASE = "samples/ml/iris/iris-v1"


class CountingStore(Store):
    """The real store, counting the directory listings a reader makes."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.listed: list[str] = []

    def list_detail(self, path: str):  # type: ignore[no-untyped-def]
        self.listed.append(self.uri(path).removeprefix(self.root + "/"))
        return super().list_detail(path)


def _table(ids: list[str], moment: datetime) -> bytes:
    sink = io.BytesIO()
    times = pa.array([moment] * len(ids), pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({ID: pa.array(ids, pa.string()), TIME: times}), sink)
    return sink.getvalue()


def write(store: Store, moment: datetime, ids: list[str], *, flat: bool = False) -> str:
    """A record file as the server writes it (or as servers before partitions did: flat)."""
    token = f"{abs(hash((moment, tuple(ids)))) % 16**8:08x}"
    name = paths.record_file(moment, token)
    if flat:
        name = name.rsplit("/", 1)[-1]
    uri, _ = store.write_bytes(f"{BASE}/{name}", _table(ids, moment))
    return uri


def history(store: Store, days: int, per_hour: int = 2) -> list[str]:
    """`days` days of files, `per_hour` per hour, 3 rows each, ids in time order."""
    ids: list[str] = []
    start = paths.hour_of(NOW) - timedelta(days=days)
    for h in range(days * 24 + 12):
        for k in range(per_hour):
            moment = start + timedelta(hours=h, minutes=20 * k + 1)
            if moment >= NOW:
                return ids
            chunk = [f"{moment:%Y%m%d%H%M}-{r}" for r in range(3)]
            write(store, moment, chunk)
            ids.extend(chunk)
    return ids


def read_ids(store: Store, since: datetime | None = None, rows: int | None = None) -> list[str]:
    table, _ = partitions.read_window(store, BASE, since, rows)
    return [] if table is None else table.column(ID).to_pylist()


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path.as_uri())


def test_layout_names_the_utc_hour_and_parses_back() -> None:
    moment = datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    name = paths.record_file(moment, "0badf00d")
    assert name == "dt=2025-06-30/hour=23/20250630T235959999999Z-0badf00d.parquet"
    assert paths.record_time(name) == moment
    assert paths.record_time(paths.compacted_file(moment, "00ff")) is None
    assert paths.compacted_time(paths.compacted_file(moment, "00ff")) == moment
    assert paths.day_of("dt=2025-06-30") == date(2025, 6, 30)
    assert paths.day_of("dt=2025-13-01") is None and paths.day_of("hour=01") is None
    assert paths.hour_in(date(2025, 6, 30), "hour=07") == datetime(2025, 6, 30, 7, tzinfo=UTC)
    assert paths.hour_in(date(2025, 6, 30), "hour=24") is None
    hour = datetime(2025, 6, 30, 7, tzinfo=UTC)
    assert paths.covers(hour, hour + timedelta(minutes=59))
    assert not paths.covers(hour, hour + timedelta(hours=1))


@pytest.mark.parametrize("days", [1, 30])
def test_a_duration_window_lists_only_the_hours_it_covers(store: CountingStore, days: int) -> None:
    ids = history(store, days)
    store.listed.clear()
    since = NOW - timedelta(minutes=80)  # 11:10 .. 12:30: hours 11 and 12 (10:xx is out)
    got = read_ids(store, since)
    assert got == [i for i in ids if i >= f"{since:%Y%m%d%H%M}"]
    assert len(got) == 3 * 3  # the files of 11:21, 12:01, 12:21 (11:01 is before since)
    # One LIST of the base (its days), one of today, one per hour read: not one per file,
    # and the same for 1 day of history as for 30.
    assert store.listed == [
        BASE,
        f"{BASE}/dt=2025-06-30",
        f"{BASE}/dt=2025-06-30/hour=12",
        f"{BASE}/dt=2025-06-30/hour=11",
    ]


def test_a_rows_window_reads_newest_partitions_first_and_stops(store: CountingStore) -> None:
    ids = history(store, 30)
    store.listed.clear()
    assert read_ids(store, rows=10) == ids[-10:]  # 6 rows an hour: two hours are read
    hours = [p for p in store.listed if "/hour=" in p]
    assert hours == [f"{BASE}/dt=2025-06-30/hour=12", f"{BASE}/dt=2025-06-30/hour=11"]
    assert read_ids(store, rows=None) == ids  # the whole history, oldest first


def test_flat_layout_files_are_read_with_the_partitions(store: CountingStore) -> None:
    old = write(store, NOW - timedelta(hours=3), ["flat-a", "flat-b"], flat=True)
    write(store, NOW - timedelta(hours=2), ["part-a"])
    write(store, NOW - timedelta(hours=1, minutes=30), ["flat-c"], flat=True)
    assert old.endswith(".parquet") and "/dt=" not in old
    assert read_ids(store) == ["flat-a", "flat-b", "part-a", "flat-c"]
    assert read_ids(store, NOW - timedelta(hours=2)) == ["part-a", "flat-c"]
    assert read_ids(store, rows=2) == ["part-a", "flat-c"]


def test_compaction_keeps_every_row_once(store: CountingStore) -> None:
    ids = history(store, 2, per_hour=3)
    before = read_ids(store)
    windows = {s: read_ids(store, NOW - timedelta(minutes=s)) for s in (30, 95, 600)}
    result = compaction.compact_base(store, BASE, NOW, grace=timedelta(0))
    # Closed hours only: the 48 hours up to 11:00-12:00 (ended 30 minutes ago); 12:00 is open.
    assert result.compacted == result.hours == 48
    assert result.sources == 3 * 48 and result.rows == 9 * 48
    assert len(result.removed) == result.sources
    assert read_ids(store) == before == ids
    assert {s: read_ids(store, NOW - timedelta(minutes=s)) for s in windows} == windows
    tree = Path(store.root.removeprefix("file://"), BASE)
    hour_11 = sorted(p.name for p in (tree / "dt=2025-06-30/hour=11").iterdir())
    assert len(hour_11) == 1 and hour_11[0].startswith("compact-")
    assert len(list((tree / "dt=2025-06-30/hour=12").iterdir())) == 2  # open hour untouched
    # Again: nothing to do, nothing changes.
    again = compaction.compact_base(store, BASE, NOW, grace=timedelta(0))
    assert again.compacted == 0 and again.removed == [] and read_ids(store) == ids


def test_grace_keeps_inputs_until_the_compacted_file_is_old_enough(store: Store) -> None:
    hour = paths.hour_of(NOW) - timedelta(hours=2)
    for k in range(4):
        write(store, hour + timedelta(minutes=k), [f"r{k}a", f"r{k}b"])
    grace = timedelta(minutes=15)
    first = compaction.compact_base(store, BASE, NOW, grace=grace)
    assert first.compacted == 1 and first.removed == []
    # The compacted file and its four inputs side by side (as after a crash before the
    # removal): every row is read once.
    assert read_ids(store) == [f"r{k}{s}" for k in range(4) for s in "ab"]
    # A straggler arrives in the hour; the next sweep compacts it with the compacted file.
    write(store, hour + timedelta(minutes=30), ["late"])
    later = NOW + timedelta(minutes=20)
    second = compaction.compact_base(store, BASE, later, grace=grace)
    assert second.compacted == 1 and second.sources == 5
    assert len(second.removed) == 4  # the inputs of the first, now past the grace period
    assert read_ids(store) == [f"r{k}{s}" for k in range(4) for s in "ab"] + ["late"]
    third = compaction.compact_base(store, BASE, later + timedelta(minutes=20), grace=grace)
    assert third.compacted == 0 and len(third.removed) == 2  # the first compacted + late
    hour_dir = Path(store.root.removeprefix("file://"), BASE, paths.partition(hour))
    assert [p.name.startswith("compact-") for p in hour_dir.iterdir()] == [True]
    assert read_ids(store) == [f"r{k}{s}" for k in range(4) for s in "ab"] + ["late"]


def test_flat_files_move_into_their_partition(store: Store) -> None:
    moment = NOW - timedelta(days=20)  # older than the lookback: flat files are still moved
    write(store, moment, ["a"], flat=True)
    write(store, moment + timedelta(minutes=5), ["b"], flat=True)
    write(store, moment + timedelta(minutes=6), ["c"])
    result = compaction.compact_base(store, BASE, NOW, grace=timedelta(0))
    assert result.compacted == 1 and result.sources == 3
    base = Path(store.root.removeprefix("file://"), BASE)
    assert [p.name for p in base.iterdir() if p.is_file()] == []
    assert read_ids(store) == ["a", "b", "c"]


def test_a_reader_during_compaction_sees_every_row_once(store: Store) -> None:
    ids: list[str] = []
    for h in range(6, 0, -1):
        for k in range(6):
            moment = NOW - timedelta(hours=h, minutes=-k)
            chunk = [f"{h}-{k}-{r}" for r in range(4)]
            write(store, moment, chunk)
            ids.extend(chunk)
    seen: list[list[str]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.append(read_ids(store))
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        moment = NOW
        for _ in range(3):  # compact, add stragglers, compact again (grace 0: inputs go at once)
            compaction.compact_base(store, BASE, moment, grace=timedelta(0))
            moment += timedelta(minutes=1)
        for h in range(6, 0, -1):
            write(store, NOW - timedelta(hours=h, minutes=-50), [f"late-{h}"])
            ids.append(f"late-{h}")
        compaction.compact_base(store, BASE, moment, grace=timedelta(0))
    finally:
        while len(seen) < 3 and not errors:
            threading.Event().wait(0.01)
        stop.set()
        thread.join()
    assert not errors
    assert seen and all(len(s) == len(set(s)) for s in seen)  # never a row twice
    final = read_ids(store)
    assert sorted(final) == sorted(ids)
    # Every read saw every row written before it started (the originals at least).
    originals = {i for i in ids if not i.startswith("late")}
    assert all(originals <= set(s) for s in seen)
