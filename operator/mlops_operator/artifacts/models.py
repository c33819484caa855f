"""Load and verify model artifacts (ONNX or skops) as the ModelVersion contract requires."""

from __future__ import annotations

from typing import Any

from ..api.modelversion import Signature
from .errors import LoadFailed
from .store import Store

# Types beyond skops' own defaults that the allow-listed pipelines contain (found by
# dumping every estimator with every preprocessing option; a test keeps this complete).
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
)


def load_skops(data: bytes) -> Any:
    """A skops pipeline, refusing any type outside skops' defaults and TRUSTED_TYPES."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as err:
        raise LoadFailed(f"not a readable skops file: {type(err).__name__}: {err}") from err
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise LoadFailed(f"skops file contains untrusted types: {', '.join(refused)}")
    try:
        return sio.loads(data, trusted=list(untrusted))
    except Exception as err:
        raise LoadFailed(f"skops load failed: {type(err).__name__}: {err}") from err


def load_onnx(data: bytes) -> Any:
    """An onnxruntime InferenceSession on the CPU."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise LoadFailed(f"onnxruntime cannot load the model: {err}") from err


def input_names(model: Any, fmt: str) -> list[str]:
    if fmt == "onnx":
        return [i.name for i in model.get_inputs()]
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else []


def verify_model(
    uri: str,
    format: str,
    sha256: str,
    *,
    signature: Signature | None = None,
    store: Store | None = None,
) -> None:
    """Check that the artifact exists, matches its sha256 and loads; with a signature, that
    the model takes exactly its inputs. Raises ArtifactMissing, ChecksumMismatch or
    LoadFailed, each with a message saying what is wrong.
    """
    if format not in {"onnx", "skops"}:
        raise LoadFailed(f"unknown model format {format!r}; expected onnx or skops")
    store = store or Store.from_env()
    data = store.read_verified(uri, sha256)
    model = load_onnx(data) if format == "onnx" else load_skops(data)
    if signature is not None:
        expected = [t.name for t in signature.inputs]
        actual = input_names(model, format)
        if actual and actual != expected:
            raise LoadFailed(f"model inputs {actual} do not match the signature inputs {expected}")
