"""Predictions joined with their ground truth by prediction id.

The rules (docs/performance.md, "How it is computed"):

- the first prediction of an id wins; later rows with the same id are counted
  (`duplicate_ids`) and dropped;
- labels are decoded (`records.decode_label`) and coerced to the type of the predictions
  (`label_kind`); a label that does not coerce is counted (`invalid_labels`) and ignored, so
  garbage never replaces a good label;
- of the valid labels of an id, the latest (`mlops.time`, then the later row) wins: labels
  arrive in several files and may be corrected;
- labels whose id matches no prediction are counted and returned apart (`unknown`): they may
  be for predictions not flushed yet, and join on a later check since label files stay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..artifacts.records import ID, LABEL, PREDICTION, TIME, decode_label

LabelKind = Literal["int", "str", "bool", "float"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class Joined:
    frame: pd.DataFrame  # first prediction of each labeled id, LABEL decoded; prediction order
    unknown: pd.DataFrame  # the latest valid label of each id with no prediction (ID, LABEL, TIME)
    predictions: int  # prediction rows given
    labels_read: int  # label rows given
    duplicate_ids: int
    unknown_labels: int
    invalid_labels: int


def label_kind(predictions: pd.Series, task: str) -> LabelKind:
    """The type labels are compared in: the predictions' type (always float for regression;
    text for a classifier with no prediction in the window)."""
    if task == "regression":
        return "float"
    dtype = predictions.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "str"


def coerce(value: Any, kind: LabelKind) -> Any:
    """One decoded label as `kind`, or None when it does not coerce."""
    if value is None:
        return None
    if kind == "str":
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                return None
            return str(int(value)) if value.is_integer() else repr(value)
        return value if isinstance(value, str) else None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            return True if text in _TRUE else False if text in _FALSE else None
        return None
    number: float
    if isinstance(value, bool | int | float):
        number = float(value)
        if kind == "int" and isinstance(value, bool | int):
            return int(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None  # lists, objects
    if not math.isfinite(number):
        return None
    if kind == "float":
        return number
    return int(number) if number.is_integer() else None


def coerce_labels(encoded: pd.Series, kind: LabelKind) -> tuple[np.ndarray, np.ndarray]:
    """Decoded, coerced labels and the mask of the valid ones.

    Each distinct encoded text is decoded once (a classifier's labels have a handful), with a
    vectorised path for numbers when there are many (a regressor's).
    """
    codes, uniques = pd.factorize(encoded.astype(object), use_na_sentinel=True)
    texts = np.asarray(uniques, dtype=object)
    values = np.empty(len(texts), dtype=object)
    ok = np.zeros(len(texts), dtype=bool)
    pending = np.arange(len(texts))
    if kind == "float" and len(texts) > 64:
        numbers = pd.to_numeric(pd.Series(texts), errors="coerce").to_numpy(dtype=np.float64)
        fast = np.isfinite(numbers)
        values[fast] = numbers[fast]
        ok[fast] = True
        pending = np.flatnonzero(~fast)
    for i in pending:
        try:
            decoded = decode_label(texts[i]) if isinstance(texts[i], str) else None
        except ValueError:
            decoded = None
        result = coerce(decoded, kind)
        if result is not None:
            values[i], ok[i] = result, True
    valid = (codes >= 0) & ok[np.maximum(codes, 0)]
    out = values[np.maximum(codes, 0)]
    dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": object}[kind]
    labels = np.zeros(len(out), dtype=dtype) if kind != "str" else np.full(len(out), "", object)
    labels[valid] = out[valid].astype(dtype)
    return labels, valid


def join(
    predictions: pd.DataFrame, labels: pd.DataFrame, *, task: str = "classification"
) -> Joined:
    """Join `predictions` (oldest first) with `labels` (in arrival order) by ID."""
    n_pred, n_labels = len(predictions), len(labels)
    kind: LabelKind = "float" if task == "regression" else "str"
    if n_pred:
        kind = label_kind(predictions[PREDICTION], task)

    if n_labels == 0:
        latest = pd.DataFrame({ID: pd.Series([], dtype=object), LABEL: [], TIME: []})
        invalid = 0
    else:
        values, valid = coerce_labels(labels[LABEL], kind)
        valid &= labels[ID].notna().to_numpy()
        invalid = int(n_labels - valid.sum())
        times = (
            labels[TIME][valid].reset_index(drop=True)
            if TIME in labels.columns
            else pd.Series(pd.NaT, index=range(int(valid.sum())))
        )
        latest = pd.DataFrame(
            {ID: labels[ID][valid].astype(object).to_numpy(), LABEL: values[valid], TIME: times}
        )
        # Stable: of labels with the same time, the later row wins; a label without a time
        # counts as the oldest.
        latest = latest.sort_values(TIME, kind="stable", na_position="first")
        latest = latest.drop_duplicates(ID, keep="last")

    if n_pred == 0:
        empty = predictions.copy()
        empty[LABEL] = pd.Series([], dtype=object)
        unknown = latest.sort_index().reset_index(drop=True)
        return Joined(empty, unknown, 0, n_labels, 0, len(unknown), invalid)

    ids = predictions[ID].astype(object).to_numpy()
    first = ~pd.Series(ids).duplicated(keep="first").to_numpy()
    preds = predictions[first]
    first_ids = ids[first]
    position = pd.Index(latest[ID].to_numpy()).get_indexer(first_ids)
    matched = position >= 0
    frame = preds[matched].copy()
    frame[LABEL] = latest[LABEL].to_numpy()[position[matched]]
    known = pd.Index(first_ids).get_indexer(latest[ID].to_numpy()) >= 0
    unknown = latest[~known].sort_index().reset_index(drop=True)
    return Joined(
        frame=frame.reset_index(drop=True),
        unknown=unknown,
        predictions=n_pred,
        labels_read=n_labels,
        duplicate_ids=n_pred - len(preds),
        unknown_labels=len(unknown),
        invalid_labels=invalid,
    )
