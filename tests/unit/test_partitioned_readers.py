"""The other readers of a Dataset version take a partitioned snapshot too: a BatchPrediction
scores the manifest's parts (every row once, in snapshot order) and a datasetRef DriftMonitor
reads the newest rows of the version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tests.unit.test_batch_cli import model as iris_model
from tests.unit.test_batch_cli import predict
from tests.unit.test_compare_cli import Model, iris
from tests.unit.test_dataset_partitioned import run_partitioned, spec_of, write_source

from mlops_operator.artifacts import Store, records
from mlops_operator.drift.window import read_snapshot

model = iris_model  # the fixture, under the name the tests ask for


def partitioned_iris(tmp_path: Path) -> tuple[Store, dict[str, object], pd.DataFrame]:
    frame = iris()
    frame["customer"] = [f"c{i:03d}" for i in range(len(frame))]
    uri = write_source(tmp_path / "src", frame, [60], row_group=25)
    store = (tmp_path / "store").as_uri()
    return Store(store), run_partitioned(tmp_path, store, spec_of(uri, 3), batch_rows=20), frame


def test_batch_prediction_scores_a_partitioned_version(tmp_path: Path, model: Model) -> None:
    _, version, frame = partitioned_iris(tmp_path)
    manifest = str(version["snapshotUri"])
    reports = [predict(tmp_path, model, manifest, i, 2) for i in range(2)]
    assert [code for code, _ in reports] == [0, 0]
    assert [r["rows"] for _, r in reports] == [75, 75]
    assert all("/datasets/ml/big/parts/" in s["file"] for _, r in reports for s in r["slices"])
    scored = pd.read_parquet(tmp_path / "out")
    assert len(scored) == 150 and scored[records.ID].is_unique
    assert sorted(scored["customer"]) == list(frame["customer"])
    labels, _ = model.predict(frame.set_index("customer").loc[scored["customer"]])
    assert list(scored[records.PREDICTION]) == [str(v) for v in labels]


def test_a_drift_window_reads_the_newest_rows_of_a_partitioned_version(tmp_path: Path) -> None:
    store, version, frame = partitioned_iris(tmp_path)
    newest = read_snapshot(store, str(version["snapshotUri"]), 70)
    assert list(newest["customer"]) == list(frame["customer"].iloc[-70:])
    assert len(read_snapshot(store, str(version["snapshotUri"]), None)) == 150
