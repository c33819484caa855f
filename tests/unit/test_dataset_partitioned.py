"""A partitioned Dataset end to end through its pod commands (`profile-part` per index, then
`profile-merge`), against `profile` reading the same rows in one pass: the same rows, rule
results and profile within the single-pass drift bounds; a manifest of content-addressed parts
whose sha256 (the version) is stable across runs and retries."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from tests.unit.test_drift_check import by_name

from mlops_operator.artifacts import Store, paths
from mlops_operator.artifacts.snapshots import read_snapshot, read_tail
from mlops_operator.cli import main as cli
from mlops_operator.drift import check_drift
from mlops_operator.drift.profile import ReferenceProfile

RULES = [
    {"column": "a", "check": "range", "min": -6, "max": 6},
    {"column": "a", "check": "notNull"},
    {"column": "c", "check": "allowedValues", "values": ["x", "y", "z", "w"]},
]


def adversarial(rows: int, seed: int) -> pd.DataFrame:
    """Normal, heavy-tailed with huge outliers, few distinct values, missing values,
    categories and an integer label."""
    rng = np.random.default_rng(seed)
    b = rng.lognormal(0, 1, rows)
    b[rng.choice(rows, 10, replace=False)] = 1e9
    a = rng.normal(0, 1, rows)
    a[::97] = np.nan
    c = rng.choice(["x", "y", "z", "w", "v"], rows, p=[0.4, 0.3, 0.2, 0.0999, 0.0001])
    c = np.where(np.arange(rows) % 113 == 0, None, c)
    return pd.DataFrame({"a": a, "b": b, "d": rng.integers(0, 7, rows).astype(float) / 2,
                         "c": c, "target": rng.integers(0, 3, rows)})  # fmt: skip


def write_source(folder: Path, frame: pd.DataFrame, cuts: list[int], row_group: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0, *cuts, len(frame)]
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        frame.iloc[lo:hi].to_parquet(folder / f"day-{i}.parquet", row_group_size=row_group)
    return folder.as_uri() + "/"


def spec_of(uri: str, partitions: int | None = None, rules: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": {"uri": uri, "format": "parquet"}}
    if rules:
        spec["validation"] = {"rules": RULES}
    if partitions:
        spec["partitions"] = partitions
    return spec


def run_partitioned(
    tmp: Path, store: str, spec: dict[str, Any], run: str = "run-1", batch_rows: int = 4096,
    order: list[int] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Each index's pod command (in `order`), then the merge; returns the merge's report."""
    common = ["--namespace", "ml", "--name", "big", "--spec", json.dumps(spec), "--store", store,
              "--run", run, "--partitions", str(spec["partitions"])]  # fmt: skip
    for index in order or range(spec["partitions"]):
        log = tmp / f"{run}-{index}.log"
        assert cli(["profile-part", *common, "--index", str(index), "--batch-rows",
                    str(batch_rows), "--termination-log", str(log)]) == 0  # fmt: skip
    log = tmp / f"{run}-merge.log"
    assert cli(["profile-merge", *common, "--termination-log", str(log)]) == 0
    report: dict[str, Any] = json.loads(log.read_text())
    return report


def run_single(tmp: Path, store: str, spec: dict[str, Any]) -> dict[str, Any]:
    log = tmp / "single.log"
    assert cli(["profile", "--namespace", "ml", "--name", "one", "--spec", json.dumps(spec),
                "--store", store, "--termination-log", str(log)]) == 0  # fmt: skip
    report: dict[str, Any] = json.loads(log.read_text())
    return report


def summary(report: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(Path(report["summaryUri"][7:]).read_text())
    return document


def profile_of(report: dict[str, Any]) -> ReferenceProfile:
    return ReferenceProfile.from_json(Path(report["profileUri"][7:]).read_bytes())


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ...]:
    tmp = tmp_path_factory.mktemp("partitioned")
    frame = adversarial(120_000, 1)
    uri = write_source(tmp / "src", frame, [30_001, 30_002, 90_000], row_group=7_000)
    store = (tmp / "store").as_uri()
    single = run_single(tmp, store, spec_of(uri))
    parted = run_partitioned(tmp, store, spec_of(uri, 4), order=[3, 1, 0, 2])
    return tmp, frame, uri, store, single, parted


