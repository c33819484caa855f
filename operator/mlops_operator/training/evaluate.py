"""Holdout / k-fold evaluation, the metrics of each task, and acceptance thresholds."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from ..api.modelversion import CLASSIFICATION
from ..api.trainingjob import CLASSIFICATION_METRICS, REGRESSION_METRICS, Split


def metric_names(task: str, requested: list[str] | None) -> list[str]:
    allowed = CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS
    if not requested:
        return list(allowed)
    wrong = [m for m in requested if m not in allowed]
    if wrong:
        raise ValueError(
            f"metric(s) {', '.join(wrong)} do not apply to {task}; use {', '.join(allowed)}"
        )
    return list(dict.fromkeys(requested))


def _can_stratify(y: pd.Series, test_fraction: float) -> bool:
    counts = y.value_counts()
    n_test = math.ceil(len(y) * test_fraction)
    return bool(counts.min() >= 2 and n_test >= len(counts) and len(y) - n_test >= len(counts))


def splits(
    x: pd.DataFrame, y: pd.Series, task: str, split: Split
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train index, test index) pairs: one for holdout, `folds` for k-fold."""
    index = np.arange(len(y))
    stratify = task == CLASSIFICATION and split.stratify
    if split.method == "holdout":
        strat = y if stratify and _can_stratify(y, split.test_size) else None
        train, test = train_test_split(
            index, test_size=split.test_size, random_state=split.seed, stratify=strat
        )
        return [(np.sort(train), np.sort(test))]
    if len(y) < split.folds:
        raise ValueError(f"{len(y)} rows cannot be split into {split.folds} folds")
    if stratify and y.value_counts().min() >= split.folds:
        folder: Any = StratifiedKFold(split.folds, shuffle=True, random_state=split.seed)
    else:
        folder = KFold(split.folds, shuffle=True, random_state=split.seed)
    return [(train, test) for train, test in folder.split(x, y)]


def score(model: Pipeline, x: pd.DataFrame, y: pd.Series, names: list[str]) -> dict[str, float]:
    """The requested metrics of a fitted model; one that cannot be computed is left out."""
    pred = model.predict(x)
    classes = [str(c) for c in getattr(model, "classes_", [])]
    proba = None
    if classes and "roc_auc" in names and hasattr(model, "predict_proba") and y.nunique() > 1:
        proba = model.predict_proba(x)
    return score_predictions(y, pred, names, classes, proba)


def score_predictions(
    y: pd.Series,
    pred: Any,
    names: list[str],
    classes: list[str] | None = None,
    proba: np.ndarray | None = None,
) -> dict[str, float]:
    """The requested metrics of predictions `pred` (and, for roc_auc, the class probabilities
    `proba`, columns in `classes` order) against `y`; one that cannot be computed is left out.

    `classes` (a classifier's, as strings) makes it a classification score: binary metrics
    take `classes[1]` as the positive class, multiclass ones are macro averages. Training's
    metrics and the champion/challenger comparison both come from here, so they compare.
    """
    out: dict[str, float] = {}
    if "rmse" in names:
        out["rmse"] = float(np.sqrt(skm.mean_squared_error(y, pred)))
    if "mae" in names:
        out["mae"] = float(skm.mean_absolute_error(y, pred))
    if "r2" in names and len(y) > 1:
        out["r2"] = float(skm.r2_score(y, pred))
    if not classes:
        return out
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
    if "roc_auc" in names and proba is not None and y.nunique() > 1:
        if binary:
            out["roc_auc"] = float(skm.roc_auc_score(y == classes[1], proba[:, 1]))
        elif y.nunique() == len(classes):
            out["roc_auc"] = float(
                skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
            )
    return out


def evaluate(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    split: Split,
    names: list[str],
) -> dict[str, float]:
    """Fit clones on each training part and average each metric over the test parts."""
    per_metric: dict[str, list[float]] = {}
    for train, test in splits(x, y, task, split):
        model = clone(pipeline).fit(x.iloc[train], y.iloc[train])
        for name, value in score(model, x.iloc[test], y.iloc[test], names).items():
            per_metric.setdefault(name, []).append(value)
    return {name: round(float(np.mean(values)), 6) for name, values in per_metric.items()}


FoldCallback = Callable[[int, dict[str, float]], None]


def evaluate_folds(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    split: Split,
    names: list[str],
    after_fold: FoldCallback | None = None,
) -> dict[str, list[float]]:
    """Each metric's value on each test part, in fold order. `after_fold(i, scores)` is called
    after fold i with that fold's scores; it may raise to stop early (pruning)."""
    per_metric: dict[str, list[float]] = {}
    for i, (train, test) in enumerate(splits(x, y, task, split)):
        model = clone(pipeline).fit(x.iloc[train], y.iloc[train])
        scores = score(model, x.iloc[test], y.iloc[test], names)
        for name, value in scores.items():
            per_metric.setdefault(name, []).append(float(value))
        if after_fold is not None:
            after_fold(i, scores)
    return per_metric


def summarize(folds: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """(mean, standard deviation) of each metric over its folds, rounded as `evaluate` does."""
    means = {name: round(float(np.mean(v)), 6) for name, v in folds.items()}
    stds = {name: round(float(np.std(v)), 6) for name, v in folds.items()}
    return means, stds
