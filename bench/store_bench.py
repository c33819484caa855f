"""Store lifecycle benchmark: a drift check's window read against history length, and
compaction throughput.

History: a deployment served at 100 requests/s, 10 % sampled, files of 256 rows (the
defaults): one sample file every 25.6 s, ~3,375 a day. 1 day and 30 days of it, in the
partitioned layout (dt=/hour=, what the server writes now) and in the flat layout (every file
in one directory, what it wrote before). The window is the monitor's default, the newest
10,000 rows, and a one-hour duration window. Each read: list, select, read the Parquet files,
one frame. Rounds interleave every layout and history; medians and ratios are printed.

Run: .venv/bin/python bench/store_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_operator.artifacts import Store, paths
from mlops_operator.artifacts.lifecycle import compaction
from mlops_operator.drift.window import read_samples, read_window, select_files

ROWS_PER_FILE = 256
FILE_SECONDS = ROWS_PER_FILE / (100 * 0.1)  # 25.6 s
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
FEATURES = 20


def _file_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    columns = {f"f{i}": rng.normal(size=ROWS_PER_FILE).astype(np.float32) for i in range(FEATURES)}
    columns["mlops.id"] = [f"{seed}-{r}" for r in range(ROWS_PER_FILE)]
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def build(root: Path, days: int, *, flat: bool) -> tuple[str, int]:
    """Write `days` of sample files (plain writes: this is setup, not the measure)."""
    base = root / "samples" / "ml" / "iris" / "v1"
    payloads = [_file_bytes(s) for s in range(16)]
    count = int(days * 86400 / FILE_SECONDS)
    made: set[Path] = set()
    for i in range(count):
        moment = NOW - timedelta(seconds=(count - i) * FILE_SECONDS)
        name = paths.record_file(moment, f"{i:08x}")
        target = base / (name.rsplit("/", 1)[-1] if flat else name)
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(payloads[i % len(payloads)])
    return "samples/ml/iris/v1", count


def read_partitioned(store: Store, base: str, since: datetime | None, rows: int | None) -> int:
    frame, _ = read_window(store, base, since, rows)
    return len(frame)


def read_flat(store: Store, base: str, since: datetime | None, rows: int | None) -> int:
    """The reader before partitions: list the whole directory, select, read newest first."""
    chosen = select_files(store.list(base), since)
    return len(read_samples(store, chosen, rows))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[tuple[str, int], tuple[Store, str, int]] = {}
        for layout in ("partitioned", "flat"):
            for days in (1, 30):
                root = Path(tmp, f"{layout}-{days}")
                base, count = build(root, days, flat=layout == "flat")
                stores[(layout, days)] = (Store(root.as_uri()), base, count)
        windows = {
            "newest 10,000 rows": (None, 10_000),
            "last hour": (NOW - timedelta(hours=1), None),
        }
        times: dict[tuple[str, int, str], list[float]] = {}
        sizes: dict[tuple[str, int, str], int] = {}
        for _ in range(args.rounds):
            for wname, (since, rows) in windows.items():
                for (layout, days), (store, base, _) in stores.items():
                    reader = read_partitioned if layout == "partitioned" else read_flat
                    started = time.perf_counter()
                    got = reader(store, base, since, rows)
                    times.setdefault((layout, days, wname), []).append(
                        time.perf_counter() - started
                    )
                    sizes[(layout, days, wname)] = got
        print(
            f"Window read vs history (100 req/s sampled 10 %, {ROWS_PER_FILE}-row files, "
            f"{FEATURES} float32 features); median of {args.rounds} interleaved rounds"
        )
        print(
            f"{'window':<20} {'layout':<12} {'1 day':>10} {'30 days':>10} {'30d / 1d':>9}"
            "  rows  files(30d)"
        )
        for wname in windows:
            for layout in ("partitioned", "flat"):
                one = statistics.median(times[(layout, 1, wname)])
                thirty = statistics.median(times[(layout, 30, wname)])
                ratios = [
                    b / a
                    for a, b in zip(
                        times[(layout, 1, wname)], times[(layout, 30, wname)], strict=True
                    )
                ]
                print(f"{wname:<20} {layout:<12} {one * 1000:>8.1f}ms {thirty * 1000:>8.1f}ms "
                      f"{statistics.median(ratios):>8.2f}x  {sizes[(layout, 30, wname)]:>5}  "
                      f"{stores[(layout, 30)][2]}")  # fmt: skip
        # Compaction throughput: one day of the partitioned history, closed hours.
        store, base, count = stores[("partitioned", 1)]
        started = time.perf_counter()
        result = compaction.compact_base(store, base, NOW + timedelta(hours=1), grace=timedelta(0))
        seconds = time.perf_counter() - started
        print(
            f"\nCompaction of 1 day ({count} files): {result.hours} hours, "
            f"{result.sources} files -> "
            f"{result.compacted} files, {result.rows:,} rows in {seconds:.1f} s: "
            f"{result.sources / seconds:,.0f} files/s, {result.rows / seconds:,.0f} rows/s, "
            f"{result.bytes_removed / seconds / 1e6:.1f} MB/s read, "
            f"{result.bytes_removed / max(result.bytes_written, 1):.2f}x smaller"
        )
        after = time.perf_counter()
        rows_after = read_partitioned(store, base, None, 10_000)
        print(f"window read after compaction (newest 10,000 rows): "
              f"{(time.perf_counter() - after) * 1000:.1f} ms, {rows_after} rows")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
