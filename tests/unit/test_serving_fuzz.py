"""Property-based fuzzing of the model server's request handling (hypothesis).

Random and mutated V1 (`:predict`), V2 (`infer`), records and feedback bodies, raw bytes,
content types and headers go to a real server (Starlette's TestClient, a small real ONNX
model). Whatever arrives, the answer is never a 5xx — except the documented 503 of a server
that is not ready, or of feedback on a server started without a labels store — and the
worker stays alive: a valid request after the fuzz still answers 200.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_serving_fixtures import IRIS_FEATURES, Served, iris_onnx, mixed_onnx, wait_ready

from mlops_operator.serving.app import create_app

FUZZ = settings(
    max_examples=150,
    deadline=None,  # a shared, noisy machine: no per-example timing
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
)

PATHS = (
    "/v2/models/iris/infer",
    "/v2/models/iris/versions/3/infer",
    "/v1/models/iris:predict",
    "/v1/models/iris/records",
    "/v2/models/iris/feedback",
    "/v2/models/wine/infer",  # another model: the routed (not the fast) path
    "/v2/models/iris/versions/9/infer",
)

VALID_V2 = {
    "inputs": [
        {"name": n, "datatype": "FP32", "shape": [1], "data": [v]}
        for n, v in zip(IRIS_FEATURES, [5.1, 3.5, 1.4, 0.2], strict=True)
    ]
}


def _client(served: Served, **overrides: Any) -> Iterator[TestClient]:
    app = create_app(served.config(**overrides))
    # A crash inside the app is answered 500 by the test client instead of raised: the
    # assertion on the status reports it with the body that caused it.
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    labels = tmp_path_factory.mktemp("labels")
    yield from _client(iris_onnx("logistic"), labels_uri=Path(labels).as_uri())


@pytest.fixture(scope="module")
def mixed() -> Iterator[TestClient]:
    yield from _client(mixed_onnx(), model_name="iris")


# --- strategies ---------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0, 2**63, -(2**63) - 1, 2**64]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), NUMBERS, st.text(max_size=20), st.sampled_from(IRIS_FEATURES)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
DATATYPES = st.one_of(
    st.sampled_from(["FP32", "FP64", "INT64", "INT8", "BYTES", "BOOL", "UINT64", "FP16", ""]),
    st.text(max_size=8),
    JSON,
)
SHAPES = st.one_of(
    st.lists(st.integers(min_value=-3, max_value=2**40), max_size=4),
    st.lists(st.integers(min_value=0, max_value=4), max_size=3),
    JSON,
)


def _tensor(name: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            "name": name,
            "datatype": DATATYPES,
            "shape": SHAPES,
            "data": st.one_of(st.lists(st.one_of(NUMBERS, JSON), max_size=6), JSON),
            "parameters": JSON,
        },
    )


V2_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=200), JSON),
        "inputs": st.one_of(
            st.lists(_tensor(st.one_of(st.sampled_from(IRIS_FEATURES), JSON)), max_size=6), JSON
        ),
        "outputs": JSON,
        "parameters": JSON,
    },
)
ROWS = st.one_of(
    st.lists(st.one_of(NUMBERS, SCALARS), min_size=0, max_size=6),
    st.dictionaries(st.sampled_from([*IRIS_FEATURES, "amount", "city", "x"]), SCALARS, max_size=6),
    JSON,
)
V1_BODIES = st.fixed_dictionaries(
    {}, optional={"instances": st.one_of(st.lists(ROWS, max_size=5), JSON), "inputs": JSON}
)
RECORDS = st.one_of(
    st.lists(ROWS, max_size=5),
    st.fixed_dictionaries({}, optional={"records": st.one_of(st.lists(ROWS, max_size=5), JSON)}),
)
FEEDBACK = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=40), JSON),
        "label": JSON,
        "labels": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"id": st.one_of(st.text(max_size=20), JSON), "label": JSON}
                ),
                max_size=4,
            ),
            JSON,
        ),
    },
)
BODIES = st.one_of(V2_BODIES, V1_BODIES, RECORDS, FEEDBACK, JSON)


def _encode(body: Any) -> bytes:
    # NaN and inf are not JSON, but clients (Python's json among them) send them anyway.
    return json.dumps(body, allow_nan=True).encode()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """Valid-looking JSON bytes, then cut, spliced, nested deeply or re-encoded."""
    raw = _encode(draw(BODIES))
    how = draw(st.sampled_from(["as is", "cut", "splice", "deep", "utf16", "latin1", "garbage"]))
    if how == "cut" and raw:
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if how == "splice":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(max_size=20)) + raw[at:]
    if how == "deep":
        depth = draw(st.sampled_from([100, 2_000, 50_000]))
        return b'{"inputs":' + b"[" * depth + b"1" + b"]" * depth + b"}"
    if how == "utf16":
        return raw.decode().encode("utf-16")
    if how == "latin1":
        return raw.decode().encode("latin-1", errors="replace") + b"\xe9\xff"
    if how == "garbage":
        return draw(st.binary(max_size=200))
    return raw


CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-16",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
            "",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
)
HEADER_VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=200
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "X-Request-Id": HEADER_VALUES,
        "Accept": HEADER_VALUES,
        "Content-Encoding": st.sampled_from(["gzip", "br", "identity", "x"]),
        "Transfer-Encoding": st.sampled_from(["chunked", "gzip"]),
        "Inference-Header-Content-Length": HEADER_VALUES,
    },
)


def _acceptable(status: int) -> bool:
    """A client error, success, or the documented 503 (not ready)."""
    return status < 500 or status == 503


def _post(client: TestClient, path: str, raw: bytes, headers: dict[str, str]) -> int:
    answer = client.post(path, content=raw, headers=headers)
    assert _acceptable(answer.status_code), (path, raw[:300], headers, answer.text[:500])
    if answer.status_code != 200:
        assert "error" in answer.json() or "ready" in answer.json(), answer.text[:300]
    return answer.status_code


def _refuse(token: str) -> None:
    raise AssertionError(f"the answer is not strict JSON: it holds {token}")


def _still_serves(client: TestClient) -> None:
    answer = client.post("/v2/models/iris/infer", json=VALID_V2)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["shape"] == [1]


# --- the properties -----------------------------------------------------------------------------
@FUZZ
@given(path=st.sampled_from(PATHS), body=BODIES, headers=HEADERS, content_type=CONTENT_TYPES)
def test_structured_bodies_never_answer_5xx(
    server: TestClient, path: str, body: Any, headers: dict[str, str], content_type: str | None
) -> None:
    headers = dict(headers)
    headers.pop("Transfer-Encoding", None)  # the test client frames the body itself
    if content_type is not None:
        headers["Content-Type"] = content_type
    _post(server, path, _encode(body), headers)


@FUZZ
@given(path=st.sampled_from(PATHS), raw=mutated(), content_type=CONTENT_TYPES)
def test_mutated_bytes_never_answer_5xx(
    server: TestClient, path: str, raw: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    _post(server, path, raw, headers)


@FUZZ
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"amount": st.one_of(NUMBERS, SCALARS), "city": st.one_of(SCALARS, JSON)}
        ),
        min_size=1,
        max_size=4,
    ),
    path=st.sampled_from(["/v1/models/iris/records", "/v1/models/iris:predict"]),
)
def test_mixed_types_model_never_answers_5xx(
    mixed: TestClient, rows: list[dict[str, Any]], path: str
) -> None:
    """A model with a string input: numbers, nulls and nested values where strings belong."""
    body: Any = rows if path.endswith("records") else {"instances": rows}
    _post(mixed, path, _encode(body), {"Content-Type": "application/json"})


@FUZZ
@given(
    values=st.lists(st.one_of(NUMBERS, st.none()), min_size=4, max_size=4),
    rows=st.integers(1, 3),
    protocol=st.sampled_from(["v2", "v1", "records"]),
)
def test_extreme_numbers_in_a_well_formed_body(
    server: TestClient, values: list[float | None], rows: int, protocol: str
) -> None:
    """Well-formed V2, V1 and records bodies with NaN, inf, null, huge integers: a 200, a 400
    (a value the model does not accept) or a 422 (the model's output is not finite), never a
    5xx; a 200 answers one label per row and finite probabilities only (never null)."""
    body: Any
    if protocol == "v2":
        path = "/v2/models/iris/infer"
        body = {
            "inputs": [
                {"name": n, "datatype": "FP32", "shape": [rows], "data": [v] * rows}
                for n, v in zip(IRIS_FEATURES, values, strict=True)
            ]
        }
    elif protocol == "v1":
        path, body = "/v1/models/iris:predict", {"instances": [values] * rows}
    else:
        path, body = "/v1/models/iris/records", [dict(zip(IRIS_FEATURES, values, strict=True))]
    answer = server.post(path, content=_encode(body))
    assert _acceptable(answer.status_code), (values, answer.text[:300])
    if answer.status_code != 200:
        assert answer.status_code in (400, 422), (values, answer.text[:300])
        return
    # Strict JSON (no NaN/Infinity tokens), and no null where a number belongs.
    out = json.loads(answer.text, parse_constant=_refuse)
    if protocol == "v2":
        assert out["outputs"][0]["shape"] == [rows] and len(out["outputs"][0]["data"]) == rows
        probabilities = out["outputs"][1]["data"]
    elif protocol == "v1":
        assert len(out["predictions"]) == rows
        probabilities = [p for row in out["probabilities"] for p in row]
    else:
        probabilities = [p for row in out for p in row["probabilities"].values()]
    assert all(isinstance(p, float) and math.isfinite(p) for p in probabilities), answer.text


def test_the_worker_still_answers_after_the_fuzz(server: TestClient, mixed: TestClient) -> None:
    """Runs after the properties above (pytest keeps file order): the same module-scoped
    servers, after every fuzzed request, still predict."""
    _still_serves(server)
    answer = mixed.post("/v1/models/iris/records", json=[{"amount": 12.0, "city": "nice"}])
    assert answer.status_code == 200, answer.text
    assert server.get("/v2/health/live").json() == {"live": True}
