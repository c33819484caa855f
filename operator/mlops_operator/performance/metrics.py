"""Realized metrics of predictions joined with their labels, with scikit-learn.

The averaging is training's (training/evaluate.py `score`), so that a served model's live
metric reads like its training metric: binary precision/recall/F1 of the positive class
`classes[1]` (scikit-learn's `classes_` order: sorted), multiclass macro averages over the
classes present in the labels or the predictions; ROC AUC from the served probabilities,
binary on the positive class, multiclass one-vs-rest macro only when every class of the model
is present in the labels (as training), never with a single class present.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..artifacts.records import LABEL, PREDICTION, PROBABILITY_PREFIX
from .join import LabelKind, coerce
from .plan import CLASSIFICATION_METRICS, REGRESSION_METRICS


def metric_names(task: str, requested: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The requested metrics of the task (all of them when none is asked); others ignored."""
    allowed = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    if not requested:
        return list(allowed)
    return [m for m in dict.fromkeys(requested) if m in allowed]


def probability_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if str(c).startswith(PROBABILITY_PREFIX)]


def model_classes(frame: pd.DataFrame, kind: LabelKind) -> tuple[list[Any], np.ndarray] | None:
    """The model's classes (sorted, as scikit-learn's `classes_`) and the matching probability
    matrix (rows renormalised to sum 1), from the `mlops.proba.<class>` columns; None when there
    are no such columns or a class name does not read as the label type."""
    columns = probability_columns(frame)
    if not columns:
        return None
    classes = [coerce(c[len(PROBABILITY_PREFIX) :], kind) for c in columns]
    if any(c is None for c in classes) or len(set(classes)) != len(classes):
        return None
    order = sorted(range(len(classes)), key=lambda i: classes[i])
    proba = frame[[columns[i] for i in order]].to_numpy(dtype=np.float64, na_value=np.nan)
    total = proba.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        proba = proba / total
    return [classes[i] for i in order], proba


def realized(
    joined: pd.DataFrame,
    task: str,
    names: list[str],
    kind: LabelKind = "float",
) -> dict[str, float]:
    """The metrics of `names` on rows with PREDICTION and LABEL; one that cannot be computed
    is left out."""
    from sklearn import metrics as skm

    out: dict[str, float] = {}
    if joined.empty:
        return out
    y = joined[LABEL].to_numpy()
    if task == "regression":
        y_true = y.astype(np.float64)
        pred = pd.to_numeric(joined[PREDICTION], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(pred)
        y_true, pred = y_true[ok], pred[ok]
        if len(y_true) == 0:
            return out
        if "rmse" in names:
            out["rmse"] = float(np.sqrt(skm.mean_squared_error(y_true, pred)))
        if "mae" in names:
            out["mae"] = float(skm.mean_absolute_error(y_true, pred))
        if "r2" in names and len(y_true) > 1:
            out["r2"] = float(skm.r2_score(y_true, pred))
        return out

    pred = _as_kind(joined[PREDICTION], kind)
    y = _as_kind(joined[LABEL], kind)
    found = model_classes(joined, kind)
    classes = found[0] if found else sorted(set(y.tolist()) | set(pred.tolist()))
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision on an absent class -> 0, fine
        if "accuracy" in names:
            out["accuracy"] = float(skm.accuracy_score(y, pred))
        if "f1" in names:
            out["f1"] = float(skm.f1_score(y, pred, zero_division=0, **averaging))
        if "precision" in names:
            out["precision"] = float(skm.precision_score(y, pred, zero_division=0, **averaging))
        if "recall" in names:
            out["recall"] = float(skm.recall_score(y, pred, zero_division=0, **averaging))
    if "roc_auc" in names and found is not None and len(set(y.tolist())) > 1:
        labels, proba = found
        usable = np.isfinite(proba).all(axis=1)
        y_ok, proba = y[usable], proba[usable]
        present = set(y_ok.tolist())
        if binary and len(present) == 2:
            out["roc_auc"] = float(skm.roc_auc_score(y_ok == labels[1], proba[:, 1]))
        elif not binary and present == set(labels):
            out["roc_auc"] = float(
                skm.roc_auc_score(y_ok, proba, multi_class="ovr", average="macro", labels=labels)
            )
    return out


def _as_kind(column: pd.Series, kind: LabelKind) -> np.ndarray:
    if kind == "str":
        return column.astype(str).to_numpy(dtype=object)
    dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}[kind]
    return column.to_numpy(dtype=dtype)
