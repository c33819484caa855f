"""Training reads a partitioned snapshot as it reads `data.parquet`, and samples to the
TrainingJob's `maxRows` with a seed: the same rows every time, recorded in the lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.unit.test_dataset_partitioned import run_partitioned, run_single, spec_of, write_source

from mlops_operator.artifacts import Store
from mlops_operator.artifacts.errors import ChecksumMismatch
from mlops_operator.training import train_cli
from mlops_operator.training.snapshots import load, sample_positions


def labelled(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 3))
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2],
                         "row": np.arange(rows, dtype=float),
                         "target": np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")})  # fmt: skip


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Store, Any, Any]:
    tmp = tmp_path_factory.mktemp("sample")
    uri = write_source(tmp / "src", labelled(9_000), [2_500, 6_000], row_group=800)
    store = (tmp / "store").as_uri()
    parted = run_partitioned(tmp, store, spec_of(uri, 3), batch_rows=1_000)
    single = run_single(tmp, store, spec_of(uri))
    return tmp, Store(store), parted, single


def test_a_partitioned_snapshot_reads_as_the_single_one(versions: tuple[Any, ...]) -> None:
    _, store, parted, single = versions
    whole = load(store, single["snapshotUri"], single["version"])
    parts = load(store, parted["snapshotUri"], parted["version"])
    pd.testing.assert_frame_equal(parts.frame, whole.frame)
    assert len(parts.frame) == 9_000 and not parts.sampled
    assert parts.frame.attrs["mlops.sample"] == {}  # no cap asked: nothing to record
    with pytest.raises(ChecksumMismatch):
        load(store, parted["snapshotUri"], single["version"])  # the manifest's sha is checked


def test_the_sample_is_seeded_the_same_in_both_layouts_and_spread(
    versions: tuple[Any, ...],
) -> None:
    _, store, parted, single = versions
    a = load(store, parted["snapshotUri"], parted["version"], max_rows=1_000, seed=42)
    b = load(store, single["snapshotUri"], single["version"], max_rows=1_000, seed=42)
    again = load(store, parted["snapshotUri"], parted["version"], max_rows=1_000, seed=42)
    other = load(store, parted["snapshotUri"], parted["version"], max_rows=1_000, seed=43)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.frame, again.frame)
    rows = a.frame["row"].to_numpy()
    assert len(rows) == 1_000 and len(set(rows)) == 1_000 and np.all(np.diff(rows) > 0)
    assert list(rows) == list(sample_positions(9_000, 1_000, 42).astype(float))
    assert set(rows) != set(other.frame["row"])
    # Uniform over the whole version: every part (and each third of the rows) is represented.
    thirds = np.bincount((rows // 3_000).astype(int), minlength=3)
    assert all(250 < n < 420 for n in thirds), thirds
    assert a.lineage() == {"rowsAvailable": 9_000, "rowsSampled": 1_000, "sampleSeed": 42}
    under = load(store, parted["snapshotUri"], parted["version"], max_rows=20_000, seed=42)
    assert len(under.frame) == 9_000 and under.lineage() == {"rowsAvailable": 9_000}


def test_training_with_max_rows_records_the_sample_in_the_lineage(
    versions: tuple[Any, ...],
) -> None:
    tmp, store, parted, _ = versions
    spec = {"datasetRef": {"name": "big"}, "model": "big", "target": "target",
            "estimator": "LogisticRegression", "features": ["x0", "x1", "x2"],
            "maxRows": 1_500, "split": {"seed": 5}}  # fmt: skip
    log = tmp / "train.log"
    code = train_cli.main([
        "--namespace", "ml", "--name", "tj", "--uid", "u1", "--spec", json.dumps(spec),
        "--dataset-name", "big", "--dataset-version", parted["version"],
        "--snapshot-uri", parted["snapshotUri"], "--profile-uri", parted["profileUri"],
        "--store", store.root, "--termination-log", str(log),
    ])  # fmt: skip
    message = json.loads(log.read_text())
    assert code == 0, message
    result = store.read_json(message["resultUri"], message["resultSha256"])
    assert result["rows"] == 1_500
    assert result["dataset"] == {"name": "big", "version": parted["version"],
                                 "rowsAvailable": 9_000, "rowsSampled": 1_500,
                                 "sampleSeed": 5}  # fmt: skip
    assert result["metrics"]["accuracy"] > 0.9
