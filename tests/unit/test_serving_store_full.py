"""The model server on a full store: a real tmpfs filled to its last byte (as root), so every
sample and label write fails with ENOSPC. Requests are answered, what could not be written is
counted, and once space is free again the server writes again without a restart."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient
from test_serving_fixtures import iris_onnx, wait_ready

from mlops_operator.artifacts import records
from mlops_operator.serving.app import create_app

FEEDBACK = "/v2/models/iris/feedback"
SERIES = '{model="iris",version="3"}'


@pytest.fixture
def full_volume(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs holding one file that fills it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "store"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        with (mount / "ballast").open("wb", buffering=0) as ballast, pytest.raises(OSError) as full:
            while True:
                ballast.write(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _series(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name}{SERIES} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no series {name}{SERIES}")


def _until(client: TestClient, name: str, value: float) -> None:
    deadline = time.monotonic() + 10
    while _series(client, name) != value:
        assert time.monotonic() < deadline, f"{name} is {_series(client, name)}, not {value}"
        time.sleep(0.05)


def test_full_store_keeps_serving_counts_the_drops_and_recovers(full_volume: Path) -> None:
    served = iris_onnx("logistic")
    samples = full_volume / "samples" / "ns" / "iris" / "3"
    labels = full_volume / "labels" / "ns" / "iris"
    config = served.config(
        sample_rate=1.0,
        sample_uri=samples.as_uri(),
        sample_batch_size=5,
        sample_flush_seconds=0.5,  # the 3 labels of a request are written at once, too
        labels_uri=labels.as_uri(),
    )
    rows = served.X.to_numpy()
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        # The store is full: 30 rows sampled, 3 labels received, every answer a success.
        ids = []
        for start in range(0, 30, 5):
            answer = client.post(
                "/v1/models/iris:predict", json={"instances": rows[start : start + 5].tolist()}
            )
            assert answer.status_code == 200 and len(answer.json()["predictions"]) == 5
            ids += answer.json()["ids"]
        feedback = {"labels": [{"id": i, "label": 0} for i in ids[:3]]}
        assert client.post(FEEDBACK, json=feedback).json() == {"accepted": 3}
        _until(client, "mlops_serving_sample_dropped_rows_total", 30.0)
        _until(client, "mlops_feedback_dropped_labels_total", 3.0)
        assert _series(client, "mlops_serving_sampled_rows_total") == 30.0
        assert _series(client, "mlops_serving_sample_write_errors_total") >= 1.0
        assert _series(client, "mlops_feedback_write_errors_total") == 1.0
        assert _series(client, "mlops_serving_sample_files_total") == 0.0
        assert client.get("/v2/health/ready").status_code == 200

        # Space again: the next rows and labels are written, no restart needed.
        (full_volume / "ballast").unlink()
        for start in range(30, 60, 5):
            answer = client.post(
                "/v1/models/iris:predict", json={"instances": rows[start : start + 5].tolist()}
            )
            assert answer.status_code == 200
            ids += answer.json()["ids"]
        feedback = {"labels": [{"id": i, "label": 1} for i in ids[30:33]]}
        assert client.post(FEEDBACK, json=feedback).json() == {"accepted": 3}
    # After shutdown (pending rows flushed): exactly the rows sent after the store had room.
    written = [pq.read_table(f) for f in sorted(samples.glob("dt=*/hour=*/*.parquet"))]
    ids_written = sorted(i for table in written for i in table.column(records.ID).to_pylist())
    assert ids_written == sorted(ids[30:60])
    features = np.concatenate(
        [t.select(served.X.columns.tolist()).to_pandas().to_numpy() for t in written]
    )
    np.testing.assert_allclose(np.sort(features, axis=0), np.sort(rows[30:60], axis=0), rtol=1e-6)
    labelled = [pq.read_table(f) for f in labels.glob("dt=*/hour=*/*.parquet")]
    assert sorted(i for t in labelled for i in t.column(records.ID).to_pylist()) == sorted(
        ids[30:33]
    )
    # No partial file of a failed write was left for a reader to trip on.
    assert {p.name for p in full_volume.rglob("*") if p.is_file()} == {
        *(p.name for p in samples.glob("dt=*/hour=*/*.parquet")),
        *(p.name for p in labels.glob("dt=*/hour=*/*.parquet")),
    }
