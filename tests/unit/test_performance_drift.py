"""Prediction drift (performance/prediction_drift.py) against the training target's profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_operator.drift.profile import ReferenceProfile, build_reference_profile
from mlops_operator.performance.prediction_drift import prediction_drift


def profile(target: pd.Series, kind: str) -> ReferenceProfile:
    frame = pd.DataFrame({"x": np.arange(len(target), dtype=float), "y": target})
    numeric, categorical = (["x", "y"], []) if kind == "numeric" else (["x"], ["y"])
    built = build_reference_profile(frame, numeric, categorical)
    return ReferenceProfile.from_json(built.to_json())  # as read from the store


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_classes_unshifted_and_shifted(kind) -> None:
    rng = np.random.default_rng(0)
    ref = profile(pd.Series(rng.choice([0, 1, 2], 3000, p=[0.5, 0.3, 0.2])), kind)
    same = pd.Series(rng.choice([0, 1, 2], 1000, p=[0.5, 0.3, 0.2]))
    moved = pd.Series(rng.choice([0, 1, 2], 1000, p=[0.2, 0.3, 0.5]))
    calm = prediction_drift(ref, "y", same, "classification", 0.01)
    alarm = prediction_drift(ref, "y", moved, "classification", 0.05)
    assert calm is not None and alarm is not None
    assert calm.test == alarm.test == "chisquare"
    assert not calm.drifted and alarm.drifted
    assert alarm.p_value < 1e-10


def test_chi_square_equals_scipy_with_an_unseen_class() -> None:
    ref = profile(pd.Series([0] * 60 + [1] * 40), "numeric")
    current = pd.Series([0] * 10 + [1] * 20 + [2] * 5)
    got = prediction_drift(ref, "y", current, "classification", 0.05)
    table = np.array([[60, 40, 0], [10, 20, 5]])
    statistic, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert got.statistic == pytest.approx(statistic, rel=1e-12)
    assert got.p_value == pytest.approx(p, rel=1e-9)


def test_string_classes() -> None:
    ref = profile(pd.Series(["a"] * 50 + ["b"] * 50), "categorical")
    got = prediction_drift(ref, "y", pd.Series(["a"] * 90 + ["b"] * 10), "classification", 0.05)
    assert got.drifted


def test_regression_values_ks() -> None:
    rng = np.random.default_rng(1)
    ref = profile(pd.Series(rng.normal(size=5000)), "numeric")
    calm = prediction_drift(ref, "y", pd.Series(rng.normal(size=800)), "regression", 0.01)
    alarm = prediction_drift(ref, "y", pd.Series(rng.normal(0.3, size=800)), "regression", 0.05)
    assert calm.test == "ks" and not calm.drifted
    assert alarm.drifted


def test_no_target_in_the_profile_gives_no_result() -> None:
    ref = profile(pd.Series([0, 1] * 10), "numeric")
    assert prediction_drift(ref, "label", pd.Series([0, 1]), "classification", 0.05) is None
    assert prediction_drift(ref, None, pd.Series([0, 1]), "classification", 0.05) is None
    assert prediction_drift(ref, "y", pd.Series([], dtype=int), "classification", 0.05) is None