def test_partitioned_profile_is_within_the_single_pass_bounds(pair: tuple[Any, ...]) -> None:
    _, frame, _, _, single, parted = pair
    assert (parted["rows"], parted["columns"]) == (single["rows"], single["columns"]) == (
        120_000, 5,
    )  # fmt: skip
    one, merged = profile_of(single), profile_of(parted)
    assert merged.targets == one.targets == ["target"]
    assert merged.categorical == one.categorical  # counts, missing, every category
    for name in ("a", "b", "d"):
        p, q = merged.numeric[name], one.numeric[name]
        assert (p.count, p.missing, p.min, p.max) == (q.count, q.missing, q.min, q.max)
        assert p.mean == pytest.approx(q.mean, rel=1e-9) and p.std == pytest.approx(q.std, rel=1e-9)
    # Few distinct values: the exact form, identical to one pass.
    d_merged, d_one = merged.numeric["d"], one.numeric["d"]
    assert d_merged.exact and d_one.exact
    assert np.array_equal(d_merged.values, d_one.values)  # type: ignore[arg-type]
    assert np.array_equal(d_merged.counts, d_one.counts)  # type: ignore[arg-type]
    # Drift against each profile vs the exact (scipy) statistics on the raw rows.
    current = adversarial(60_000, 2)
    current["a"] = current["a"] + 0.03
    ks_merged = check_drift(merged, current, numeric_test="ks")
    ks_one = check_drift(one, current, numeric_test="ks")
    w_merged = check_drift(merged, current, numeric_test="wasserstein")
    for col in ("a", "b"):
        ref, cur = frame[col].dropna(), current[col].dropna()
        exact_d = sps.ks_2samp(ref, cur).statistic
        d, error = by_name(ks_merged, col).statistic, by_name(ks_merged, col).error
        assert d <= exact_d + 1e-12  # the profile's D is a lower bound: no false alarm added
        # the bound of docs/drift.md, heavy tail (1e9 outliers) or not: within 1/2048
        assert exact_d <= d + error + 1e-12 and error <= 1 / 2048
        assert abs(by_name(ks_one, col).statistic - exact_d) <= 1 / 2048
        exact_w = sps.wasserstein_distance(ref, cur) / ref.std(ddof=0)
        w = by_name(w_merged, col)
        assert abs(w.statistic - exact_w) <= w.error + 1e-9 and w.error < 5e-3
        if col == "a":  # certified within `error`, measured far closer on smooth data
            assert w.statistic == pytest.approx(exact_w, abs=1e-4)
    chi_merged = check_drift(merged, current, categorical_test="chisquare")
    chi_one = check_drift(one, current, categorical_test="chisquare")
    assert by_name(chi_merged, "c").statistic == pytest.approx(by_name(chi_one, "c").statistic)


def test_rules_are_counted_as_in_one_pass(tmp_path: Path) -> None:
    frame = adversarial(30_000, 4)
    frame.loc[17, "a"] = 9.5  # outside the range rule
    uri = write_source(tmp_path / "src", frame, [10_000], row_group=2_000)
    store = (tmp_path / "store").as_uri()
    single = run_single(tmp_path, store, spec_of(uri, rules=True))
    parted = run_partitioned(tmp_path, store, spec_of(uri, 3, rules=True), batch_rows=1_000)
    assert summary(parted)["validation"] == summary(single)["validation"]
    failing = {r["name"]: r["failingRows"] for r in summary(parted)["validation"]}
    assert failing == {"minRows": 0, "a:range": 1, "a:notNull": int(frame["a"].isna().sum()),
                       "c:allowedValues": int((frame["c"] == "v").sum())}  # fmt: skip
    assert parted["passed"] is False and parted["failed"] == single["failed"]
    assert parted["snapshotUri"] is None and parted["profileUri"] is None  # rejected: no version
    assert "/rejected/" in parted["summaryUri"]


def test_manifest_lists_content_addressed_parts_and_the_version_is_its_sha(
    tmp_path: Path,
) -> None:
    frame = adversarial(20_000, 3).dropna(subset=["a"])
    frame = frame[frame["c"].isin(["x", "y", "z", "w"])].reset_index(drop=True)
    uri = write_source(tmp_path / "src", frame, [5_000], row_group=1_500)
    store_uri = (tmp_path / "store").as_uri()
    store = Store(store_uri)
    first = run_partitioned(tmp_path, store_uri, spec_of(uri, 3))
    assert first["passed"] is True and first["snapshotUri"].endswith(
        f"/datasets/ml/big/{first['version']}/manifest.json"
    )
    manifest = store.read_bytes(first["snapshotUri"])
    assert store.read_verified(first["snapshotUri"], first["version"]) == manifest
    doc = json.loads(manifest)
    assert doc["rows"] == len(frame) == sum(p["rows"] for p in doc["parts"])
    assert [c["name"] for c in doc["columns"]] == ["a", "b", "d", "c", "target"]
    for part in doc["parts"]:
        assert part["file"] == f"../parts/{part['sha256']}.parquet"
        store.read_verified(paths.dataset_part("ml", "big", part["sha256"]), part["sha256"])
    # The parts read back are the single pass's snapshot, row for row.
    single = run_single(tmp_path, store_uri, spec_of(uri))
    whole = read_snapshot(store, single["snapshotUri"], single["version"]).to_pandas()
    parted = read_snapshot(store, first["snapshotUri"], first["version"]).to_pandas()
    pd.testing.assert_frame_equal(parted, whole)
    tail = read_tail(store, first["snapshotUri"], 1234).to_pandas()
    pd.testing.assert_frame_equal(tail.reset_index(drop=True),
                                  whole.iloc[-1234:].reset_index(drop=True))  # fmt: skip
    # Another run, indexes in another order and one retried: the same version and bytes.
    again = run_partitioned(tmp_path, store_uri, spec_of(uri, 3), run="run-2", order=[2, 0, 2, 1])
    assert again["version"] == first["version"]
    assert store.read_bytes(again["snapshotUri"]) == manifest
    assert len(list((tmp_path / "store/datasets/ml/big/parts").iterdir())) == 3
    # Other content, another version.
    frame.loc[0, "b"] = 42.0
    other = write_source(tmp_path / "src2", frame, [5_000], row_group=1_500)
    changed = run_partitioned(tmp_path, store_uri, spec_of(other, 3), run="run-3")
    assert changed["version"] != first["version"]
