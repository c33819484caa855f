"""POST /v2/models/{name}/feedback: ground truth in, validated, written to the labels directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient
from test_serving_fixtures import iris_onnx, wait_ready

from mlops_operator.artifacts import records
from mlops_operator.serving.app import create_app

URL = "/v2/models/iris/feedback"
OK = {"id": "p", "label": "setosa"}


def _labels(directory: Path) -> pa.Table:
    files = sorted(directory.glob("dt=*/hour=*/*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


def _metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no series {line_start}")


@pytest.fixture(scope="module")
def labels_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labels")


@pytest.fixture(scope="module")
def client(labels_dir: Path) -> Iterator[TestClient]:
    config = iris_onnx("logistic").config(labels_uri=labels_dir.as_uri(), max_body_bytes=4_000_000)
    with TestClient(create_app(config)) as c:
        wait_ready(c)
        yield c


def _item(i: int) -> dict[str, Any]:
    return {"id": f"r/{i}", "label": i}


# (body, the error must contain). Raw bytes are sent as they are; anything else as JSON.
BAD_BODIES: list[tuple[Any, str]] = [
    # the body itself
    (b"", "request body is empty"),
    (b"  \n", "request body is empty"),
    (b"{", "malformed JSON"),
    (b'{"id": "a", "label": NaN', "malformed JSON"),
    ([OK], "request body must be a JSON object"),
    ("setosa", "request body must be a JSON object"),
    (3, "request body must be a JSON object"),
    (None, "request body must be a JSON object"),
    ({}, "the body has neither labels nor id and label"),
    # the single form
    ({"id": "a"}, "label is missing"),
    ({"label": "setosa"}, "id is missing"),
    ({"id": "a", "label": 1, "weight": 2}, "unknown field 'weight'"),
    ({"ids": ["a"], "label": 1}, "unknown field 'ids'"),
    ({"id": 7, "label": 1}, "id must be a non-empty string"),
    ({"id": "", "label": 1}, "id must be a non-empty string"),
    ({"id": None, "label": 1}, "id must be a non-empty string"),
    ({"id": ["a"], "label": 1}, "id must be a non-empty string"),
    ({"id": "x" * 161, "label": 1}, "id must be at most 160 printable ASCII characters"),
    ({"id": "a b", "label": 1}, "id must be at most 160 printable ASCII characters"),
    ({"id": "caf\u00e9", "label": 1}, "id must be at most 160 printable ASCII characters"),
    ({"id": "a", "label": None}, "label must be a string, number or boolean"),
    ({"id": "a", "label": {"class": 1}}, "label must be a string, number or boolean"),
    ({"id": "a", "label": [1]}, "label must be a string, number or boolean"),
    ({"id": "a", "label": []}, "label must be a string, number or boolean"),
    ({"id": "a", "label": ""}, "label must not be an empty string"),
    (b'{"id": "a", "label": NaN}', "label must be a finite number, not nan"),
    (b'{"id": "a", "label": Infinity}', "label must be a finite number, not inf"),
    (b'{"id": "a", "label": -Infinity}', "label must be a finite number, not -inf"),
    (b'{"id": "a", "label": 1e999}', "label must be a finite number, not inf"),
    # both forms, or the list form wrong
    ({"id": "a", "label": 1, "labels": [_item(0)]}, "either id and label, or labels, not both"),
    ({"labels": [_item(0)], "label": 1}, "either id and label, or labels, not both"),
    ({"labels": [_item(0)], "id": "a"}, "either id and label, or labels, not both"),
    ({"labels": {"id": "a", "label": 1}}, "labels must be a list"),
    ({"labels": "a"}, "labels must be a list"),
    ({"labels": None}, "labels must be a list"),
    ({"labels": []}, "labels must not be empty"),
    ({"labels": [_item(i) for i in range(10_001)]}, "labels has 10001 entries; at most 10000"),
    ({"labels": [_item(0), "r/1"]}, "labels[1] must be an object"),
    ({"labels": [_item(0), [1, 2]]}, "labels[1] must be an object"),
    ({"labels": [_item(0), _item(1), {**_item(2), "x": 1}]}, "labels[2] has an unknown field 'x'"),
    ({"labels": [_item(0), _item(1), _item(2), {"label": 1}]}, "labels[3].id is missing"),
    (
        {"labels": [_item(0), _item(1), _item(2), {"id": 3, "label": 1}]},
        "labels[3].id must be a non-empty string",
    ),
    ({"labels": [_item(0), {"id": "", "label": 1}]}, "labels[1].id must be a non-empty string"),
    ({"labels": [{"id": "y" * 161, "label": 1}]}, "labels[0].id must be at most 160"),
    ({"labels": [_item(0), {"id": "r/1"}]}, "labels[1].label is missing"),
    (
        {"labels": [{"id": "a", "label": {"a": 1}}]},
        "labels[0].label must be a string, number or boolean",
    ),
    (
        {"labels": [{"id": "a", "label": None}]},
        "labels[0].label must be a string, number or boolean",
    ),
    (
        b'{"labels": [{"id": "a", "label": 1}, {"id": "b", "label": NaN}]}',
        "labels[1].label must be a finite number",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_feedback_is_a_400_naming_the_field(
    client: TestClient, body: Any, message: str
) -> None:
    before = _metric(client, 'mlops_feedback_rejected_total{model="iris",reason="invalid"')
    accepted = _metric(client, "mlops_feedback_labels_total{")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    after = _metric(client, 'mlops_feedback_rejected_total{model="iris",reason="invalid"')
    assert after == before + 1
    assert _metric(client, "mlops_feedback_labels_total{") == accepted  # nothing of it queued


def test_unknown_model_is_404_and_any_version_is_accepted(client: TestClient) -> None:
    for path in ("/v2/models/other/feedback", "/v2/models/other/versions/3/feedback"):
        response = client.post(path, json=OK)
        assert response.status_code == 404 and "model 'other' not found" in response.json()["error"]
    # Labels belong to the deployment: a pod of version 3 takes a label for version 2's rows.
    for version in ("3", "2"):
        response = client.post(f"/v2/models/iris/versions/{version}/feedback", json=OK)
        assert response.status_code == 202 and response.json() == {"accepted": 1}
    assert client.get(URL).status_code == 405


def test_the_limits_themselves_are_accepted(client: TestClient) -> None:
    full = {"labels": [_item(i) for i in range(10_000)]}
    assert client.post(URL, json=full).json() == {"accepted": 10_000}
    longest = {"id": "a" * 128 + "/" + "9" * 31, "label": True}
    assert client.post(URL, json=longest).status_code == 202


def test_body_over_the_limit_is_413() -> None:
    config = iris_onnx("logistic").config(labels_uri="memory://labels", max_body_bytes=100)
    with TestClient(create_app(config)) as client:
        response = client.post(URL, json={"labels": [_item(i) for i in range(20)]})
        assert response.status_code == 413 and "100-byte limit" in response.json()["error"]


def test_without_a_labels_uri_feedback_is_503() -> None:
    with TestClient(create_app(iris_onnx("logistic").config())) as client:
        response = client.post(URL, json=OK)
        assert response.status_code == 503
        error = response.json()["error"]
        assert (
            error.startswith("this server stores no labels:") and "MLOPS_SERVE_LABELS_URI" in error
        )
        assert _metric(client, 'mlops_feedback_rejected_total{model="iris",reason="no_store"') == 1


def test_labels_are_written_on_shutdown_and_read_back(tmp_path: Path) -> None:
    # A batch size and age no test reaches: only closing the server writes the file.
    config = iris_onnx("logistic").config(
        labels_uri=tmp_path.as_uri(), sample_batch_size=10**6, sample_flush_seconds=3600
    )
    sent = [("a", "setosa"), ("b/0", 2), ("b/1", 2.5), ("b/2", False), ("c", -1), ("d", "1")]
    before = datetime.now(UTC)
    with TestClient(create_app(config)) as client:
        assert client.post(URL, json={"id": "a", "label": "setosa"}).json() == {"accepted": 1}
        many = {"labels": [{"id": i, "label": v} for i, v in sent[1:]]}
        assert client.post(URL, json=many).json() == {"accepted": 5}
        assert _metric(client, "mlops_feedback_labels_total{") == 6
        assert not list(tmp_path.glob("dt=*/hour=*/*.parquet"))  # still pending
    after = datetime.now(UTC)
    (file,) = tmp_path.glob("dt=*/hour=*/*.parquet")
    table = pq.read_table(file)
    assert table.schema == pa.schema(
        [(records.ID, pa.string()), (records.LABEL, pa.string()),
         (records.TIME, pa.timestamp("us", tz="UTC"))]
    )  # fmt: skip
    rows = table.to_pylist()
    assert [(r[records.ID], records.decode_label(r[records.LABEL])) for r in rows] == sent
    # The JSON encoding keeps each label's type: 2 is not 2.5 is not False is not "1".
    assert [r[records.LABEL] for r in rows] == ['"setosa"', "2", "2.5", "false", "-1", '"1"']
    assert all(before <= r[records.TIME] <= after for r in rows)
    assert rows[1][records.TIME] == rows[5][records.TIME]  # one request, one receipt time


def test_labels_join_the_sampled_predictions_by_id(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    samples, labels = tmp_path / "samples", tmp_path / "labels"
    config = served.config(sample_rate=1.0, sample_uri=samples.as_uri(), labels_uri=labels.as_uri())
    truth = served.estimator.predict(served.X.iloc[[0, 60, 120]]).tolist()
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        rows = served.X.to_numpy()[[0, 60, 120]].tolist()
        ids = client.post("/v1/models/iris:predict", json={"instances": rows}).json()["ids"]
        feedback = {"labels": [{"id": i, "label": t} for i, t in zip(ids, truth, strict=True)]}
        assert client.post(URL, json=feedback).json() == {"accepted": 3}
    predictions = pa.concat_tables(
        [pq.read_table(f) for f in samples.glob("dt=*/hour=*/*.parquet")]
    )
    joined = predictions.join(_labels(labels), records.ID).sort_by(records.ID).to_pylist()
    assert [r[records.ID] for r in joined] == sorted(ids)
    for row in joined:
        assert records.decode_label(row[records.LABEL]) == row[records.PREDICTION]


def test_full_buffer_answers_503_and_a_failed_write_counts_the_drop(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the labels directory should be")
    config = iris_onnx("logistic").config(labels_uri=(blocker / "labels").as_uri())
    app = create_app(config)
    with TestClient(app) as client:
        app.state.server.labels.writer.max_rows = 3  # a small buffer, to fill it
        full = client.post(URL, json={"labels": [_item(i) for i in range(4)]})
        assert full.status_code == 503 and "retry later" in full.json()["error"]
        assert _metric(client, 'mlops_feedback_rejected_total{model="iris",reason="full"') == 1
        assert client.post(URL, json={"labels": [_item(i) for i in range(3)]}).status_code == 202
    text = app.state.server.metrics.exposition().decode()
    assert 'mlops_feedback_labels_total{model="iris",version="3"} 3.0' in text
    assert 'mlops_feedback_write_errors_total{model="iris",version="3"} 1.0' in text
    assert 'mlops_feedback_dropped_labels_total{model="iris",version="3"} 3.0' in text
