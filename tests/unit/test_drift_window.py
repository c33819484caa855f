"""A DriftMonitor check end to end on a real file store: window selection, reading, outcome."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_operator.artifacts import Store
from mlops_operator.drift import build_reference_profile
from mlops_operator.drift.window import (
    CheckPlan,
    run_check,
    sample_time,
    select_files,
    widen_float32,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%fZ")  # as serving/sampling.py names files


def write_samples(store: Store, directory: str, moment: datetime, frame: pd.DataFrame) -> str:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    uri, _ = store.write_bytes(f"{directory}/{stamp(moment)}-ab12cd34.parquet", buffer.getvalue())
    return uri


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path.as_uri())


def test_sample_time_reads_the_server_file_name() -> None:
    moment = datetime(2025, 3, 1, 12, 0, 1, 250000, tzinfo=UTC)
    assert sample_time(f"file:///s/{stamp(moment)}-deadbeef.parquet") == moment
    for other in ("file:///s/.20250301T120001250000Z-aa.parquet.tmp-1", "notes.txt",
                  "file:///s/20251399T120001250000Z-aa.parquet", "file:///s/x-aa.parquet"):  # fmt: skip
        assert sample_time(other) is None


def test_select_files_newest_first_within_duration() -> None:
    uris = [f"file:///s/{stamp(T0 + timedelta(minutes=m))}-a{m}.parquet" for m in (0, 5, 10)]
    uris.append("file:///s/README")
    assert select_files(uris, None) == uris[2::-1]
    assert select_files(uris, T0 + timedelta(minutes=5)) == [uris[2], uris[1]]
    assert select_files(uris, T0 + timedelta(hours=1)) == []


def test_rows_window_keeps_the_newest_rows(store: Store) -> None:
    directory = "samples/ml/iris/iris-v1"
    for i in range(3):  # files of 100 rows holding the values 100*i .. 100*i+99, in order
        frame = pd.DataFrame({"x": np.arange(100 * i, 100 * (i + 1), dtype=float)})
        write_samples(store, directory, T0 + timedelta(minutes=i), frame)
    profile = build_reference_profile(pd.DataFrame({"x": np.arange(300.0)}), ["x"], [])
    ref_path = "datasets/ml/iris/" + "a" * 64 + "/profile.json"
    ref_uri, _ = store.write_bytes(ref_path, profile.to_json())
    plan = CheckPlan(ref_uri, store.uri(directory), "samples", rows=150, min_samples=10)
    outcome = run_check(store, plan)
    # The files read: the newest two hold the 150 rows (these are flat-layout files, as
    # servers before partitions wrote them: still read).
    assert outcome.report is not None and outcome.samples == 150 and outcome.files == 2
    # the newest 150 rows are 150..299: KS D against 0..299 is exactly 0.5
    assert outcome.report.features[0].statistic == pytest.approx(0.5)
    later = CheckPlan(ref_uri, store.uri(directory), "samples", rows=None,
                      since=T0 + timedelta(minutes=1), min_samples=10)  # fmt: skip
    outcome = run_check(store, later)
    assert outcome.samples == 200 and outcome.files == 2


def test_outcomes_for_bad_inputs(store: Store) -> None:
    directory = "samples/ml/iris/iris-v1"
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=500), "c": rng.choice(["x", "y"], size=500)})
    ref_uri, _ = store.write_bytes(
        "p/profile.json", build_reference_profile(ref, ["a"], ["c"]).to_json()
    )
    samples = store.uri(directory)
    # no samples yet: too few, not an error and not drift
    empty = run_check(store, CheckPlan(ref_uri, samples, "samples", min_samples=1))
    assert empty.insufficient and empty.samples == 0 and empty.failure is None
    write_samples(store, directory, T0, ref.iloc[:50])
    few = run_check(store, CheckPlan(ref_uri, samples, "samples", min_samples=100))
    assert few.insufficient and few.samples == 50
    enough = run_check(store, CheckPlan(ref_uri, samples, "samples", min_samples=50))
    assert enough.report is not None and not enough.report.dataset_drifted
    # a feature the server does not sample
    missing = run_check(
        store, CheckPlan(ref_uri, samples, "samples", features=("a", "zz"), min_samples=1)
    )
    assert missing.failure == "features" and "zz" in missing.message
    # the reference profile is gone or is not a profile
    gone = run_check(store, CheckPlan(store.uri("p/nope.json"), samples, "samples"))
    assert gone.failure == "reference" and "nope.json" in gone.message
    store.write_bytes("p/bad.json", b'{"format": "something-else"}')
    assert (
        run_check(store, CheckPlan(store.uri("p/bad.json"), samples, "samples")).failure
        == "reference"
    )
    # a damaged sample file
    store.write_bytes(f"{directory}/{stamp(T0 + timedelta(minutes=1))}-ff.parquet", b"not parquet")
    broken = run_check(store, CheckPlan(ref_uri, samples, "samples", min_samples=1))
    assert broken.failure == "window"


def test_snapshot_source(store: Store) -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.normal(size=1000)})
    cur = pd.DataFrame({"a": rng.normal(1.0, 1, size=1000)})
    ref_uri, _ = store.write_bytes(
        "d/v1/profile.json", build_reference_profile(ref, ["a"], []).to_json()
    )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(cur), buffer)
    snap_uri, _ = store.write_bytes("d/v2/data.parquet", buffer.getvalue())
    outcome = run_check(store, CheckPlan(ref_uri, snap_uri, "snapshot", min_samples=10))
    assert outcome.report is not None and outcome.report.dataset_drifted and outcome.samples == 1000
    missing = run_check(store, CheckPlan(ref_uri, store.uri("d/v3/data.parquet"), "snapshot"))
    assert missing.failure == "window"


def test_float32_samples_are_compared_as_the_decimals_clients_sent(store: Store) -> None:
    """An FP32 server samples 5.1 as 5.0999999; unchanged iris traffic must not look drifted."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.iloc[:, :4]
    iris.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    ref_uri, _ = store.write_bytes(
        "p/profile.json", build_reference_profile(iris, list(iris.columns), []).to_json()
    )
    directory = "samples/ml/iris/iris-v1"
    sampled = pd.concat([iris] * 6, ignore_index=True).astype(np.float32)  # as the server does
    write_samples(store, directory, T0, sampled)
    outcome = run_check(store, CheckPlan(ref_uri, store.uri(directory), "samples", p_value=0.01))
    assert outcome.report is not None and outcome.samples == 900
    assert [f.statistic for f in outcome.report.features] == [0.0, 0.0, 0.0, 0.0]
    assert not outcome.report.dataset_drifted
    # a real shift is still seen
    shifted = sampled.assign(petal_length=sampled.petal_length + np.float32(3.0))
    write_samples(store, directory, T0 + timedelta(minutes=1), shifted)
    outcome = run_check(store, CheckPlan(ref_uri, store.uri(directory), "samples", rows=900))
    assert outcome.report is not None
    assert [f.name for f in outcome.report.features if f.drifted] == ["petal_length"]


def test_widen_float32_keeps_other_columns() -> None:
    frame = pd.DataFrame(
        {
            "f32": np.array([5.1, 0.2, 1e-8, 123456.78], dtype=np.float32),
            "f64": [0.1, 0.2, 0.3, 0.4],
            "i": [1, 2, 3, 4],
            "s": ["a", "b", "c", "d"],
        }
    )
    wide = widen_float32(frame)
    assert wide["f32"].dtype == np.float64
    assert wide["f32"].tolist() == [5.1, 0.2, 1e-8, 123456.78]
    assert wide["f64"].tolist() == [0.1, 0.2, 0.3, 0.4] and wide["i"].dtype == frame["i"].dtype
    assert frame["f32"].dtype == np.float32  # the input is left alone


def test_plan_types_live_in_the_pure_module_and_stay_importable_here() -> None:
    from mlops_operator.drift import plan, window

    assert window.CheckPlan is plan.CheckPlan and window.CheckOutcome is plan.CheckOutcome
    assert CheckPlan is plan.CheckPlan
