"""Real models for the serving tests, trained once per session and written as artifacts.

Imported by the test_serving_* modules; holds no tests itself.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_operator.api.modelversion import Signature, TensorSpec
from mlops_operator.serving.config import ServeConfig

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


@dataclass(frozen=True)
class Served:
    estimator: Any
    X: Any  # numpy matrix or pandas DataFrame the estimator was fitted on
    path: Path
    sha256: str
    format: str
    signature: Signature

    def config(self, **overrides: Any) -> ServeConfig:
        values: dict[str, Any] = {
            "model_name": "iris",
            "model_version": "3",
            "artifact_uri": self.path.as_uri(),
            "format": self.format,
            "sha256": self.sha256,
            "signature": self.signature,
            "sample_rate": 0.0,
        }
        values.update(overrides)
        return ServeConfig(**values)


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mlops-serving-test-"))


def _write(name: str, data: bytes) -> tuple[Path, str]:
    path = _workdir() / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _numeric_signature(names: list[str], class_labels: list[str] | None) -> Signature:
    return Signature(
        inputs=[TensorSpec(name=n, datatype="FP32", shape=[-1]) for n in names],
        class_labels=class_labels,
    )


def _iris() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    return data.data.astype(np.float32), np.asarray(IRIS_CLASSES)[data.target]


def _to_onnx(estimator: Any, inputs: list[tuple[str, Any]]) -> bytes:
    from skl2onnx import to_onnx

    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
    onx = to_onnx(estimator, initial_types=inputs, options=options, target_opset=17)
    return onx.SerializeToString()


def _split_pipeline(estimator: Any, names: list[str]) -> Pipeline:
    # Concatenate the one-per-column inputs back into the matrix the estimator expects.
    return Pipeline(
        [
            ("columns", ColumnTransformer([("all", "passthrough", names)])),
            ("model", estimator),
        ]
    )


@functools.cache
def iris_onnx(kind: str = "logistic") -> Served:
    from skl2onnx.common.data_types import FloatTensorType

    features, y = _iris()
    import pandas as pd

    frame = pd.DataFrame(features, columns=IRIS_FEATURES)
    if kind == "logistic":
        estimator: Any = LogisticRegression(max_iter=500)
    else:
        estimator = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0)
    pipeline = _split_pipeline(estimator, IRIS_FEATURES).fit(frame, y)
    data = _to_onnx(pipeline, [(n, FloatTensorType([None, 1])) for n in IRIS_FEATURES])
    path, sha = _write(f"iris-{kind}.onnx", data)
    return Served(
        pipeline, frame, path, sha, "onnx", _numeric_signature(IRIS_FEATURES, IRIS_CLASSES)
    )


@functools.cache
def diabetes_onnx() -> Served:
    import pandas as pd
    from skl2onnx.common.data_types import FloatTensorType

    data = load_diabetes()
    names = list(data.feature_names)
    frame = pd.DataFrame(data.data.astype(np.float32), columns=names)
    pipeline = _split_pipeline(Ridge(alpha=0.5), names).fit(frame, data.target)
    blob = _to_onnx(pipeline, [(n, FloatTensorType([None, 1])) for n in names])
    path, sha = _write("diabetes-ridge.onnx", blob)
    return Served(pipeline, frame, path, sha, "onnx", _numeric_signature(names, None))


@functools.cache
def mixed_onnx() -> Served:
    """Numeric + string categorical columns: one FP32 and one BYTES input per column."""
    import pandas as pd
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "amount": rng.normal(50, 20, n).astype(np.float32),
            "city": rng.choice(["paris", "lyon", "nice"], n).astype(object),
        }
    )
    y = np.where((frame["amount"] > 50) ^ (frame["city"] == "nice"), "yes", "no")
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["amount"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, y)
    blob = _to_onnx(
        pipeline,
        [("amount", FloatTensorType([None, 1])), ("city", StringTensorType([None, 1]))],
    )
    path, sha = _write("mixed.onnx", blob)
    signature = Signature(
        inputs=[
            TensorSpec(name="amount", datatype="FP32", shape=[-1]),
            TensorSpec(name="city", datatype="BYTES", shape=[-1]),
        ],
        class_labels=["no", "yes"],
    )
    return Served(pipeline, frame, path, sha, "onnx", signature)


@functools.cache
def iris_skops() -> Served:
    """A pipeline served through skops (the trainer's fallback when ONNX conversion fails)."""
    import pandas as pd
    import skops.io as sio

    features, y = _iris()
    frame = pd.DataFrame(features, columns=IRIS_FEATURES)
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("knn", KNeighborsClassifier(n_neighbors=7, algorithm="brute")),
        ]
    ).fit(frame, y)
    path, sha = _write("iris-knn.skops", sio.dumps(pipeline))
    return Served(pipeline, frame, path, sha, "skops", _numeric_signature(IRIS_FEATURES, None))


def wait_ready(client: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/v2/health/ready")
        body: dict[str, Any] = response.json()
        if response.status_code == 200 or "loading" not in body.get("reason", "loading"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"server not ready after {timeout}s: {body}")
        time.sleep(0.02)


def signature_json(signature: Signature) -> str:
    return json.dumps(signature.wire())
