"""The model server's endpoints, through Starlette's TestClient, on real ONNX and skops models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from test_serving_fixtures import (
    IRIS_FEATURES,
    Served,
    diabetes_onnx,
    iris_onnx,
    iris_skops,
    mixed_onnx,
    wait_ready,
)

from mlops_operator.serving.app import create_app


def _client(served: Served, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(served.config(**overrides))) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def lr() -> Iterator[TestClient]:
    yield from _client(iris_onnx("logistic"))


@pytest.fixture(scope="module")
def forest() -> Iterator[TestClient]:
    yield from _client(iris_onnx("forest"))


@pytest.fixture(scope="module")
def skops_client() -> Iterator[TestClient]:
    yield from _client(iris_skops())


def _v2_columns(rows: np.ndarray, names: list[str]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": n, "datatype": "FP32", "shape": [len(rows), 1], "data": rows[:, i].tolist()}
            for i, n in enumerate(names)
        ]
    }


def _outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {o["name"]: o for o in body["outputs"]}


# --- health and metadata ------------------------------------------------------------------------
def test_health_and_metadata(lr: TestClient) -> None:
    assert lr.get("/v2/health/live").json() == {"live": True}
    assert lr.get("/v2/health/ready").json() == {"ready": True}
    for path in ("/v2/models/iris/ready", "/v2/models/iris/versions/3/ready"):
        assert lr.get(path).status_code == 200
    meta = lr.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["versions"] == ["3"]
    assert meta["platform"] == "onnxruntime"
    assert [i["name"] for i in meta["inputs"]] == IRIS_FEATURES
    assert meta["parameters"]["class_labels"] == ["setosa", "versicolor", "virginica"]
    assert lr.get("/v2/models/iris/versions/3").json() == meta
    assert lr.get("/v1/models/iris").json() == {"name": "iris", "version": "3", "ready": True}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/wine"),
        ("GET", "/v2/models/wine/ready"),
        ("GET", "/v2/models/iris/versions/4"),
        ("POST", "/v2/models/wine/infer"),
        ("POST", "/v2/models/iris/versions/9/infer"),
        ("POST", "/v1/models/wine:predict"),
        ("POST", "/v1/models/wine/records"),
    ],
)
def test_unknown_model_or_version_is_404(lr: TestClient, method: str, path: str) -> None:
    response = lr.request(method, path, json={"instances": [[1, 2, 3, 4]]})
    assert response.status_code == 404
    assert "not found" in response.json()["error"] or "no version" in response.json()["error"]


def test_unknown_path_and_method_answer_json(lr: TestClient) -> None:
    missing = lr.get("/v3/anything")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = lr.get("/v2/models/iris/infer")
    assert wrong.status_code == 405 and "error" in wrong.json()


# --- predictions equal scikit-learn's -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["logistic", "forest"])
def test_v2_per_column_predictions_match_sklearn(
    kind: str, lr: TestClient, forest: TestClient
) -> None:
    served = iris_onnx(kind)
    client = lr if kind == "logistic" else forest
    rows = served.X.to_numpy()[::7]
    response = client.post(
        "/v2/models/iris/infer", json={"id": "r1", **_v2_columns(rows, IRIS_FEATURES)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "iris" and body["model_version"] == "3" and body["id"] == "r1"
    out = _outputs(body)
    assert out["label"]["data"] == served.estimator.predict(served.X.iloc[::7]).tolist()
    probabilities = np.asarray(out["probabilities"]["data"]).reshape(out["probabilities"]["shape"])
    expected = served.estimator.predict_proba(served.X.iloc[::7])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_v2_single_matrix_tensor_and_version_path(forest: TestClient) -> None:
    served = iris_onnx("forest")
    rows = served.X.to_numpy()[:10]
    payload = {
        "inputs": [
            {
                "name": "features",
                "datatype": "FP64",
                "shape": [10, 4],
                "data": rows.ravel().tolist(),
            }
        ]
    }
    response = forest.post("/v2/models/iris/versions/3/infer", json=payload)
    assert response.status_code == 200, response.text
    assert (
        _outputs(response.json())["label"]["data"]
        == served.estimator.predict(served.X.iloc[:10]).tolist()
    )


def test_v1_predict_instances_and_dicts(lr: TestClient) -> None:
    served = iris_onnx("logistic")
    rows = served.X.to_numpy()[40:60]
    expected = served.estimator.predict(served.X.iloc[40:60]).tolist()
    lists = lr.post("/v1/models/iris:predict", json={"instances": rows.tolist()})
    assert lists.status_code == 200, lists.text
    assert lists.json()["predictions"] == expected
    np.testing.assert_allclose(
        lists.json()["probabilities"],
        served.estimator.predict_proba(served.X.iloc[40:60]),
        atol=1e-5,
    )
    records = [dict(zip(IRIS_FEATURES, r, strict=True)) for r in rows.tolist()]
    dicts = lr.post("/v1/models/iris:predict", json={"instances": records})
    assert dicts.json()["predictions"] == expected


def test_records_endpoint(lr: TestClient) -> None:
    served = iris_onnx("logistic")
    rows = served.X.iloc[[0, 75, 149]]
    records = rows.to_dict(orient="records")
    header = {"X-Request-Id": "records-1"}
    response = lr.post("/v1/models/iris/records", json=records, headers=header)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body] == ["records-1/0", "records-1/1", "records-1/2"]
    assert [r["label"] for r in body] == served.estimator.predict(rows).tolist()
    expected = served.estimator.predict_proba(rows)
    for got, want in zip(body, expected, strict=True):
        assert list(got["probabilities"]) == ["setosa", "versicolor", "virginica"]
        np.testing.assert_allclose(list(got["probabilities"].values()), want, atol=1e-5)
    wrapped = lr.post("/v1/models/iris/records", json={"records": records}, headers=header)
    assert wrapped.json() == body


def test_regressor_outputs_variable() -> None:
    served = diabetes_onnx()
    names = list(served.X.columns)
    rows = served.X.to_numpy()[:25]
    for client in _client(served):
        response = client.post("/v2/models/iris/infer", json=_v2_columns(rows, names))
        assert response.status_code == 200, response.text
        got = np.asarray(_outputs(response.json())["variable"]["data"])
        np.testing.assert_allclose(got, served.estimator.predict(served.X.iloc[:25]), rtol=1e-4)
        records = client.post("/v1/models/iris/records", json=served.X.iloc[:3].to_dict("records"))
        np.testing.assert_allclose(
            [r["value"] for r in records.json()],
            served.estimator.predict(served.X.iloc[:3]),
            rtol=1e-4,
        )
        metrics = client.get("/metrics").text
        assert 'mlops_serving_prediction_value_count{model="iris",version="3"} 28.0' in metrics


def test_mixed_numeric_and_string_inputs() -> None:
    served = mixed_onnx()
    frame = served.X.iloc[:12]
    expected = served.estimator.predict(frame).tolist()
    for client in _client(served):
        v2 = {
            "inputs": [
                {
                    "name": "amount",
                    "datatype": "FP32",
                    "shape": [12],
                    "data": frame["amount"].tolist(),
                },
                {
                    "name": "city",
                    "datatype": "BYTES",
                    "shape": [12],
                    "data": frame["city"].tolist(),
                },
            ]
        }
        response = client.post("/v2/models/iris/infer", json=v2)
        assert response.status_code == 200, response.text
        assert _outputs(response.json())["label"]["data"] == expected
        instances = [[a, c] for a, c in zip(frame["amount"], frame["city"], strict=True)]
        v1 = client.post("/v1/models/iris:predict", json={"instances": instances})
        assert v1.json()["predictions"] == expected
        bad = client.post("/v1/models/iris/records", json=[{"amount": 3.0, "city": 7}])
        assert bad.status_code == 400 and "feature 'city'" in bad.json()["error"]
        bad_type = dict(v2, inputs=[v2["inputs"][0], dict(v2["inputs"][1], datatype="FP32")])
        wrong = client.post("/v2/models/iris/infer", json=bad_type)
        assert wrong.status_code == 400 and "expects BYTES" in wrong.json()["error"]


def test_skops_model_matches_sklearn(skops_client: TestClient) -> None:
    served = iris_skops()
    rows = served.X.iloc[::10]
    meta = skops_client.get("/v2/models/iris").json()
    assert meta["platform"] == "sklearn-skops"
    response = skops_client.post("/v1/models/iris/records", json=rows.to_dict("records"))
    assert response.status_code == 200, response.text
    assert [r["label"] for r in response.json()] == served.estimator.predict(rows).tolist()
    v2 = skops_client.post(
        "/v2/models/iris/infer", json=_v2_columns(rows.to_numpy(), IRIS_FEATURES)
    ).json()
    np.testing.assert_allclose(
        np.asarray(_outputs(v2)["probabilities"]["data"]).reshape(-1, 3),
        served.estimator.predict_proba(rows),
        atol=1e-6,
    )


# --- validation: every client error is a 4xx naming the problem ---------------------------------
ROW = [5.1, 3.5, 1.4, 0.2]


def _cols(**change: Any) -> dict[str, Any]:
    inputs = [
        {"name": n, "datatype": "FP32", "shape": [1], "data": [v]}
        for n, v in zip(IRIS_FEATURES, ROW, strict=True)
    ]
    for i, tensor in enumerate(inputs):
        inputs[i] = {**tensor, **change.get(tensor["name"], {})}
    return {"inputs": inputs}


CASES: list[tuple[str, str, Any, int, str]] = [
    ("v2", "wrong name", {"inputs": [*_cols()["inputs"][:3], {"name": "petal_wid", "datatype": "FP32", "shape": [1], "data": [1.0]}]}, 400, "unknown input 'petal_wid'"),
    ("v2", "missing input", {"inputs": _cols()["inputs"][:3]}, 400, "missing inputs: ['petal_width']"),
    ("v2", "duplicate input", {"inputs": [*_cols()["inputs"], _cols()["inputs"][0]]}, 400, "given twice"),
    ("v2", "string for numeric", _cols(sepal_length={"data": ["wide"]}), 400, "values must be numbers"),
    ("v2", "bytes datatype", _cols(sepal_length={"datatype": "BYTES"}), 400, "expects FP32"),
    ("v2", "unknown datatype", _cols(sepal_length={"datatype": "FLOAT"}), 400, "unknown datatype 'FLOAT'"),
    ("v2", "bad shape", _cols(sepal_length={"shape": [1, 2]}), 400, "shape [n] or [n, 1]"),
    ("v2", "shape vs data", _cols(sepal_length={"shape": [2]}), 400, "needs 2 values, got 1"),
    ("v2", "row counts differ", _cols(sepal_length={"shape": [2], "data": [1.0, 2.0]}), 400, "rows but earlier inputs have"),
    ("v2", "empty tensors", _cols(**{n: {"shape": [0], "data": []} for n in IRIS_FEATURES}), 400, "empty input"),
    ("v2", "no inputs", {"inputs": []}, 400, "non-empty list"),
    ("v2", "not an object", [1, 2], 400, "JSON object"),
    ("v2", "ragged data", _cols(sepal_length={"data": [[1.0], [2.0, 3.0]], "shape": [2]}), 400, "regular array"),
    ("v2", "matrix width", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}, 400, "shape [n, 4]"),
    ("v2", "null value", _cols(sepal_length={"data": [None]}), 400, "inputs[0] row 0, feature 'sepal_length': NaN or null"),
    ("v1", "short row", {"instances": [[1.0, 2.0, 3.0]]}, 400, "rows of 4 values"),
    ("v1", "empty instances", {"instances": []}, 400, "empty input"),
    ("v1", "no instances key", {"rows": [ROW]}, 400, "'instances' list"),
    ("v1", "strings", {"instances": [["a", "b", "c", "d"]]}, 400, "values must be numbers"),
    ("records", "missing feature", [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3}], 400, "missing features ['petal_width']"),
    ("records", "extra feature", [dict(zip([*IRIS_FEATURES, "colour"], [*ROW, 1], strict=True))], 400, "unknown features ['colour']"),
    ("records", "empty list", [], 400, "empty input"),
    ("records", "not records", {"a": 1}, 400, "list of records"),
    ("records", "record not object", [ROW], 400, "record 0 must be an object"),
]  # fmt: skip
PATHS = {
    "v2": "/v2/models/iris/infer",
    "v1": "/v1/models/iris:predict",
    "records": "/v1/models/iris/records",
}


@pytest.mark.parametrize(
    ("form", "case", "payload", "status", "message"), CASES, ids=[c[1] for c in CASES]
)
def test_invalid_requests_get_4xx_with_message(
    lr: TestClient, form: str, case: str, payload: Any, status: int, message: str
) -> None:
    response = lr.post(PATHS[form], json=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize("path", list(PATHS.values()))
def test_malformed_and_empty_bodies(lr: TestClient, path: str) -> None:
    malformed = lr.post(path, content=b'{"inputs": [', headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    binary = lr.post(path, content=b"\xff\xfe\x00garbage")
    assert binary.status_code == 400 and "malformed JSON" in binary.json()["error"]
    empty = lr.post(path, content=b"")
    assert empty.status_code == 400 and "empty request body" in empty.json()["error"]


def test_body_size_limit() -> None:
    for client in _client(iris_onnx("logistic"), max_body_bytes=2048):
        big = {"instances": [ROW] * 500}
        response = client.post("/v1/models/iris:predict", json=big)
        assert response.status_code == 413
        assert "2048-byte limit" in response.json()["error"]

        def chunks() -> Iterator[bytes]:  # no content-length: the limit is enforced while reading
            yield b'{"instances": ['
            for _ in range(400):
                yield json.dumps(ROW).encode() + b","
            yield json.dumps(ROW).encode() + b"]}"

        streamed = client.post("/v1/models/iris:predict", content=chunks())
        assert streamed.status_code == 413
        small = client.post("/v1/models/iris:predict", json={"instances": [ROW]})
        assert small.status_code == 200


# --- loading ------------------------------------------------------------------------------------
def test_sha256_mismatch_refuses_to_load(caplog: pytest.LogCaptureFixture) -> None:
    served = iris_onnx("logistic")
    wrong = "0" * 64
    with TestClient(create_app(served.config(sha256=wrong))) as client:
        body = wait_ready(client)
        assert body["ready"] is False
        assert "sha256" in body["reason"] and wrong in body["reason"]
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/v2/health/live").status_code == 200
        response = client.post("/v1/models/iris:predict", json={"instances": [ROW]})
        assert response.status_code == 503 and "not ready" in response.json()["error"]
        assert (
            'mlops_serving_model_ready{model="iris",version="3"} 0.0' in client.get("/metrics").text
        )
    assert any("refusing to load" in r.getMessage() for r in caplog.records)


def test_missing_artifact_and_wrong_signature_are_not_ready(tmp_path: Any) -> None:
    served = iris_onnx("logistic")
    missing = served.config(artifact_uri=(tmp_path / "nope.onnx").as_uri())
    with TestClient(create_app(missing)) as client:
        assert "cannot read artifact" in wait_ready(client)["reason"]
    other = diabetes_onnx().signature
    with TestClient(create_app(served.config(signature=other))) as client:
        assert "do not match the signature" in wait_ready(client)["reason"]


def test_skops_refuses_untrusted_types() -> None:
    from mlops_operator.serving.model import trusted_types

    trusted, refused = trusted_types(
        [
            "sklearn.neighbors._classification.KNeighborsClassifier",
            "builtins.eval",
            "os.system",
            "sklearn.utils._testing.assert_allclose",  # a function, not an estimator class
            "sklearn.NotAThing",
            "sklearn.tree._tree.Tree",  # reviewed, shared with the trainer
            "sklearn.neighbors._quad_tree._QuadTree",  # an internal nobody reviewed
        ]
    )
    assert trusted == [
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.tree._tree.Tree",
    ]
    assert refused == [
        "builtins.eval",
        "os.system",
        "sklearn.utils._testing.assert_allclose",
        "sklearn.NotAThing",
        "sklearn.neighbors._quad_tree._QuadTree",
    ]
