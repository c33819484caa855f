"""Loading a verified model artifact and running it on validated feature columns."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..api.modelversion import (
    CLASSIFICATION,
    LABEL,
    ONNX,
    PROBABILITIES,
    REGRESSION,
    VARIABLE,
    Task,
)
from .config import ServeConfig
from .signature import NUMPY_DTYPES, Columns

log = logging.getLogger(__name__)


class LoadError(Exception):
    """The artifact cannot be served: wrong checksum, unreadable, or not the agreed format."""


@dataclass
class Prediction:
    """Output for n rows: `labels` + `probabilities` (classifiers) or `values` (regressors)."""

    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    values: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class LoadedModel:
    platform: str
    task: Task
    class_labels: list[str] | None
    runner: Any
    # Inputs whose NaN the model itself handles (nonfinite.py); the signature may override.
    missing_inputs: frozenset[str] = frozenset()

    def predict(self, columns: Columns) -> Prediction:
        return self.runner(columns)


def read_verified(uri: str, sha256: str) -> bytes:
    """The artifact's bytes, only if their sha256 is the expected one."""
    from ..artifacts import ArtifactError, ChecksumMismatch, Store

    try:
        return Store.from_env().read_verified(uri, sha256)
    except ChecksumMismatch as exc:
        raise LoadError(f"{exc}; refusing to load it") from exc
    except (ArtifactError, OSError, ValueError) as exc:
        raise LoadError(f"cannot read artifact {uri}: {exc}") from exc


def load(config: ServeConfig) -> LoadedModel:
    data = read_verified(config.artifact_uri, config.sha256)
    if config.format == ONNX:
        return _load_onnx(data, config)
    return _load_skops(data, config)


# --- ONNX ---------------------------------------------------------------------------------------
_ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


def _load_onnx(data: bytes, config: ServeConfig) -> LoadedModel:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread per session: single-row latency is best without thread hand-offs, and
    # serving scales by replicas/workers rather than by intra-op threads.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise LoadError(f"artifact is not a loadable ONNX model: {exc}") from exc
    wanted = [t.name for t in config.signature.inputs]
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) != set(wanted):
        raise LoadError(
            f"ONNX inputs {sorted(inputs)} do not match the signature inputs {sorted(wanted)}"
        )
    feeds: list[tuple[str, Any, bool]] = []
    for name in wanted:
        meta = inputs[name]
        if meta.type not in _ORT_TYPES:
            raise LoadError(f"ONNX input '{name}' has unsupported type {meta.type}")
        dtype = _ORT_TYPES[meta.type]
        signature_dtype = NUMPY_DTYPES[config.signature.inputs[len(feeds)].datatype]
        # None: the validated column already has the graph's dtype, no cast needed.
        feeds.append((name, None if dtype is signature_dtype else dtype, len(meta.shape) == 2))
    outputs = [o.name for o in session.get_outputs()]
    task: Task
    if LABEL in outputs and PROBABILITIES in outputs:
        task = CLASSIFICATION
        fetch = [LABEL, PROBABILITIES]
    elif VARIABLE in outputs:
        task = REGRESSION
        fetch = [VARIABLE]
    else:
        raise LoadError(
            f"ONNX outputs {outputs} are neither label+probabilities (classifier, zipmap "
            "disabled) nor variable (regressor)"
        )
    if config.task and config.task != task:
        raise LoadError(f"the model is a {task} model but the ModelVersion says {config.task}")
    import onnx

    from .nonfinite import onnx_missing_inputs

    proto = onnx.load_from_string(data)
    labels = config.signature.class_labels or _onnx_class_labels(proto)
    missing = onnx_missing_inputs(proto)
    run = session.run

    def runner(columns: Columns) -> Prediction:
        feed = {}
        for (name, dtype, two_d), column in zip(feeds, columns, strict=True):
            array = column.astype(dtype) if dtype is not None and dtype is not object else column
            if two_d:
                feed[name] = array if array.ndim == 2 else array.reshape(-1, 1)
            else:
                feed[name] = array.reshape(-1)
        result = run(fetch, feed)
        if task == CLASSIFICATION:
            return Prediction(labels=result[0], probabilities=result[1])
        return Prediction(values=result[0].reshape(-1))

    return LoadedModel("onnxruntime", task, labels, runner, missing)


