"""The label-free estimate (CBPE, performance/estimate.py): against a loop written here, and,
with calibrated probabilities, within sampling error of the realized metrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from mlops_operator.performance.estimate import calibrate, cbpe


def reference(proba, classes, predicted) -> dict[str, float]:
    """Plain loops: the expected confusion matrix, then the metrics of it."""
    n, k = len(proba), len(classes)
    tp, fp, fn = [0.0] * k, [0.0] * k, [0.0] * k
    correct = 0.0
    for i in range(n):
        for c in range(k):
            if classes[c] == predicted[i]:
                tp[c] += proba[i][c]
                fp[c] += 1.0 - proba[i][c]
                correct += proba[i][c]
            else:
                fn[c] += proba[i][c]

    def ratio(a, b):
        return a / b if b > 0 else 0.0

    precision = [ratio(tp[c], tp[c] + fp[c]) for c in range(k)]
    recall = [ratio(tp[c], tp[c] + fn[c]) for c in range(k)]
    f1 = [ratio(2 * tp[c], 2 * tp[c] + fp[c] + fn[c]) for c in range(k)]
    if k == 2:
        return {
            "accuracy": correct / n,
            "precision": precision[1],
            "recall": recall[1],
            "f1": f1[1],
        }
    return {
        "accuracy": correct / n,
        "precision": sum(precision) / k,
        "recall": sum(recall) / k,
        "f1": sum(f1) / k,
    }


def random_proba(rng, n, k, concentration=1.0) -> np.ndarray:
    return rng.dirichlet([concentration] * k, size=n)


@pytest.mark.parametrize(("k", "seed"), [(2, 0), (2, 1), (3, 2), (5, 3)])
def test_matches_the_loop(k, seed) -> None:
    rng = np.random.default_rng(seed)
    proba = random_proba(rng, 200, k)
    classes = list(range(k))
    predicted = proba.argmax(axis=1)
    predicted[:10] = rng.integers(0, k, 10)  # a served prediction need not be the argmax
    got = cbpe(proba, classes, predicted)
    want = reference(proba.tolist(), classes, predicted.tolist())
    assert got == pytest.approx(want, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    raw=arrays(
        np.float64, st.tuples(st.integers(1, 30), st.integers(2, 4)), elements=st.floats(0.01, 1.0)
    ),
    data=st.data(),
)
def test_matches_the_loop_property(raw, data) -> None:
    proba = raw / raw.sum(axis=1, keepdims=True)
    k = proba.shape[1]
    predicted = np.array(
        data.draw(st.lists(st.integers(0, k - 1), min_size=len(proba), max_size=len(proba)))
    )
    got = cbpe(proba, list(range(k)), predicted)
    assert got == pytest.approx(
        reference(proba.tolist(), list(range(k)), predicted.tolist()), abs=1e-9
    )


def test_string_classes_and_unknown_predictions_ignored() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    got = cbpe(proba, ["a", "b"], np.array(["a", "b", "zzz"], dtype=object))
    assert got["accuracy"] == pytest.approx((0.9 + 0.8) / 2)


def test_nothing_to_estimate() -> None:
    assert cbpe(np.zeros((0, 2)), [0, 1], np.zeros(0)) == {}
    assert cbpe(np.array([[np.nan, np.nan]]), [0, 1], np.array([0])) == {}


@pytest.mark.parametrize(("k", "seed"), [(2, 10), (3, 11), (4, 12)])
def test_calibrated_probabilities_estimate_the_realized_metrics(k, seed) -> None:
    """Labels drawn from the probabilities: the estimate is within sampling error."""
    rng = np.random.default_rng(seed)
    n = 20_000
    proba = random_proba(rng, n, k, concentration=0.7)
    y = (proba.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    predicted = proba.argmax(axis=1)
    got = cbpe(proba, list(range(k)), predicted)
    accuracy = skm.accuracy_score(y, predicted)
    # sd of an accuracy over n rows is at most 0.5/sqrt(n) = 0.0035: 4 sd
    assert abs(got["accuracy"] - accuracy) < 0.015
    average = "binary" if k == 2 else "macro"
    assert abs(got["f1"] - skm.f1_score(y, predicted, average=average)) < 0.02
    assert abs(got["precision"] - skm.precision_score(y, predicted, average=average)) < 0.02
    assert abs(got["recall"] - skm.recall_score(y, predicted, average=average)) < 0.02


def test_overconfident_probabilities_are_corrected_by_calibration() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    true = random_proba(rng, n, 2, concentration=1.5)
    y = (rng.random(n) < true[:, 1]).astype(int)
    # overconfident: probabilities pushed towards 0 and 1
    served = true**3 / (true**3).sum(axis=1, keepdims=True)
    predicted = served.argmax(axis=1)
    realized = skm.accuracy_score(y, predicted)
    raw = cbpe(served, [0, 1], predicted)["accuracy"]
    fitted = calibrate(served, served[:5000], y[:5000], [0, 1])
    corrected = cbpe(fitted, [0, 1], predicted)["accuracy"]
    assert abs(raw - realized) > 0.05  # the assumption broken: the raw estimate is off
    assert abs(corrected - realized) < 0.02


def test_calibration_needs_enough_labeled_rows_of_every_class() -> None:
    proba = np.array([[0.3, 0.7]] * 10)
    assert calibrate(proba, proba, np.ones(10), [0, 1]) is proba
    many = np.tile([[0.3, 0.7]], (200, 1))
    assert calibrate(many, many, np.ones(200), [0, 1]) is many
