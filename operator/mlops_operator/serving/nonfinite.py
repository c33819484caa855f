"""NaN and infinity: which inputs may hold NaN, and the refusals that name the row and feature.

The rule (docs/serving.md, "Non-finite numbers"):

- Infinity (+ or -) is never a feature value a model can use: refused with a 400, as is a
  finite number that overflows the input's datatype (1e39 in an FP32 input).
- NaN is a missing value. An input accepts it only when the model handles missing values
  there: the signature says so (`allowMissing`), or, when it says nothing, the model shows it
  (an ONNX imputer or tree ensemble that tracks missing values on that input's path; a
  scikit-learn estimator whose steps impute or accept NaN). Otherwise a 400.
- A model output that is not finite is never answered with a 200 (inference.py).

Each refusal names where the value was, in the protocol's terms, e.g.
`inputs[0] row 3, feature 'petal_width': NaN is not a number this model accepts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import RequestError
from .metrics import NONFINITE_OUTPUT_STATUS

# (row, feature index) -> where that value was, e.g. "inputs[0] row 3, feature 'x'"
Locate = Callable[[int, int], str]

# An answer refused because the model's own output was not finite is a 422 (the status lives
# in metrics.py, which the operator's canary analysis reads without numpy): the request was
# well formed, but the model cannot score it (the same request fails the same way again).


class NonFiniteInput(RequestError):
    """A 400 for a NaN, infinite or overflowing input value; the server counts these."""


# The largest magnitude each datatype holds; any other input only needs finite numbers.
_LIMITS = {"FP32": float(np.finfo(np.float32).max), "FP64": float(np.finfo(np.float64).max)}
_SMALL = 64  # below this many values, a Python loop beats numpy's per-call overhead


def in_range(original: np.ndarray, datatype: str) -> bool:
    """Whether every (float) value sent is finite and fits `datatype`, so the cast neither
    overflows nor needs a look at NaN: the one cheap pass of the common case."""
    limit = _LIMITS.get(datatype, _LIMITS["FP64"])
    if original.size <= _SMALL:
        return all(-limit <= v <= limit for v in original.ravel().tolist())
    return bool((np.abs(original) <= limit).all())  # NaN compares False


def bad_index(cast: np.ndarray, allow_nan: bool | np.ndarray) -> int | None:
    """The flat index of the first value (row-major) that is not accepted, or None.

    `allow_nan` is one flag for the whole array, or one per column of a 2-D array.
    """
    finite = np.isfinite(cast)
    if finite.all():  # the common case: one pass
        return None
    bad = ~finite
    if np.any(allow_nan):
        bad &= ~(np.isnan(cast) & allow_nan)
    found = np.flatnonzero(bad)
    return int(found[0]) if found.size else None


def refusal(where: str, original: Any, datatype: str, allow_nan: bool) -> NonFiniteInput:
    """The 400 for one refused value; `original` is the value as sent (before the cast)."""
    value = float(original)
    if np.isnan(value):
        what = "NaN or null (a missing value) is not a number this model accepts here"
    elif np.isinf(value):
        what = f"{'-' if value < 0 else ''}Infinity is not a number this model accepts"
    else:  # finite as sent, infinite once cast to the input's datatype
        return NonFiniteInput(f"{where}: {value!r} is outside the range of {datatype}")
    if not allow_nan and datatype in ("FP32", "FP64"):
        what += "; send a finite number"
    return NonFiniteInput(f"{where}: {what}")


def check_matrix(
    original: np.ndarray,
    cast: np.ndarray,
    allow_nan: np.ndarray,
    datatypes: tuple[str, ...],
    locate: Locate,
) -> None:
    """Refuse the first non-accepted value of an [n, width] float matrix."""
    index = bad_index(cast, allow_nan)
    if index is None:
        return
    row, col = divmod(index, cast.shape[1])
    raise refusal(locate(row, col), original.reshape(cast.shape)[row, col], datatypes[col],
                  bool(allow_nan[col]))  # fmt: skip


def check_column(
    original: np.ndarray, cast: np.ndarray, col: int, allow_nan: bool, datatype: str,
    locate: Locate,
) -> None:  # fmt: skip
    """Refuse the first non-accepted value of one float column."""
    index = bad_index(cast.reshape(-1), allow_nan)
    if index is not None:
        raise refusal(locate(index, col), original.reshape(-1)[index], datatype, allow_nan)


def first_nonfinite_row(outputs: dict[str, np.ndarray | None]) -> tuple[int, str] | None:
    """The first row at which one of the model's float outputs is NaN or infinite, and the
    name of that output."""
    first: tuple[int, str] | None = None
    for name, array in outputs.items():
        if array is None or array.dtype.kind != "f" or array.size == 0:
            continue
        finite = np.isfinite(array)
        if finite.all():  # the common case: one pass per output
            continue
        row = int(np.flatnonzero(~finite.reshape(finite.shape[0], -1).all(axis=1))[0])
        if first is None or row < first[0]:
            first = (row, name)
    return first


def output_refusal(row: int, output: str, n: int) -> RequestError:
    """The answer when the model's own output is not finite: the row, the output, a 422."""
    where = f"row {row}" if n > 1 else "the request"
    return RequestError(
        f"the model's '{output}' output is not a finite number for {where}; its inputs are "
        "outside what this model can score, so no prediction is answered",
        NONFINITE_OUTPUT_STATUS,
    )


