"""Prediction ids: every inference answer names its request and rows, on every protocol."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from test_serving_fixtures import IRIS_FEATURES, diabetes_onnx, iris_onnx, wait_ready

from mlops_operator.serving import ids
from mlops_operator.serving.app import create_app

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(iris_onnx("logistic").config())) as c:
        wait_ready(c)
        yield c


def _rows(n: int) -> list[list[float]]:
    return iris_onnx("logistic").X.to_numpy()[:n].tolist()


def _v2(n: int, **extra: Any) -> dict[str, Any]:
    tensor = {"name": "x", "datatype": "FP32", "shape": [n, 4], "data": _rows(n)}
    return {"inputs": [tensor], **extra}


def test_v2_echoes_the_body_id_for_one_row(client: TestClient) -> None:
    response = client.post("/v2/models/iris/infer", json=_v2(1, id="req-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-1" and "parameters" not in body
    assert response.headers["X-Request-Id"] == "req-1"


def test_v2_rows_of_a_batch_get_numbered_ids(client: TestClient) -> None:
    response = client.post("/v2/models/iris/versions/3/infer", json=_v2(3, id="batch-7"))
    body = response.json()
    assert body["id"] == "batch-7"
    assert body["parameters"] == {"prediction_ids": ["batch-7/0", "batch-7/1", "batch-7/2"]}
    assert response.headers["x-request-id"] == "batch-7"
    assert body["outputs"][0]["shape"] == [3]  # the outputs are unchanged


def test_v2_body_id_wins_over_the_header(client: TestClient) -> None:
    headers = {"X-Request-Id": "from-header"}
    both = client.post("/v2/models/iris/infer", json=_v2(1, id="from-body"), headers=headers)
    assert both.json()["id"] == "from-body" and both.headers["X-Request-Id"] == "from-body"
    header_only = client.post("/v2/models/iris/infer", json=_v2(2), headers=headers)
    assert header_only.json()["id"] == "from-header"
    assert header_only.json()["parameters"]["prediction_ids"] == [
        "from-header/0",
        "from-header/1",
    ]
    # An id that is not a non-empty string is not an id: the header (or a new id) is used.
    for not_an_id in ("", 42, None, ["a"]):
        answer = client.post("/v2/models/iris/infer", json=_v2(1, id=not_an_id), headers=headers)
        assert answer.status_code == 200 and answer.json()["id"] == "from-header"


def test_generated_ids_are_fresh_uuid_hex(client: TestClient) -> None:
    seen = set()
    for _ in range(5):
        response = client.post("/v2/models/iris/infer", json=_v2(2))
        body = response.json()
        assert HEX32.match(body["id"]) and response.headers["X-Request-Id"] == body["id"]
        assert body["parameters"]["prediction_ids"] == [f"{body['id']}/0", f"{body['id']}/1"]
        seen.add(body["id"])
    assert len(seen) == 5


def test_v1_predict_lists_the_row_ids(client: TestClient) -> None:
    one = client.post("/v1/models/iris:predict", json={"instances": _rows(1)})
    body = one.json()
    assert HEX32.match(body["ids"][0]) and body["ids"] == [one.headers["X-Request-Id"]]
    assert len(body["predictions"]) == 1
    headers = {"X-Request-Id": "v1-batch"}
    many = client.post("/v1/models/iris:predict", json={"instances": _rows(4)}, headers=headers)
    assert many.json()["ids"] == [f"v1-batch/{i}" for i in range(4)]
    assert many.headers["X-Request-Id"] == "v1-batch"


def test_records_carry_an_id_per_row(client: TestClient) -> None:
    records = [dict(zip(IRIS_FEATURES, row, strict=True)) for row in _rows(2)]
    headers = {"X-Request-Id": "rec"}
    response = client.post("/v1/models/iris/records", json=records, headers=headers)
    assert [r["id"] for r in response.json()] == ["rec/0", "rec/1"]
    single = client.post("/v1/models/iris/records", json=records[:1], headers=headers)
    (row,) = single.json()
    assert row["id"] == "rec" and row["label"] == "setosa"


def test_regressor_answers_carry_ids() -> None:
    served = diabetes_onnx()
    with TestClient(create_app(served.config(model_name="iris"))) as client:
        wait_ready(client)
        rows = served.X.to_numpy()[:2].tolist()
        headers = {"X-Request-Id": "r"}
        records = [dict(zip(served.X.columns, row, strict=True)) for row in rows]
        answer = client.post("/v1/models/iris/records", json=records, headers=headers).json()
        assert [r["id"] for r in answer] == ["r/0", "r/1"] and "value" in answer[0]
        v1 = client.post("/v1/models/iris:predict", json={"instances": rows}).json()
        assert len(v1["ids"]) == 2 and np.isfinite(v1["predictions"]).all()


def test_a_128_character_header_id_is_accepted(client: TestClient) -> None:
    longest = "a" * 127 + "~"
    response = client.post("/v2/models/iris/infer", json=_v2(1), headers={"X-Request-Id": longest})
    assert response.status_code == 200 and response.json()["id"] == longest


@pytest.mark.parametrize(
    "value",
    [
        b"a" * 129,  # too long
        b"two words",  # whitespace
        b"tab\tinside",
        b"caf\xc3\xa9",  # not ASCII
        b"",  # present but empty
    ],
)
def test_bad_request_id_header_is_a_400_naming_it(client: TestClient, value: bytes) -> None:
    for path in ("/v2/models/iris/infer", "/v1/models/iris:predict", "/v1/models/iris/records"):
        response = client.post(path, content=b"{}", headers=[(b"x-request-id", value)])
        assert response.status_code == 400
        assert "X-Request-Id" in response.json()["error"]
        assert "printable ASCII" in response.json()["error"]
        assert "x-request-id" not in response.headers  # no id is known


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "new\nline", "caf\u00e9"])
def test_bad_v2_body_id_is_a_400_naming_it(client: TestClient, bad: str) -> None:
    response = client.post("/v2/models/iris/infer", json=_v2(1, id=bad))
    assert response.status_code == 400
    assert response.json()["error"].startswith("'id' must be at most 128 printable ASCII")


def test_errors_carry_the_request_id_when_it_is_known(client: TestClient) -> None:
    headers = {"X-Request-Id": "known"}
    malformed = client.post("/v1/models/iris:predict", content=b"{", headers=headers)
    assert malformed.status_code == 400 and malformed.headers["X-Request-Id"] == "known"
    # The body id is known once the JSON is read, even if the inputs are wrong.
    wrong = client.post("/v2/models/iris/infer", json={"id": "body-id", "inputs": []})
    assert wrong.status_code == 400 and wrong.headers["X-Request-Id"] == "body-id"
    # Another model (through the router, not the fast path): 404, still with the id.
    other = client.post("/v2/models/other/infer", json=_v2(1), headers=headers)
    assert other.status_code == 404 and other.headers["X-Request-Id"] == "known"


def test_generated_ids_are_version_4_uuids() -> None:
    generated = {ids.generate() for _ in range(200)}
    assert len(generated) == 200
    for value in generated:
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == value
