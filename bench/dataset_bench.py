"""Peak memory of a Dataset profile: one pod reading the source whole (`mlops-operator profile`)
against one partition pod of a partitioned Dataset (`mlops-operator profile-part`), by data size.

Data: `--rows` rows x 20 numeric features (normal, float64) + 1 categorical column + a target,
as Parquet files of 1 M rows in row groups of 256 k. Each pod command runs in its own process
(as in its pod) and reports its own peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`).

  single    `profile` on `--single-rows` and half as many rows (it reads everything into
            pandas; the whole source would not fit a pod at --rows): both peaks, and the line
            through them extended to --rows (labelled extrapolated: one pass holds the frame,
            its normalized copy and the Parquet bytes, all proportional to the rows)
  part      `profile-part` of each of `--partitions` partitions of all `--rows` rows: the
            largest peak over the partitions (bounded by --batch-rows, not by the size)
  merge     `profile-merge` of the partitions' partial profiles

Usage: python bench/dataset_bench.py [--rows 20000000] [--partitions 20] [--single-rows 2000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = [f"f{i}" for i in range(20)]
FILE_ROWS = 1_000_000
MEASURE = (
    "import json, resource, sys\n"
    "from mlops_operator.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"  # KiB on Linux
    "sys.stderr.write('\\nPEAK ' + json.dumps({'code': code, 'kib': peak}) + '\\n')\n"
)


def write_source(folder: Path, rows: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for start in range(0, rows, FILE_ROWS):
        n = min(FILE_ROWS, rows - start)
        columns = {name: rng.normal(i % 5, 1 + i % 3, n) for i, name in enumerate(FEATURES)}
        columns["segment"] = rng.choice(["a", "b", "c", "d"], n)
        columns["target"] = rng.integers(0, 2, n)
        pq.write_table(pa.table(columns), folder / f"part-{start // FILE_ROWS:05d}.parquet",
                       row_group_size=1 << 18)  # fmt: skip
    return folder.as_uri() + "/"


def peak(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one pod command in its own process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    line = [x for x in done.stderr.splitlines() if x.startswith("PEAK ")]
    if not line:
        raise SystemExit(f"{args[0]} failed: {done.stderr[-2000:]}")
    report = json.loads(line[-1][5:])
    if report["code"] != 0:
        raise SystemExit(f"{args[0]} exited {report['code']}: {done.stdout[-2000:]}")
    return report["kib"] / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--single-rows", type=int, default=2_000_000)
    parser.add_argument("--batch-rows", type=int, default=1 << 18)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = (root / "store").as_uri()
        print(f"writing {options.rows:,} rows x {len(FEATURES)} features ...", flush=True)
        big = write_source(root / "big", options.rows)
        small = write_source(root / "small", options.single_rows)
        halfsize = write_source(root / "half", options.single_rows // 2)

        def spec(uri: str, partitions: int | None = None) -> str:
            body: dict[str, object] = {"source": {"uri": uri, "format": "parquet"}}
            if partitions:
                body["partitions"] = partitions
            return json.dumps(body)

        common = ["--namespace", "b", "--store", store, "--termination-log", str(root / "log")]
        single_mib, single_s = peak(["profile", "--name", "single", "--spec", spec(small),
                                     *common])  # fmt: skip
        half = peak(["profile", "--name", "half", "--spec", spec(halfsize), *common])
        parts = []
        for index in range(options.partitions):
            parts.append(peak([
                "profile-part", "--name", "big", "--spec", spec(big, options.partitions),
                "--run", "r", "--partitions", str(options.partitions), "--index", str(index),
                "--batch-rows", str(options.batch_rows), *common,
            ]))  # fmt: skip
        merge_mib, merge_s = peak([
            "profile-merge", "--name", "big", "--spec", spec(big, options.partitions),
            "--run", "r", "--partitions", str(options.partitions), *common,
        ])  # fmt: skip
        result = json.loads((root / "log").read_text())
    part_rows = options.rows // options.partitions
    print()
    print("| pod | rows it covers | peak RSS MiB | seconds |")
    print("|---|---|---|---|")
    half_mib, _ = half
    slope = (single_mib - half_mib) / (options.single_rows - options.single_rows // 2)
    print(f"| single pass (measured) | {options.single_rows // 2:,} | {half_mib:,.0f} | — |")
    print(f"| single pass (measured) | {options.single_rows:,} | {single_mib:,.0f} | "
          f"{single_s:.1f} |")  # fmt: skip
    extrapolated = single_mib + slope * (options.rows - options.single_rows)
    print(f"| single pass (extrapolated, {slope * 1e6:,.0f} MiB per M rows) | {options.rows:,} | "
          f"{extrapolated:,.0f} | — |")  # fmt: skip
    worst = max(parts)
    print(f"| one partition (largest of {options.partitions}) | {part_rows:,} | "
          f"{worst[0]:,.0f} | {max(s for _, s in parts):.1f} |")  # fmt: skip
    print(f"| merge | {options.rows:,} (partials) | {merge_mib:,.0f} | {merge_s:.1f} |")
    print()
    print(f"version {result['version'][:12]}, rows {result['rows']:,}, batch rows "
          f"{options.batch_rows:,}; partition peaks MiB: "
          + ", ".join(f"{m:.0f}" for m, _ in parts))  # fmt: skip


if __name__ == "__main__":
    main()
