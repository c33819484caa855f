"""A label-free estimate of a classifier's performance from its served probabilities:
confidence-based performance estimation (CBPE), as NannyML's.

Assumption: the probabilities are calibrated, i.e. of the predictions made with probability p
for class c, a share p really is c. Then row i is of class c with probability P[i, c], and
the expected confusion matrix is a sum of probabilities. With ŷ_i the served prediction:

    expected accuracy   = mean_i P[i, ŷ_i]
    expected TP_c       = Σ_{i: ŷ_i = c} P[i, c]
    expected FP_c       = Σ_{i: ŷ_i = c} (1 - P[i, c])
    expected FN_c       = Σ_{i: ŷ_i ≠ c} P[i, c]
    precision_c = TP/(TP+FP), recall_c = TP/(TP+FN), F1_c = 2TP/(2TP+FP+FN)   (0 when 0/0)

binary metrics are the positive class's (`classes[1]`), multiclass ones the macro average
over the model's classes, as training's realized metrics (metrics.py). The estimate holds
under covariate shift (P(y|x) unchanged) and fails under concept drift, which only labels
reveal: it is shown beside the realized value, never instead of it.

`calibrate` refits the probabilities on labeled rows (one isotonic regression per class,
one-vs-rest, rows renormalised), as NannyML calibrates on its reference period.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_CALIBRATION_ROWS = 100


def cbpe(proba: np.ndarray, classes: list[Any], predicted: np.ndarray) -> dict[str, float]:
    """Expected accuracy, precision, recall and F1 of the predictions `predicted` (in the
    label type) from the probability matrix `proba` (n x classes, rows summing to 1)."""
    proba = np.asarray(proba, dtype=np.float64)
    keep = np.isfinite(proba).all(axis=1)
    proba, predicted = proba[keep], np.asarray(predicted)[keep]
    n, k = proba.shape if proba.ndim == 2 else (0, len(classes))
    if n == 0 or k < 2:
        return {}
    index = {c: j for j, c in enumerate(classes)}
    column = np.fromiter((index.get(p, -1) for p in predicted.tolist()), np.intp, len(predicted))
    known = column >= 0
    proba, column = proba[known], column[known]
    n = len(column)
    if n == 0:
        return {}
    onehot = np.zeros_like(proba)
    onehot[np.arange(n), column] = 1.0
    tp = (proba * onehot).sum(axis=0)
    predicted_count = onehot.sum(axis=0)  # TP + FP
    actual_mass = proba.sum(axis=0)  # TP + FN
    precision = np.divide(tp, predicted_count, out=np.zeros(k), where=predicted_count > 0)
    recall = np.divide(tp, actual_mass, out=np.zeros(k), where=actual_mass > 0)
    denominator = predicted_count + actual_mass  # 2TP + FP + FN
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    out = {"accuracy": float(tp.sum() / n)}
    if k == 2:
        out.update(precision=float(precision[1]), recall=float(recall[1]), f1=float(f1[1]))
    else:
        out.update(
            precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean())
        )
    return out


def calibrate(
    proba: np.ndarray, labeled_proba: np.ndarray, labeled_y: np.ndarray, classes: list[Any]
) -> np.ndarray:
    """`proba` mapped through per-class isotonic regressions fitted on labeled rows; unchanged
    when there are fewer than MIN_CALIBRATION_ROWS of them or a class is never labeled."""
    from sklearn.isotonic import IsotonicRegression

    keep = np.isfinite(labeled_proba).all(axis=1)
    labeled_proba, labeled_y = labeled_proba[keep], np.asarray(labeled_y)[keep]
    if len(labeled_y) < MIN_CALIBRATION_ROWS:
        return proba
    out = np.empty_like(proba)
    for j, c in enumerate(classes):
        target = (labeled_y == c).astype(np.float64)
        if target.min() == target.max():
            return proba
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        out[:, j] = model.fit(labeled_proba[:, j], target).predict(proba[:, j])
    total = out.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, out / total, proba)
