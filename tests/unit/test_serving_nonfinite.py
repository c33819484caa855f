"""NaN, infinity and null in requests, and non-finite model outputs (serving/nonfinite.py).

Every protocol (V2 column tensors, a V2 [n, 4] matrix, V1 instances as lists and as objects,
records) x NaN / null / inf / -inf x one row and several rows, against real models:

- a model that handles no missing value (logistic regression): 400 naming the row and
  feature, for all four;
- a model that imputes (ONNX graph with an Imputer) or handles NaN natively (scikit-learn
  HistGradientBoosting through skops): NaN and null answered 200 with finite outputs,
  infinity still 400;
- a model whose own output is NaN or infinite: 422 naming the row and output, counted, never
  a 200 with null.

Refused rows are never sampled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from starlette.testclient import TestClient
from test_serving_fixtures import (
    IRIS_CLASSES,
    IRIS_FEATURES,
    Served,
    _iris,
    _numeric_signature,
    _to_onnx,
    _write,
    diabetes_onnx,
    iris_onnx,
    wait_ready,
)

from mlops_operator.api.modelversion import Signature, TensorSpec
from mlops_operator.artifacts import records
from mlops_operator.serving.analysis import summarize
from mlops_operator.serving.app import create_app
from mlops_operator.serving.errors import RequestError
from mlops_operator.serving.signature import CompiledSignature

GOOD = [5.1, 3.5, 1.4, 0.2]
NAN, INF = float("nan"), float("inf")
# What a client sends for the bad value: NaN/Infinity tokens (Python's json), or null.
BAD = {"nan": NAN, "null": None, "inf": INF, "-inf": -INF}
REFUSAL = {
    "nan": "NaN or null (a missing value) is not a number this model accepts",
    "null": "NaN or null (a missing value) is not a number this model accepts",
    "inf": ": Infinity is not a number this model accepts",
    "-inf": ": -Infinity is not a number this model accepts",
}
PROTOCOLS = ("v2_columns", "v2_matrix", "v1_lists", "v1_objects", "records")
BAD_FEATURE = 3  # petal_width
SIZES = {1: 0, 5: 3}  # rows in the request -> the row holding the bad value


def _rows(n: int, value: Any) -> list[list[Any]]:
    rows = [list(GOOD) for _ in range(n)]
    rows[SIZES[n]][BAD_FEATURE] = value
    return rows


def _request(protocol: str, rows: list[list[Any]]) -> tuple[str, Any]:
    n = len(rows)
    if protocol == "v2_columns":
        tensors = [
            {"name": name, "datatype": "FP32", "shape": [n], "data": [r[i] for r in rows]}
            for i, name in enumerate(IRIS_FEATURES)
        ]
        return "/v2/models/iris/infer", {"inputs": tensors}
    if protocol == "v2_matrix":
        tensor = {"name": "x", "datatype": "FP32", "shape": [n, 4], "data": rows}
        return "/v2/models/iris/infer", {"inputs": [tensor]}
    objects = [dict(zip(IRIS_FEATURES, r, strict=True)) for r in rows]
    if protocol == "v1_lists":
        return "/v1/models/iris:predict", {"instances": rows}
    if protocol == "v1_objects":
        return "/v1/models/iris:predict", {"instances": objects}
    return "/v1/models/iris/records", objects


def _where(protocol: str, row: int) -> str:
    feature = f"feature '{IRIS_FEATURES[BAD_FEATURE]}'"
    return {
        "v2_columns": f"inputs[{BAD_FEATURE}] row {row}, {feature}",
        "v2_matrix": f"inputs[0] row {row}, {feature}",
        "v1_lists": f"instances[{row}], {feature}",
        "v1_objects": f"instances[{row}], {feature}",
        "records": f"record {row}, {feature}",
    }[protocol]


def _post(client: TestClient, path: str, body: Any) -> Any:
    # allow_nan: the NaN/Infinity tokens Python clients send; the answer must be strict JSON.
    return client.post(path, content=json.dumps(body, allow_nan=True))


def _strict(text: str) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"the answer holds {token}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def _numbers_in(body: Any) -> list[Any]:
    """Every number or null of an answer, wherever it is."""
    if isinstance(body, dict):
        return [v for value in body.values() for v in _numbers_in(value)]
    if isinstance(body, list):
        return [v for value in body for v in _numbers_in(value)]
    return [body] if body is None or isinstance(body, float) else []


def _nonfinite(client: TestClient, source: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("mlops_serving_nonfinite_total{") and f'source="{source}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no mlops_serving_nonfinite_total series for {source}")


@contextlib.contextmanager
def _serve(served: Served, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(served.config(**overrides))) as client:
        wait_ready(client)
        yield client


# --- models -------------------------------------------------------------------------------------
def _imputing_onnx() -> Served:
    """Impute the median, then logistic regression: NaN is a missing value it handles."""
    import pandas as pd
    from skl2onnx.common.data_types import FloatTensorType

    features, y = _iris()
    frame = pd.DataFrame(features, columns=IRIS_FEATURES)
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer([("all", SimpleImputer(strategy="median"), IRIS_FEATURES)]),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, y)
    data = _to_onnx(pipeline, [(n, FloatTensorType([None, 1])) for n in IRIS_FEATURES])
    path, sha = _write("iris-imputing.onnx", data)
    return Served(
        pipeline, frame, path, sha, "onnx", _numeric_signature(IRIS_FEATURES, IRIS_CLASSES)
    )


def _hgb_skops() -> Served:
    """HistGradientBoosting: handles NaN natively (scikit-learn's allow_nan tag)."""
    import pandas as pd
    import skops.io as sio

    features, y = _iris()
    frame = pd.DataFrame(features, columns=IRIS_FEATURES)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(frame, y)
    path, sha = _write("iris-hgb.skops", sio.dumps(model))
    return Served(model, frame, path, sha, "skops", _numeric_signature(IRIS_FEATURES, None))


def _declared(served: Served, allow: bool) -> Signature:
    """The served model's signature with every input declaring allowMissing."""
    inputs = [TensorSpec(name=n, datatype="FP32", shape=[-1], allow_missing=allow)
              for n in IRIS_FEATURES]  # fmt: skip
    return Signature(inputs=inputs, class_labels=served.signature.class_labels)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Logistic regression, no imputer: accepts no missing value; samples every row."""
    samples = tmp_path_factory.mktemp("samples")
    with _serve(iris_onnx("logistic"), sample_uri=samples.as_uri(), sample_rate=1.0) as client:
        yield client


@pytest.fixture(scope="module", params=["onnx-imputer", "skops-hgb"])
def tolerant(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    served = _imputing_onnx() if request.param == "onnx-imputer" else _hgb_skops()
    with _serve(served) as client:
        yield client


# --- a model that handles no missing value ------------------------------------------------------
@pytest.mark.parametrize("n", sorted(SIZES))
@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_model_without_missing_values_refuses_every_non_finite_value(
    strict: TestClient, protocol: str, kind: str, n: int
) -> None:
    path, body = _request(protocol, _rows(n, BAD[kind]))
    before = _nonfinite(strict, "input")
    answer = _post(strict, path, body)
    assert answer.status_code == 400, answer.text
    error = _strict(answer.text)["error"]
    assert error.startswith(_where(protocol, SIZES[n]) + ": "), error
    assert REFUSAL[kind] in error, error
    assert _nonfinite(strict, "input") == before + 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_with_several_bad_values_one_is_named(strict: TestClient, protocol: str) -> None:
    """A matrix (V2 [n, 4], V1 lists) names the first in row order; column-wise bodies the
    first of the first input that holds one."""
    rows = [list(GOOD) for _ in range(4)]
    rows[2][0] = -INF
    rows[1][BAD_FEATURE] = NAN
    path, body = _request(protocol, rows)
    answer = _post(strict, path, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    if protocol in ("v2_matrix", "v1_lists"):
        assert error.startswith(_where(protocol, 1)), error
    else:
        first_column = _where(protocol, 2).replace(IRIS_FEATURES[BAD_FEATURE], IRIS_FEATURES[0])
        assert error.startswith(first_column.replace(f"inputs[{BAD_FEATURE}]", "inputs[0]"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("NaN", "values must be numbers"),
        ("Infinity", "values must be numbers"),
        ("-Infinity", "values must be numbers"),
        (1e39, "inputs[3] row 0, feature 'petal_width': 1e+39 is outside the range of FP32"),
        (-1e300, "inputs[3] row 0, feature 'petal_width': -1e+300 is outside the range of FP32"),
    ],
)
def test_strings_and_numbers_beyond_fp32_are_refused(
    strict: TestClient, value: Any, expected: str
) -> None:
    """Strings are no numbers (JSON has no NaN string), and a finite JSON number that an FP32
    input cannot hold would reach the model as infinity: both a 400."""
    path, body = _request("v2_columns", _rows(1, value))
    body["inputs"][BAD_FEATURE]["datatype"] = "FP64"
    answer = _post(strict, path, body)
    assert answer.status_code == 400, answer.text
    assert expected in answer.json()["error"]


# --- models that handle missing values ----------------------------------------------------------
@pytest.mark.parametrize("n", sorted(SIZES))
@pytest.mark.parametrize("kind", ["nan", "null"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_model_that_handles_missing_values_answers_nan_and_null(
    tolerant: TestClient, protocol: str, kind: str, n: int
) -> None:
    path, body = _request(protocol, _rows(n, BAD[kind]))
    answer = _post(tolerant, path, body)
    assert answer.status_code == 200, answer.text
    numbers = _numbers_in(_strict(answer.text))
    assert all(v is not None and math.isfinite(v) for v in numbers), answer.text


@pytest.mark.parametrize("n", sorted(SIZES))
@pytest.mark.parametrize("kind", ["inf", "-inf"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_model_that_handles_missing_values_still_refuses_infinity(
    tolerant: TestClient, protocol: str, kind: str, n: int
) -> None:
    path, body = _request(protocol, _rows(n, BAD[kind]))
    answer = _post(tolerant, path, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error.startswith(_where(protocol, SIZES[n]) + ": ") and REFUSAL[kind] in error


def test_the_signature_overrides_what_the_model_shows() -> None:
    """allowMissing: false refuses NaN even where the graph imputes it."""
    imputing = _imputing_onnx()
    with _serve(dataclasses.replace(imputing, signature=_declared(imputing, False))) as client:
        path, body = _request("records", _rows(5, NAN))
        answer = _post(client, path, body)
        assert answer.status_code == 400, answer.text
        assert _where("records", 3) in answer.json()["error"]


# --- the model's own output ---------------------------------------------------------------------
def test_a_nan_output_is_a_422_naming_the_row_never_a_200_with_null() -> None:
    """A model without an imputer, whose signature wrongly declares allowMissing: the NaN
    reaches it and its probabilities are NaN. The answer names the row and is counted."""
    logistic = iris_onnx("logistic")
    with _serve(dataclasses.replace(logistic, signature=_declared(logistic, True))) as client:
        for protocol in PROTOCOLS:
            for n, row in SIZES.items():
                path, body = _request(protocol, _rows(n, NAN))
                answer = _post(client, path, body)
                assert answer.status_code == 422, answer.text
                error = _strict(answer.text)["error"]
                where = f"row {row}" if n > 1 else "the request"
                assert f"the model's 'probabilities' output is not a finite number for {where}" in (
                    error
                )
        assert _nonfinite(client, "output") == len(PROTOCOLS) * len(SIZES)
        assert _nonfinite(client, "input") == 0
        # Canary analysis counts them against the model, beside 5xx answers.
        traffic = summarize(client.get("/metrics").text)
        assert traffic.errors == len(PROTOCOLS) * len(SIZES) and traffic.client_errors == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_finite_inputs_that_overflow_the_model_are_a_422(protocol: str) -> None:
    """Finite FP32 inputs so large that a regression's value is infinite (or NaN)."""
    served = diabetes_onnx()
    width = len(served.signature.inputs)
    names = [t.name for t in served.signature.inputs]
    rows = [[0.01] * width for _ in range(3)]
    rows[2] = [3e38 if j % 2 else -3e38 for j in range(width)]
    with _serve(served, model_name="iris") as client:
        if protocol == "v2_columns":
            tensors = [
                {"name": name, "datatype": "FP32", "shape": [3], "data": [r[j] for r in rows]}
                for j, name in enumerate(names)
            ]
            path, body = "/v2/models/iris/infer", {"inputs": tensors}
        elif protocol == "v2_matrix":
            tensor = {"name": "x", "datatype": "FP32", "shape": [3, width], "data": rows}
            path, body = "/v2/models/iris/infer", {"inputs": [tensor]}
        else:
            objects = [dict(zip(names, r, strict=True)) for r in rows]
            path = "/v1/models/iris/records" if protocol == "records" else "/v1/models/iris:predict"
            body = {
                "v1_lists": {"instances": rows},
                "v1_objects": {"instances": objects},
                "records": objects,
            }[protocol]
        answer = _post(client, path, body)
        assert answer.status_code == 422, answer.text
        assert "'variable' output is not a finite number for row 2" in answer.json()["error"]


# --- sampling -----------------------------------------------------------------------------------
def test_refused_requests_are_not_sampled(tmp_path: Path) -> None:
    """Sampling every row: refused inputs (400) and refused outputs (422) leave nothing in the
    store; the accepted requests' rows, and only those, are there."""
    served = iris_onnx("logistic")
    accepted: list[str] = []
    with _serve(served, sample_uri=tmp_path.as_uri(), sample_rate=1.0,
                sample_batch_size=1000, sample_flush_seconds=3600.0) as client:  # fmt: skip
        for protocol in PROTOCOLS:
            for value in BAD.values():
                path, body = _request(protocol, _rows(5, value))
                assert _post(client, path, body).status_code == 400
            path, body = _request(protocol, _rows(5, 3e38))  # finite: the model makes NaN
            assert _post(client, path, body).status_code == 422
        answer = _post(client, "/v1/models/iris:predict", {"instances": [GOOD, GOOD]})
        assert answer.status_code == 200, answer.text
        accepted += answer.json()["ids"]
    # Leaving the client shut the server down, which wrote the pending samples.
    files = sorted(tmp_path.rglob("*.parquet"))
    assert files, "the accepted rows were not written"
    table = pq.ParquetDataset([str(f) for f in files]).read()
    assert sorted(table.column(records.ID).to_pylist()) == sorted(accepted)
    features = np.column_stack([table.column(n).to_numpy() for n in IRIS_FEATURES])
    assert np.isfinite(features).all()


# --- integer and boolean inputs -----------------------------------------------------------------
@pytest.mark.parametrize("datatype", ["INT64", "INT32", "BOOL"])
@pytest.mark.parametrize("value", [NAN, INF, -INF, None])
def test_integer_and_boolean_inputs_never_take_non_finite_values(datatype: str, value: Any) -> None:
    """NaN would become True in a BOOL input and garbage in an INT one: a 400 naming the row,
    even with allowMissing (which only float inputs can have)."""
    signature = CompiledSignature(
        Signature(
            inputs=[
                TensorSpec(name="count", datatype=datatype, shape=[-1], allow_missing=True),
                TensorSpec(name="amount", datatype="FP32", shape=[-1]),
            ]
        )
    )
    signature.accept_missing(frozenset({"count", "amount"}))
    body = {"inputs": [{"name": "count", "datatype": "FP64", "shape": [3], "data": [1, 0, value]},
                       {"name": "amount", "datatype": "FP32", "shape": [3], "data": [1, 2, 3]}]}  # fmt: skip
    with pytest.raises(RequestError, match=r"inputs\[0\] row 2, feature 'count': "):
        signature.from_v2(json.loads(json.dumps(body)))
    # The float input beside it takes NaN: the model shows it handles it there.
    body["inputs"][0]["data"] = [1, 0, 1]
    body["inputs"][1]["data"] = [1, None, 3]
    columns, n = signature.from_v2(body)
    assert n == 3 and math.isnan(float(columns[1][1]))


# --- what the model shows -----------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["LogisticRegression", "RandomForestRegressor"])
def test_the_trainers_pipelines_show_their_numeric_inputs_take_missing_values(
    estimator: str,
) -> None:
    """The built-in pipeline imputes numeric columns (median) and encodes categorical ones:
    both the ONNX graph and the fitted scikit-learn pipeline say the numeric inputs take NaN."""
    import onnx
    import pandas as pd

    from mlops_operator.api.trainingjob import TrainingJobSpec
    from mlops_operator.serving.nonfinite import onnx_missing_inputs, sklearn_missing_inputs
    from mlops_operator.training.estimators import build_pipeline
    from mlops_operator.training.export import to_onnx

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.normal(size=200), "c": rng.choice(["p", "q"], 200)}
    )
    classifier = estimator == "LogisticRegression"
    y = (x["a"] > 0).astype(int).astype(str) if classifier else x["a"] * 2
    spec = TrainingJobSpec.model_validate(
        {"datasetRef": {"name": "d"}, "model": "m", "estimator": estimator, "target": "y"}
    )
    pipeline = build_pipeline(spec, ["a", "b"], ["c"]).fit(x, y)
    task = "classification" if classifier else "regression"
    graph = onnx.load_from_string(to_onnx(pipeline, ["a", "b", "c"], ["a", "b"], task))
    assert {"a", "b"} <= onnx_missing_inputs(graph)
    # (a string input's NaN is no concern of these: BYTES inputs take strings only)
    assert {"a", "b"} <= sklearn_missing_inputs(pipeline, ["a", "b", "c"])


def test_a_model_without_an_imputer_shows_no_input_takes_missing_values() -> None:
    import onnx

    from mlops_operator.serving.nonfinite import onnx_missing_inputs, sklearn_missing_inputs

    logistic = iris_onnx("logistic")
    assert onnx_missing_inputs(onnx.load(logistic.path)) == frozenset()
    assert sklearn_missing_inputs(logistic.estimator, IRIS_FEATURES) == frozenset()
    hgb = _hgb_skops()
    assert sklearn_missing_inputs(hgb.estimator, IRIS_FEATURES) == set(IRIS_FEATURES)