def _onnx_class_labels(model: Any) -> list[str] | None:
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings":
                return [s.decode() for s in attribute.strings]
            if attribute.name == "classlabels_int64s":
                return [str(i) for i in attribute.ints]
    return None


def _artifact_trusted_types() -> tuple[str, ...]:
    from ..artifacts import TRUSTED_TYPES

    return tuple(TRUSTED_TYPES)


# --- skops --------------------------------------------------------------------------------------
# Types outside scikit-learn's estimators that a fitted pipeline legitimately contains.
_SAFE_EXTRA_TYPES = frozenset(
    {
        # The reviewed list shared with the trainer (tree and neighbour internals); files that
        # hold them are only served when their sha256 matches the one recorded at training.
        *_artifact_trusted_types(),
        "builtins.slice",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csr.csr_array",
    }
)


def trusted_types(untrusted: list[str]) -> tuple[list[str], list[str]]:
    """Split the types skops does not trust by default into (trusted, refused).

    A type is trusted only if it resolves, by import, to a scikit-learn estimator class
    (a BaseEstimator subclass defined inside sklearn), or is in a short allow-list of
    numpy/scipy containers, or is in mlops_operator.artifacts.TRUSTED_TYPES (the Cython
    internals, e.g. sklearn.tree._tree.Tree, that the trainer's skops files contain; their
    node indices are used without bounds checks, so they are trusted by name only, and only
    in files whose sha256 was recorded by the trainer). Refused: functions, builtins such as
    eval, anything outside scikit-learn, and any other scikit-learn internal class.
    """
    from sklearn.base import BaseEstimator

    trusted: list[str] = []
    refused: list[str] = []
    for name in untrusted:
        if name in _SAFE_EXTRA_TYPES:
            trusted.append(name)
            continue
        module_name, _, attr = name.rpartition(".")
        ok = False
        if module_name.split(".")[0] == "sklearn":
            try:
                obj = getattr(importlib.import_module(module_name), attr)
                ok = (
                    isinstance(obj, type)
                    and issubclass(obj, BaseEstimator)
                    and obj.__module__.split(".")[0] == "sklearn"
                )
            except (ImportError, AttributeError):
                ok = False
        (trusted if ok else refused).append(name)
    return trusted, refused


def _load_skops(data: bytes, config: ServeConfig) -> LoadedModel:
    import pandas as pd
    import skops.io as sio
    from sklearn.base import is_classifier

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted errors on a damaged file
        raise LoadError(f"artifact is not a skops file: {exc}") from exc
    trusted, refused = trusted_types(untrusted)
    if refused:
        raise LoadError(f"skops artifact contains types that are not trusted: {refused}")
    try:
        estimator = sio.loads(data, trusted=trusted)
    except Exception as exc:
        raise LoadError(f"skops artifact failed to load: {exc}") from exc
    if not hasattr(estimator, "predict"):
        raise LoadError(f"skops artifact holds a {type(estimator).__name__}, not an estimator")
    task: Task = config.task or (CLASSIFICATION if is_classifier(estimator) else REGRESSION)
    names = [t.name for t in config.signature.inputs]
    classes = getattr(estimator, "classes_", None)
    labels = config.signature.class_labels or (
        [str(c) for c in classes] if classes is not None else None
    )
    has_proba = hasattr(estimator, "predict_proba")

    def runner(columns: Columns) -> Prediction:
        frame = pd.DataFrame({n: c.reshape(-1) for n, c in zip(names, columns, strict=True)})
        if task == CLASSIFICATION:
            probabilities = (
                np.asarray(estimator.predict_proba(frame), dtype=np.float32) if has_proba else None
            )
            found = np.asarray(estimator.predict(frame))
            return Prediction(labels=found, probabilities=probabilities)
        return Prediction(values=np.asarray(estimator.predict(frame), dtype=np.float64).reshape(-1))

    from .nonfinite import sklearn_missing_inputs

    missing = sklearn_missing_inputs(estimator, names)
    return LoadedModel("sklearn-skops", task, labels, runner, missing)
