"""Realized metrics (performance/metrics.py) against scikit-learn's, with training's averaging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlops_operator.artifacts.records import LABEL, PREDICTION, probability_column
from mlops_operator.performance.metrics import metric_names, model_classes, realized

ALL = ["accuracy", "f1", "precision", "recall", "roc_auc"]


def frame(y, pred, proba=None, classes=None) -> pd.DataFrame:
    out = pd.DataFrame({PREDICTION: pred, LABEL: y})
    if proba is not None:
        for j, c in enumerate(classes):
            out[probability_column(c)] = proba[:, j]
    return out


def random_proba(rng, n, k) -> np.ndarray:
    raw = rng.gamma(1.0, size=(n, k))
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_binary_int_classes(seed) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    proba = random_proba(rng, n, 2)
    pred = proba.argmax(axis=1)
    y = rng.integers(0, 2, n)
    got = realized(frame(y, pred, proba, [0, 1]), "classification", ALL, "int")
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label=1), abs=1e-12)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, pos_label=1), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label=1), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_multiclass_macro(seed) -> None:
    rng = np.random.default_rng(seed)
    n, k = 400, 4
    proba = random_proba(rng, n, k)
    pred = proba.argmax(axis=1)
    y = rng.integers(0, k, n)
    got = realized(frame(y, pred, proba, list(range(k))), "classification", ALL, "int")
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    for name, fn in [
        ("f1", skm.f1_score),
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
    ]:
        assert got[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-12
    )


def test_string_classes_sorted_like_sklearn() -> None:
    rng = np.random.default_rng(7)
    classes = ["yes", "no"]  # served columns in any order; sklearn's classes_ are sorted
    n = 250
    proba = random_proba(rng, n, 2)
    pred = np.array(classes)[proba.argmax(axis=1)]
    y = rng.choice(classes, n)
    got = realized(frame(y, pred, proba, classes), "classification", ALL, "str")
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="yes"), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", proba[:, 0]), abs=1e-12)


def test_multiclass_strings_three_classes() -> None:
    rng = np.random.default_rng(3)
    classes = ["setosa", "versicolor", "virginica"]
    n = 300
    proba = random_proba(rng, n, 3)
    pred = np.array(classes)[proba.argmax(axis=1)]
    y = rng.choice(classes, n)
    got = realized(frame(y, pred, proba, classes), "classification", ALL, "str")
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes), abs=1e-12
    )


def test_single_class_present_has_no_roc_auc() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    got = realized(frame([1, 1, 1], [1, 0, 1], proba, [0, 1]), "classification", ALL, "int")
    assert "roc_auc" not in got
    assert got["accuracy"] == pytest.approx(2 / 3)


def test_multiclass_with_an_absent_class_has_no_roc_auc_as_training() -> None:
    rng = np.random.default_rng(1)
    proba = random_proba(rng, 30, 3)
    y = rng.integers(0, 2, 30)  # class 2 never labeled
    got = realized(frame(y, proba.argmax(axis=1), proba, [0, 1, 2]), "classification", ALL, "int")
    assert "roc_auc" not in got and "f1" in got


def test_without_probabilities_no_roc_auc() -> None:
    got = realized(frame([0, 1, 1, 0], [0, 1, 0, 0]), "classification", ALL, "int")
    assert "roc_auc" not in got
    assert got["f1"] == pytest.approx(skm.f1_score([0, 1, 1, 0], [0, 1, 0, 0]))


@pytest.mark.parametrize("seed", range(4))
def test_regression(seed) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=200)
    pred = y + rng.normal(scale=0.5, size=200)
    got = realized(frame(y, pred), "regression", ["rmse", "mae", "r2"])
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), abs=1e-12)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-12)


def test_only_requested_metrics_and_of_the_task() -> None:
    assert metric_names("classification", ("f1", "rmse", "f1")) == ["f1"]
    assert metric_names("regression", ()) == ["rmse", "mae", "r2"]
    got = realized(frame([0, 1], [0, 1]), "classification", ["accuracy"], "int")
    assert set(got) == {"accuracy"}
    assert realized(frame([], []), "classification", ALL, "int") == {}


def test_model_classes_reads_probability_columns_in_label_type() -> None:
    f = frame([1], [1], np.array([[0.3, 0.7]]), [1, 0])
    classes, proba = model_classes(f, "int")
    assert classes == [0, 1]
    assert proba.tolist() == [[0.7, 0.3]]
    assert model_classes(frame([1], [1]), "int") is None
    assert model_classes(frame(["a"], ["a"], np.array([[0.3, 0.7]]), ["a", "b"]), "int") is None
