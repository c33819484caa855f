"""Sampled prediction records: the files hold ids, predictions, probabilities, version and time
aligned with what the answers said, and the drift check reads them as it read features only."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient
from test_serving_fixtures import (
    IRIS_CLASSES,
    IRIS_FEATURES,
    Served,
    _iris,
    _numeric_signature,
    _split_pipeline,
    _to_onnx,
    _write,
    diabetes_onnx,
    iris_onnx,
    wait_ready,
)

from mlops_operator.artifacts import records
from mlops_operator.drift import build_reference_profile, check_drift
from mlops_operator.serving.app import create_app

PROBA = [records.probability_column(c) for c in IRIS_CLASSES]


def _read(directory: Path) -> pd.DataFrame:
    files = sorted(directory.glob("dt=*/hour=*/*.parquet"))
    assert files, f"no sample file in {directory}"
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()


def _schema(directory: Path) -> pa.Schema:
    return pq.read_schema(next(directory.glob("dt=*/hour=*/*.parquet")))


def test_classifier_records_match_the_answers(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    config = served.config(
        sample_rate=1.0, sample_uri=tmp_path.as_uri(), model_version_name="iris-v3"
    )
    rows = served.X.to_numpy()
    answered: dict[str, tuple[list[float], str, list[float]]] = {}
    before = datetime.now(UTC)
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        batch = {"id": "b", "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [5, 4], "data": rows[[0, 50, 100, 1, 51]].tolist()}
        ]}  # fmt: skip
        out = {
            o["name"]: o for o in client.post("/v2/models/iris/infer", json=batch).json()["outputs"]
        }
        probabilities = np.asarray(out["probabilities"]["data"]).reshape(5, 3)
        for i, r in enumerate([0, 50, 100, 1, 51]):
            answered[f"b/{i}"] = (
                rows[r].tolist(),
                out["label"]["data"][i],
                probabilities[i].tolist(),
            )
        one = client.post(
            "/v1/models/iris:predict", json={"instances": [rows[120].tolist()]},
            headers={"X-Request-Id": "one"},
        ).json()  # fmt: skip
        answered["one"] = (rows[120].tolist(), one["predictions"][0], one["probabilities"][0])
        recs = served.X.iloc[[70, 140]].to_dict("records")
        for r, row in zip(
            [70, 140], client.post("/v1/models/iris/records", json=recs).json(), strict=True
        ):
            answered[row["id"]] = (
                rows[r].tolist(),
                row["label"],
                list(row["probabilities"].values()),
            )
    after = datetime.now(UTC)

    schema = _schema(tmp_path)
    assert schema.names == [*IRIS_FEATURES, records.ID, records.TIME, records.VERSION,
                            records.PREDICTION, *PROBA]  # fmt: skip
    assert schema.field(records.ID).type == pa.string()
    assert schema.field(records.TIME).type == pa.timestamp("us", tz="UTC")
    assert schema.field(records.VERSION).type == pa.string()
    assert schema.field(records.PREDICTION).type == pa.string()
    assert all(schema.field(c).type == pa.float64() for c in PROBA)
    assert all(schema.field(c).type == pa.float32() for c in IRIS_FEATURES)

    frame = _read(tmp_path).set_index(records.ID)
    assert sorted(frame.index) == sorted(answered)
    assert set(frame[records.VERSION]) == {"iris-v3"}
    for row_id, (features, label, proba) in answered.items():
        got = frame.loc[row_id]
        np.testing.assert_array_equal(got[IRIS_FEATURES].to_numpy(np.float32), np.float32(features))
        assert got[records.PREDICTION] == label
        # The answer's FP32 probabilities, exactly (float32 -> float64 is exact).
        assert got[PROBA].to_list() == proba
        assert before <= got[records.TIME].to_pydatetime() <= after


def test_sampling_rate_keeps_ids_and_predictions_aligned(tmp_path: Path) -> None:
    served = iris_onnx("forest")
    config = served.config(sample_rate=0.3, sample_uri=tmp_path.as_uri())
    rows = served.X.to_numpy()
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        answer = client.post(
            "/v1/models/iris:predict",
            json={"instances": rows.tolist()},
            headers={"X-Request-Id": "all"},
        ).json()
    frame = _read(tmp_path)
    assert 15 < len(frame) < 80  # 30 % of 150, binomial sd ~5.6
    assert set(frame[records.VERSION]) == {"3"}  # no ModelVersion name given: the number
    for _, got in frame.iterrows():
        index = int(got[records.ID].removeprefix("all/"))
        np.testing.assert_array_equal(got[IRIS_FEATURES].to_numpy(np.float32), rows[index])
        assert got[records.PREDICTION] == answer["predictions"][index]
        assert got[PROBA].to_list() == answer["probabilities"][index]
    assert frame[records.TIME].nunique() == 1  # one request, one prediction time


def test_regressor_records_hold_the_value(tmp_path: Path) -> None:
    served = diabetes_onnx()
    config = served.config(model_name="iris", sample_rate=1.0, sample_uri=tmp_path.as_uri())
    rows = served.X.to_numpy()[:4]
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        answer = client.post(
            "/v1/models/iris:predict",
            json={"instances": rows.tolist()},
            headers={"X-Request-Id": "d"},
        ).json()
    schema = _schema(tmp_path)
    assert schema.field(records.PREDICTION).type == pa.float64()
    assert not [n for n in schema.names if n.startswith(records.PROBABILITY_PREFIX)]
    frame = _read(tmp_path)
    assert frame[records.ID].tolist() == ["d/0", "d/1", "d/2", "d/3"]
    assert frame[records.PREDICTION].tolist() == answer["predictions"]


@functools.cache
def _iris_int_labels() -> Served:
    """Iris with classes 0, 1, 2: the ONNX label output is int64, class names from the graph."""
    from skl2onnx.common.data_types import FloatTensorType

    features, y = _iris()
    frame = pd.DataFrame(features, columns=IRIS_FEATURES)
    target = np.searchsorted(IRIS_CLASSES, y)
    pipeline = _split_pipeline(LogisticRegression(max_iter=500), IRIS_FEATURES).fit(frame, target)
    data = _to_onnx(pipeline, [(n, FloatTensorType([None, 1])) for n in IRIS_FEATURES])
    path, sha = _write("iris-int.onnx", data)
    return Served(pipeline, frame, path, sha, "onnx", _numeric_signature(IRIS_FEATURES, None))


def test_integer_classes_are_int64_and_name_the_probability_columns(tmp_path: Path) -> None:
    served = _iris_int_labels()
    config = served.config(sample_rate=1.0, sample_uri=tmp_path.as_uri())
    rows = served.X.to_numpy()[[0, 60, 130]]
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        answer = client.post("/v1/models/iris:predict", json={"instances": rows.tolist()}).json()
    schema = _schema(tmp_path)
    assert schema.field(records.PREDICTION).type == pa.int64()
    assert schema.names[-3:] == ["mlops.proba.0", "mlops.proba.1", "mlops.proba.2"]
    frame = _read(tmp_path)
    assert frame[records.PREDICTION].tolist() == answer["predictions"] == [0, 1, 2]
    assert frame[records.ID].tolist() == answer["ids"]


def test_drift_check_ignores_the_record_columns(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    config = served.config(sample_rate=1.0, sample_uri=tmp_path.as_uri())
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        client.post("/v1/models/iris:predict", json={"instances": served.X.to_numpy().tolist()})
    window = _read(tmp_path)
    assert any(c.startswith("mlops.") for c in window.columns)
    reference = served.X.astype("float64")
    profile = build_reference_profile(reference, IRIS_FEATURES, [])
    features_only = window[IRIS_FEATURES]
    for features in (None, profile.features):
        report = check_drift(profile, window, features=features)
        plain = check_drift(profile, features_only, features=features)
        assert [f.name for f in report.features] == IRIS_FEATURES
        assert report.samples == 150
        assert [(f.statistic, f.p_value) for f in report.features] == [
            (f.statistic, f.p_value) for f in plain.features
        ]