# --- what the model itself shows ----------------------------------------------------------------
_IMPUTERS = frozenset({"Imputer"})
_TREES = frozenset({"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"})


def onnx_missing_inputs(model: Any) -> frozenset[str]:
    """Graph inputs whose NaN the ONNX model handles: those upstream of an `Imputer` that
    replaces NaN, or of a tree ensemble that sends missing values down a chosen branch."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    inputs = {i.name for i in graph.input}
    found: set[str] = set()
    for node in graph.node:
        imputes = node.op_type in _IMPUTERS and _replaces_nan(node)
        if imputes or (node.op_type in _TREES and _tracks_missing(node)):
            found |= _upstream(node, producers, inputs)
    return frozenset(found)


def _replaces_nan(node: Any) -> bool:
    for attribute in node.attribute:
        if attribute.name == "replaced_value_float":
            return bool(np.isnan(attribute.f))
    return True  # the attribute defaults to NaN


def _tracks_missing(node: Any) -> bool:
    for attribute in node.attribute:
        if attribute.name == "nodes_missing_value_tracks_true":
            return any(attribute.ints)
    return False


def _upstream(node: Any, producers: dict[str, Any], inputs: set[str]) -> set[str]:
    found: set[str] = set()
    seen: set[str] = set()
    pending = list(node.input)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in inputs:
            found.add(name)
        parent = producers.get(name)
        if parent is not None:
            pending.extend(parent.input)
    return found


def sklearn_missing_inputs(estimator: Any, names: list[str]) -> frozenset[str]:
    """The inputs whose NaN a fitted scikit-learn estimator turns into a prediction: its
    steps, in order, impute it (an `*Imputer`) or accept it up to the end. A pipeline that
    starts with a ColumnTransformer is judged per column (the numeric columns' imputer does
    not cover a categorical column's encoder)."""
    if _sklearn_nan(estimator) != "refuses":
        return frozenset(names)
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    steps = [s for _, s in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    steps = [s for s in steps if s is not None and not (isinstance(s, str) and s == "passthrough")]
    if not steps or not isinstance(steps[0], ColumnTransformer):
        return frozenset()
    rest_accepts = all(_sklearn_nan(s) != "refuses" for s in steps[1:])
    found: set[str] = set()
    for _, step, columns in steps[0].transformers_:
        if isinstance(step, str) and step == "drop":
            continue
        state = "passes" if isinstance(step, str) else _sklearn_nan(step)
        if state == "absorbs" or (state == "passes" and rest_accepts):
            found |= _column_names(columns, names)
    return frozenset(found)


def _column_names(columns: Any, names: list[str]) -> set[str]:
    """A ColumnTransformer's column selection as input names (names or positions)."""
    if isinstance(columns, str):
        return {columns}
    try:
        chosen = list(columns)
    except TypeError:  # a slice or a callable: not resolved here, so not accepted
        return set()
    out: set[str] = set()
    for c in chosen:
        if isinstance(c, str):
            out.add(c)
        elif isinstance(c, int | np.integer) and 0 <= c < len(names):
            out.add(names[int(c)])
    return out


def _sklearn_nan(estimator: Any) -> str:
    """'absorbs' (NaN is imputed here), 'passes' (accepted, may flow on) or 'refuses'."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.utils import get_tags

    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            state = _sklearn_nan(step)
            if state != "passes":
                return state
        return "passes"
    if isinstance(estimator, ColumnTransformer):
        states = {
            "passes" if isinstance(step, str) else _sklearn_nan(step)
            for _, step, _ in estimator.transformers_
            if not (isinstance(step, str) and step == "drop")
        }
        if "refuses" in states:
            return "refuses"
        return "absorbs" if states == {"absorbs"} else "passes"
    if type(estimator).__name__.endswith("Imputer"):
        return "absorbs"
    try:
        return "passes" if get_tags(estimator).input_tags.allow_nan else "refuses"
    except (AttributeError, TypeError, ValueError):
        return "refuses"
