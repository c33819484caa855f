"""Serialise a fitted pipeline as ONNX where it converts faithfully (skl2onnx, and onnxmltools'
converters for XGBoost and LightGBM), else skops; never pickle."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..api.modelversion import (
    CLASSIFICATION,
    LABEL,
    ONNX,
    PROBABILITIES,
    SKOPS,
    VARIABLE,
    Signature,
    TensorSpec,
)

log = logging.getLogger(__name__)
PROBA_TOLERANCE = 1e-4
CHECK_ROWS = 2000


@dataclass(frozen=True)
class Exported:
    data: bytes
    format: str  # onnx | skops
    note: str  # why this format (a failed ONNX conversion says why)


def signature(
    features: list[str], numeric: list[str], task: str, classes: list[str] | None
) -> Signature:
    inputs = [
        TensorSpec(name=c, datatype="FP32" if c in numeric else "BYTES", shape=[-1])
        for c in features
    ]
    if task == CLASSIFICATION:
        n = len(classes or [])
        outputs = [
            TensorSpec(name=LABEL, datatype="BYTES", shape=[-1]),
            TensorSpec(name=PROBABILITIES, datatype="FP32", shape=[-1, n]),
        ]
        return Signature(inputs=inputs, outputs=outputs, class_labels=list(classes or []))
    return Signature(
        inputs=inputs, outputs=[TensorSpec(name=VARIABLE, datatype="FP32", shape=[-1, 1])]
    )


def onnx_feeds(x: pd.DataFrame, numeric: list[str]) -> dict[str, np.ndarray]:
    """The model contract's inputs: one [-1, 1] tensor per column, float32 or string."""
    feeds = {}
    for column in x.columns:
        if column in numeric:
            feeds[column] = x[[column]].to_numpy(dtype=np.float32)
        else:
            feeds[column] = x[[column]].astype(object).to_numpy()
    return feeds


def to_onnx(pipeline: Pipeline, features: list[str], numeric: list[str], task: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial = [
        (c, FloatTensorType([None, 1]) if c in numeric else StringTensorType([None, 1]))
        for c in features
    ]
    final = pipeline.steps[-1][1]
    options = {id(final): {"zipmap": False}} if task == CLASSIFICATION else None
    target_opset: dict[str, int] | None = None
    if _boosting(final):
        from . import boosting

        boosting.register_converters()
        target_opset = {"": boosting.ONNX_OPSET, "ai.onnx.ml": boosting.ML_OPSET}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_sklearn(
            pipeline, initial_types=initial, options=options, target_opset=target_opset
        )
    _rename_inputs(model, features)
    return bytes(model.SerializeToString())


def _boosting(model: object) -> bool:
    """An XGBoost or LightGBM model (never imports either library to find out)."""
    module = type(model).__module__
    return module.startswith(("xgboost", "lightgbm")) or type(model).__name__ == (
        "EncodedLabelClassifier"
    )


def _rename_inputs(model: object, features: list[str]) -> None:
    """skl2onnx turns 'sepal length' into 'sepal_length'; the contract wants the column name."""
    graph = model.graph  # type: ignore[attr-defined]
    for graph_input, wanted in zip(graph.input, features, strict=True):
        old = graph_input.name
        if old == wanted:
            continue
        graph_input.name = wanted
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = wanted


def onnx_matches(
    data: bytes, pipeline: Pipeline, x: pd.DataFrame, numeric: list[str], task: str
) -> str:
    """'' when onnxruntime reproduces the fitted pipeline on `x`, else what differs."""
    from ..artifacts.models import load_onnx

    session = load_onnx(data)
    outputs = session.run(None, onnx_feeds(x, numeric))
    names = [o.name for o in session.get_outputs()]
    result = dict(zip(names, outputs, strict=True))
    if task == CLASSIFICATION:
        if LABEL not in result or PROBABILITIES not in result:
            return f"outputs are {names}, expected {LABEL} and {PROBABILITIES}"
        expected = pipeline.predict(x).astype(str)
        labels = np.asarray(result[LABEL]).reshape(-1).astype(str)
        if not np.array_equal(labels, expected):
            return f"{int((labels != expected).sum())} of {len(x)} labels differ"
        if hasattr(pipeline, "predict_proba"):
            diff = float(np.abs(result[PROBABILITIES] - pipeline.predict_proba(x)).max())
            if diff > PROBA_TOLERANCE:
                return f"probabilities differ by up to {diff:.2g}"
        return ""
    if VARIABLE not in result:
        return f"outputs are {names}, expected {VARIABLE}"
    expected = np.asarray(pipeline.predict(x), dtype=np.float64)
    got = np.asarray(result[VARIABLE], dtype=np.float64).reshape(-1)
    scale = max(1.0, float(np.abs(expected).max()))
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-4 * scale):
        return f"predictions differ by up to {float(np.abs(got - expected).max()):.2g}"
    return ""


def _short(err: BaseException) -> str:
    """One line per error in the chain: skl2onnx errors can embed whole node dumps."""
    parts: list[str] = []
    current: BaseException | None = err
    while current is not None and len(parts) < 3:
        first = (str(current).strip().splitlines() or [""])[0]
        parts.append(f"{type(current).__name__}: {first[:200]}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def export(
    pipeline: Pipeline,
    x: pd.DataFrame,
    features: list[str],
    numeric: list[str],
    task: str,
    prefer: str = "auto",
) -> Exported:
    """ONNX when it converts and reproduces the pipeline's predictions, skops otherwise
    (or always skops with prefer="skops")."""
    import skops.io as sio

    if prefer == SKOPS:
        return Exported(sio.dumps(pipeline), SKOPS, "skops requested")
    check = x[features].iloc[:CHECK_ROWS]
    try:
        data = to_onnx(pipeline, features, numeric, task)
        problem = onnx_matches(data, pipeline, check, numeric, task)
    except Exception as err:
        problem = f"skl2onnx cannot convert it: {_short(err)}"
    if not problem:
        return Exported(data, ONNX, "converted with skl2onnx; predictions checked")
    log.warning("saving as skops: ONNX %s", problem)
    return Exported(sio.dumps(pipeline), SKOPS, f"ONNX not used: {problem}")
