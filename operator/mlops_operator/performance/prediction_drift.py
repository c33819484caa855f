"""Prediction drift: the served predictions against the training target's distribution in the
Dataset's reference profile (drift/profile.py).

- classes profiled as a categorical column: chi-square on the 2xK table (drift/stats.py, the
  drift check's categorical test), categories compared as text;
- classes profiled as a numeric column in exact form (integer labels): the same chi-square on
  the distinct values;
- values (regression, or classes profiled on a grid): two-sample KS against the profile, the
  drift check's numeric test.

A profile without the target column gives no result (None): the test needs training's target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..drift import stats
from ..drift.check import aligned_counts, check_drift
from ..drift.profile import ReferenceProfile, category_counts, finite_values
from .plan import PredictionDrift


def prediction_drift(
    profile: ReferenceProfile,
    target: str | None,
    predictions: pd.Series,
    task: str,
    p_value: float,
) -> PredictionDrift | None:
    if not target or len(predictions) == 0:
        return None
    if target in profile.categorical:
        ref, cur = aligned_counts(profile.categorical[target], category_counts(predictions))
        return _chi_square(ref, cur, p_value)
    numeric = profile.numeric.get(target)
    if numeric is None:
        return None
    if task != "regression" and numeric.exact and numeric.counts is not None:
        values = np.asarray(numeric.values, dtype=np.float64)
        current = finite_values(predictions)
        seen, counts = np.unique(current, return_counts=True)
        unseen = ~np.isin(seen, values)
        ref = np.concatenate([np.asarray(numeric.counts), np.zeros(int(unseen.sum()), np.int64)])
        position = np.searchsorted(values, seen[~unseen])
        cur = np.zeros(len(values), dtype=np.int64)
        cur[position] = counts[~unseen]
        return _chi_square(ref, np.concatenate([cur, counts[unseen]]), p_value)
    report = check_drift(
        profile,
        pd.DataFrame({target: pd.to_numeric(predictions, errors="coerce")}),
        features=[target],
        numeric_test="ks",
        p_value=p_value,
    )
    result = report.features[0]
    return PredictionDrift(
        "ks", result.statistic, float(result.p_value or 1.0), bool(result.drifted)
    )


def _chi_square(ref: np.ndarray, cur: np.ndarray, p_value: float) -> PredictionDrift:
    statistic, p = stats.chi_square(ref, cur)
    return PredictionDrift("chisquare", statistic, p, bool(p < p_value))
