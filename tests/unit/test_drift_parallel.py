"""A check spreads its features over threads, and counts Arrow text columns with Arrow:
neither changes a result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops_operator.drift import build_reference_profile, check_drift, workers
from mlops_operator.drift.profile import category_counts


def frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)

    def frame(shift: float) -> pd.DataFrame:
        data: dict[str, object] = {f"n{i}": rng.normal(shift * (i % 2), 1, rows) for i in range(6)}
        data["i"] = rng.integers(0, 40, rows)
        data["c"] = pd.array(rng.choice(["a", "b", "c", None], rows), dtype="str")
        data["o"] = rng.choice(["x", "y"], rows).astype(object)
        return pd.DataFrame(data)

    return frame(0.0), frame(0.6)


@pytest.mark.parametrize("test", ["ks", "wasserstein", "psi"])
def test_threaded_and_serial_checks_agree(monkeypatch: pytest.MonkeyPatch, test: str) -> None:
    ref, cur = frames(workers.PARALLEL_MIN_ROWS + 1000)
    profile = build_reference_profile(ref, [*ref.columns[:7]], ["c", "o"], sample_size=30)
    monkeypatch.setattr(workers, "available_cpus", lambda: 4)
    assert workers.check_workers(len(cur), 9) == 4
    threaded = check_drift(profile, cur, numeric_test=test)
    monkeypatch.setattr(workers, "available_cpus", lambda: 1)
    assert workers.check_workers(len(cur), 9) == 1
    serial = check_drift(profile, cur, numeric_test=test)
    assert threaded == serial
    assert [f.name for f in threaded.features] == [*ref.columns[:7], "c", "o"]  # in order
    assert {f.name for f in threaded.features if f.drifted} >= {"n1", "n3", "n5"}


def test_small_windows_and_single_features_stay_on_the_callers_thread() -> None:
    assert workers.check_workers(workers.PARALLEL_MIN_ROWS - 1, 20) == 1
    assert workers.check_workers(10**6, 1) == 1
    assert 1 <= workers.check_workers(10**6, 100) <= workers.MAX_WORKERS


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", 6), ("200000 100000\n", 2), ("50000 100000\n", 1), ("garbage", 6)],
)
def test_a_pods_cpu_limit_caps_the_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: int
) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    monkeypatch.setattr(workers, "CGROUP_CPU_MAX", tmp_path / "cpu.max")
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: set(range(6)))
    assert workers.available_cpus() == expected


def test_no_cgroup_file_means_the_affinity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "CGROUP_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: {0, 1, 2})
    assert workers.available_cpus() == 3


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(["b", "a", None, "b", "c", "a", "b"], dtype="str"),
        pd.Series(
            pd.arrays.ArrowExtensionArray(pa.array(["b", "a", None, "b"], pa.large_string()))
        ),
        pd.Series(["b", "a", None, "b"], dtype=object),
        pd.Series(["b", "a", "b"], dtype="category"),
        pd.Series(pd.arrays.ArrowExtensionArray(pa.array([2, 1, None, 2], pa.int64()))),
        pd.Series([2.0, 1.0, np.nan, 2.0]),
    ],
    ids=["arrow-str", "arrow-large-str", "object", "category", "arrow-int", "float"],
)
def test_category_counts_are_the_same_whatever_the_column_type(series: pd.Series) -> None:
    expected: dict[str, int] = {}
    for value in series.dropna():
        expected[str(value)] = expected.get(str(value), 0) + 1
    counts = category_counts(series)
    assert counts == expected
    assert list(counts) == sorted(expected, key=lambda k: (-expected[k], k))  # most frequent first
