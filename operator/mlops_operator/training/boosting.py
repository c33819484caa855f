"""XGBoost and LightGBM in training pods: the estimators, a label-encoding classifier wrapper,
and their ONNX converters (onnxmltools' converters registered with skl2onnx).

Only pod-side code imports this module: xgboost and lightgbm are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

MODULES = {
    "XGBClassifier": "xgboost",
    "XGBRegressor": "xgboost",
    "LGBMClassifier": "lightgbm",
    "LGBMRegressor": "lightgbm",
}
# The ONNX ML opset onnxmltools' tree converters write (skl2onnx's default may be newer).
ML_OPSET = 3
ONNX_OPSET = 17


def library_class(name: str) -> type:
    cls: type = getattr(importlib.import_module(MODULES[name]), name)
    return cls


def default_params(name: str) -> dict[str, Any]:
    """Quiet logs; LightGBM's own warnings would drown the pod's output."""
    return {"verbose": -1} if name.startswith("LGBM") else {"verbosity": 0}


class EncodedLabelClassifier(ClassifierMixin, BaseEstimator):
    """An XGBoost or LightGBM classifier trained on label codes 0..n-1, answering with the
    class labels themselves (XGBoost accepts only codes; the model contract wants labels).

    The ONNX graph maps the codes back with a LabelEncoder node, so the served `label`
    output is the class label and `probabilities` keep the class order of `classes_`.
    """

    def __init__(self, estimator: str = "XGBClassifier", params: dict[str, Any] | None = None):
        self.estimator = estimator
        self.params = params

    def fit(self, x: Any, y: Any) -> EncodedLabelClassifier:
        labels = np.asarray(y).astype(str)
        self.classes_ = np.unique(labels)
        codes = np.searchsorted(self.classes_, labels)
        params = {**default_params(self.estimator), **(self.params or {})}
        self.model_ = library_class(self.estimator)(**params).fit(x, codes)
        return self

    def predict(self, x: Any) -> np.ndarray:
        codes = np.asarray(self.model_.predict(x)).astype(int).reshape(-1)
        return np.asarray(self.classes_[codes])

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(x))


def build(name: str, params: dict[str, Any]) -> Any:
    if name.endswith("Classifier"):
        return EncodedLabelClassifier(name, dict(params))
    return library_class(name)(**{**default_params(name), **params})


def _encoded_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    n = len(operator.raw_operator.classes_)
    operator.outputs[0].type = StringTensorType([None])
    operator.outputs[1].type = FloatTensorType([None, n])


def _encoded_convert(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxIdentity, OnnxLabelEncoder

    raw = operator.raw_operator
    opset = container.target_opset
    inner = OnnxSubEstimator(
        raw.model_, operator.inputs[0], op_version=opset, options={"zipmap": False}
    )
    label = OnnxLabelEncoder(
        inner[0],
        keys_int64s=list(range(len(raw.classes_))),
        values_strings=[str(c) for c in raw.classes_],
        op_version=2,
        output_names=[operator.outputs[0]],
    )
    proba = OnnxIdentity(inner[1], op_version=opset, output_names=[operator.outputs[1]])
    label.add_to(scope, container)
    proba.add_to(scope, container)


_registered = False


def register_converters() -> None:
    """Teach skl2onnx the four boosting estimators and the wrapper (once per process)."""
    global _registered
    if _registered:
        return
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for name, converter in (("XGB", convert_xgboost), ("LGBM", convert_lightgbm)):
        update_registered_converter(
            library_class(f"{name}Classifier"),
            f"Mlops{name}Classifier",
            calculate_linear_classifier_output_shapes,
            converter,
            options=classifier_options,
        )
        update_registered_converter(
            library_class(f"{name}Regressor"),
            f"Mlops{name}Regressor",
            calculate_linear_regressor_output_shapes,
            converter,
            options={"split": None} if name == "LGBM" else None,
        )
    update_registered_converter(
        EncodedLabelClassifier,
        "MlopsEncodedLabelClassifier",
        _encoded_shape,
        _encoded_convert,
        options=classifier_options,
    )
    _registered = True


def is_boosting(model: Any) -> bool:
    return isinstance(model, EncodedLabelClassifier) or type(model).__name__ in MODULES


def versions() -> dict[str, str]:
    out = {}
    for module in ("xgboost", "lightgbm", "onnxmltools"):
        try:
            out[module] = str(importlib.import_module(module).__version__)
        except ImportError:
            continue
    return out
