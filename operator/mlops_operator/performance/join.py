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
    """Join `predictions` (oldest first) with `labels` (in arrival order) by ID.

    Every id is hashed once (one factorization of both id columns); the rest is integer
    array work.
    """
    n_pred, n_labels = len(predictions), len(labels)
    kind: LabelKind = "float" if task == "regression" else "str"
    if n_pred:
        kind = label_kind(predictions[PREDICTION], task)
    pred_ids = predictions[ID] if n_pred else pd.Series([], dtype=object)
    label_ids = labels[ID] if n_labels else pd.Series([], dtype=object)
    codes, uniques = pd.factorize(
        pd.concat([_text(pred_ids), _text(label_ids)], ignore_index=True), use_na_sentinel=True
    )
    n_ids = len(uniques)
    pred_codes, label_codes = codes[:n_pred], codes[n_pred:]

    # the first prediction of every id (no sort: the smallest row per id code)
    first = np.zeros(n_pred, dtype=bool)
    if n_pred:
        present = np.flatnonzero(pred_codes >= 0)
        first_row = np.full(n_ids, n_pred, dtype=np.int64)
        np.minimum.at(first_row, pred_codes[present], present)
        first[first_row[first_row < n_pred]] = True

    # the latest valid label of every id
    invalid = 0
    label_row = np.full(n_ids, -1, dtype=np.int64)  # per id code: its label row, or -1
    values = np.zeros(0, dtype=object)
    if n_labels:
        values, valid = coerce_labels(labels[LABEL], kind)
        valid &= label_codes >= 0
        invalid = int(n_labels - valid.sum())
        rows = np.flatnonzero(valid)
        if TIME in labels.columns:
            stamps = pd.to_datetime(labels[TIME], utc=True).to_numpy(dtype="datetime64[us]")
            moments = stamps.astype(np.int64)[rows]  # NaT: the smallest int64, the oldest
        else:
            moments = np.zeros(len(rows), dtype=np.int64)
        # no sort: per id code the latest time, then of the labels at that time the last row
        ids_of = label_codes[rows]
        latest = np.full(n_ids, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(latest, ids_of, moments)
        at_latest = moments == latest[ids_of]
        np.maximum.at(label_row, ids_of[at_latest], rows[at_latest])

    has_prediction = np.zeros(n_ids, dtype=bool)
    has_prediction[pred_codes[pred_codes >= 0]] = True
    unknown_rows = np.sort(label_row[(label_row >= 0) & ~has_prediction])
    unknown = pd.DataFrame(
        {
            ID: _text(label_ids).to_numpy(dtype=object)[unknown_rows],
            LABEL: values[unknown_rows],
            TIME: labels[TIME].iloc[unknown_rows].reset_index(drop=True)
            if n_labels and TIME in labels.columns
            else pd.Series(pd.NaT, index=range(len(unknown_rows)), dtype="datetime64[us, UTC]"),
        }
    )

    matched_rows = np.full(n_pred, -1, dtype=np.int64)
    matched_rows[first] = label_row[pred_codes[first]]
    keep = matched_rows >= 0
    frame = predictions[keep].reset_index(drop=True) if n_pred else predictions.copy()
    frame[LABEL] = values[matched_rows[keep]] if n_pred else pd.Series([], dtype=object)
    return Joined(
        frame=frame,
        unknown=unknown,
        predictions=n_pred,
        labels_read=n_labels,
        duplicate_ids=int(n_pred - first.sum()),
        unknown_labels=len(unknown),
        invalid_labels=invalid,
    )


def _text(ids: pd.Series) -> pd.Series:
    """Ids as text, missing kept missing (numbers read from a source become their text)."""
    if pd.api.types.is_string_dtype(ids.dtype) or ids.dtype == object:
        return ids.reset_index(drop=True)
    return ids.astype(str).where(ids.notna()).reset_index(drop=True)
