"""The drift window reader fed files written by the real sampler (no hand-made sample files).

The Sampler of the model server writes to a file:// store; drift/window.py selects and reads
those files and a drift check runs on them against a profile of the same data: the rows,
their order, the strings and the float32 features (widened back to the decimals sent) must
all come through, and the record columns must not disturb the check.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops_operator.api.modelversion import Signature, TensorSpec
from mlops_operator.artifacts import Store, paths, records
from mlops_operator.drift import build_reference_profile, check_drift
from mlops_operator.drift.window import CheckPlan, read_window, run_check
from mlops_operator.serving.metrics import ServingMetrics
from mlops_operator.serving.model import Prediction
from mlops_operator.serving.sampling import Sampler
from mlops_operator.serving.signature import CompiledSignature

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
CHUNK = 50


def _data() -> pd.DataFrame:
    iris = load_iris()
    frame = pd.DataFrame(iris.data, columns=FEATURES)  # float64, one decimal: 5.1, 3.5, ...
    frame["species"] = np.asarray(CLASSES, dtype=object)[iris.target]
    return frame


def _sampler(uri: str) -> Sampler:
    signature = Signature(
        inputs=[
            *(TensorSpec(name=f, datatype="FP32", shape=[-1]) for f in FEATURES),
            TensorSpec(name="species", datatype="BYTES", shape=[-1]),
        ]
    )
    sampler = Sampler(
        uri,
        CompiledSignature(signature).columns,
        version="iris-v1",
        rate=1.0,
        batch_size=CHUNK,  # a file per chunk offered
        flush_seconds=3600,
        queue_size=1024,
        metrics=ServingMetrics("iris", "1"),
    )
    sampler.class_labels = CLASSES
    return sampler


def _offer(sampler: Sampler, chunk: pd.DataFrame, request: int) -> None:
    """What the server does after predicting: columns as validated, [n, 1] per feature."""
    n = len(chunk)
    columns = [chunk[f].to_numpy(np.float32).reshape(-1, 1) for f in FEATURES]
    columns.append(chunk["species"].to_numpy(object).reshape(-1, 1))
    proba = np.full((n, 3), 0.25, np.float32)
    proba[np.arange(n), [CLASSES.index(s) for s in chunk["species"]]] = 0.5
    prediction = Prediction(labels=chunk["species"].to_numpy(object), probabilities=proba)
    ids = [f"req{request}/{i}" for i in range(n)]
    sampler.offer(columns, n, ids, prediction)


@pytest.fixture
def written(tmp_path: Path) -> tuple[Store, str, pd.DataFrame]:
    """150 iris rows through the real sampler, as three files written one after the other."""
    store = Store(tmp_path.as_uri())
    directory = paths.samples_dir("ml", "iris", "iris-v1")
    data = _data()
    sampler = _sampler(store.uri(directory))
    sampler.start()
    try:
        sample_dir = tmp_path / directory
        for request, start in enumerate(range(0, len(data), CHUNK)):
            _offer(sampler, data.iloc[start : start + CHUNK], request)
            deadline = time.monotonic() + 10
            while len(list(sample_dir.glob("dt=*/hour=*/*.parquet"))) < request + 1:
                assert time.monotonic() < deadline, "the sampler wrote no file for a full batch"
                time.sleep(0.02)
    finally:
        sampler.close()
    return store, directory, data


def test_window_reads_back_every_sampled_row(written: tuple[Store, str, pd.DataFrame]) -> None:
    store, directory, data = written
    # The files sit in the UTC hour partition they were written in.
    base = Path(store.root.removeprefix("file://")) / directory
    written = sorted(p.relative_to(base).as_posix() for p in base.rglob("*.parquet"))
    assert len(written) == 3
    assert all(
        re.match(r"^dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/\d{8}T\d{12}Z-[0-9a-f]{8}\.parquet$", w)
        for w in written
    )
    window, files = read_window(store, directory, None, None)
    assert files == 3 and len(window) == 150
    # Oldest first, rows in arrival order: the request and row numbers count up.
    assert window[records.ID].tolist() == [f"req{i // CHUNK}/{i % CHUNK}" for i in range(150)]
    # FP32 samples come back as the decimals the client sent (5.1, not 5.099999904632568).
    for feature in FEATURES:
        assert window[feature].dtype == np.float64
        assert window[feature].tolist() == data[feature].tolist()
    assert window["species"].tolist() == data["species"].tolist()
    assert window[records.PREDICTION].tolist() == data["species"].tolist()
    assert set(window[records.VERSION]) == {"iris-v1"}
    top = window[[records.probability_column(c) for c in CLASSES]].max(axis=1)
    assert top.tolist() == [0.5] * 150
    assert window[records.TIME].is_monotonic_increasing
    # A row budget keeps the newest rows, still oldest first.
    newest, _ = read_window(store, directory, None, 70)
    assert newest[records.ID].tolist() == window[records.ID].tolist()[-70:]
    assert newest["petal_width"].tolist() == data["petal_width"].tolist()[-70:]


def test_drift_check_on_sampler_files(written: tuple[Store, str, pd.DataFrame]) -> None:
    store, directory, data = written
    window, _ = read_window(store, directory, None, None)
    profile = build_reference_profile(data, FEATURES, ["species"])
    report = check_drift(profile, window)
    # The very rows of the reference, widened exactly: no feature moves at all.
    assert [f.name for f in report.features] == [*FEATURES, "species"]
    assert all(f.statistic == pytest.approx(0.0, abs=1e-12) for f in report.features)
    assert not report.dataset_drifted and report.samples == 150

    # The same through the DriftMonitor's own entry point, with the profile in the store.
    store.write_bytes("profiles/iris.json", profile.to_json())
    reference = store.uri("profiles/iris.json")
    plan = CheckPlan(reference, store.uri(directory), "samples", min_samples=150)
    outcome = run_check(store, plan)
    assert outcome.failure is None and outcome.files == 3 and outcome.samples == 150
    assert outcome.report is not None and not outcome.report.dataset_drifted

    # Only the newest 50 rows are all virginica: the window now drifts, and says where.
    newest = CheckPlan(plan.reference_uri, plan.source_uri, "samples", rows=50, min_samples=50)
    shifted = run_check(store, newest)
    assert shifted.report is not None and shifted.report.dataset_drifted
    drifted = {f.name for f in shifted.report.features if f.drifted}
    assert {"petal_length", "species"} <= drifted
