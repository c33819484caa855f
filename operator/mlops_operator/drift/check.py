"""One drift check: a current window against a reference profile.

This is what the DriftMonitor runs in a worker thread. Parameter names mirror
``mlops_operator.api.driftmonitor`` (Tests, Thresholds, correction), and so do the defaults.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..api import driftmonitor as defaults
from ..api.driftmonitor import CATEGORICAL_TESTS, CORRECTIONS, NUMERIC_TESTS
from . import cut_counts, ranks, stats
from .profile import (
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_reference_profile,
    category_counts,
    finite_values,
)
from .workers import check_workers


@dataclass(frozen=True)
class FeatureResult:
    name: str
    test: str
    statistic: float
    # Corrected for multiple testing when correction != "none"; None for distances.
    p_value: float | None
    drifted: bool
    # Bound on |statistic - the statistic on the raw reference rows|: 0 for an exact profile;
    # for a ranks profile the KS statistic is a lower bound of the exact one, within `error`.
    error: float = 0.0


@dataclass(frozen=True)
class DriftReport:
    samples: int
    features: list[FeatureResult]
    drift_share: float
    dataset_drifted: bool


def check_drift(
    reference: ReferenceProfile,
    current: pd.DataFrame,
    *,
    features: list[str] | None = None,
    numeric_test: str = defaults.NUMERIC_TEST,
    categorical_test: str = defaults.CATEGORICAL_TEST,
    p_value: float = defaults.P_VALUE,
    distance: float = defaults.DISTANCE,
    psi: float = defaults.PSI,
    drift_share: float = defaults.DRIFT_SHARE,
    correction: str = defaults.CORRECTION,
) -> DriftReport:
    """Compare ``current`` with ``reference`` feature by feature.

    Tests with a p-value (ks, chisquare) drift when the (corrected) p-value is
    below ``p_value``; Wasserstein and Jensen-Shannon when the distance is at
    least ``distance``; PSI when it is at least ``psi``. The dataset drifts
    when the share of drifted features is at least ``drift_share``.
    """
    if numeric_test not in NUMERIC_TESTS:
        raise ValueError(f"numeric_test must be one of {NUMERIC_TESTS}, not {numeric_test!r}")
    if categorical_test not in CATEGORICAL_TESTS:
        raise ValueError(
            f"categorical_test must be one of {CATEGORICAL_TESTS}, not {categorical_test!r}"
        )
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, not {correction!r}")
    names = reference.features if features is None else list(features)
    unknown = [f for f in names if f not in reference.numeric and f not in reference.categorical]
    if unknown:
        raise ValueError(f"features not in the reference profile: {', '.join(unknown)}")
    absent = [f for f in names if f not in current.columns]
    if absent:
        raise ValueError(f"features missing from the current window: {', '.join(absent)}")

    def one(name: str) -> tuple[str, str, float, float | None, float]:
        if name in reference.numeric:
            statistic, p, error = _numeric(reference.numeric[name], current[name], numeric_test)
            return name, numeric_test, statistic, p, error
        statistic, p = _categorical(reference.categorical[name], current[name], categorical_test)
        return name, categorical_test, statistic, p, 0.0

    threads = check_workers(len(current), len(names))
    if threads > 1:
        # categorical features first: hashing a text column is the longest task, and a long
        # task started last would leave the other threads idle at the end
        order = sorted(names, key=lambda name: name in reference.numeric)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="drift-check") as pool:
            done = dict(zip(order, pool.map(one, order), strict=True))
        raw = [done[name] for name in names]
    else:
        raw = [one(name) for name in names]

    tested = [i for i, r in enumerate(raw) if r[3] is not None]
    adjusted = stats.adjust_pvalues(np.array([raw[i][3] for i in tested]), correction)
    corrected: dict[int, float] = {i: float(p) for i, p in zip(tested, adjusted, strict=True)}

    results = []
    for i, (name, test, statistic, _, error) in enumerate(raw):
        p = corrected.get(i)
        if p is not None:
            drifted = p < p_value
        elif test == "psi":
            drifted = statistic >= psi
        else:
            drifted = statistic >= distance
        results.append(FeatureResult(name, test, statistic, p, bool(drifted), error))
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    return DriftReport(
        samples=len(current),
        features=results,
        drift_share=share,
        dataset_drifted=bool(results) and share >= drift_share,
    )


def compare_datasets(
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    numeric_test: str = defaults.NUMERIC_TEST,
    categorical_test: str = defaults.CATEGORICAL_TEST,
    p_value: float = defaults.P_VALUE,
    distance: float = defaults.DISTANCE,
    psi: float = defaults.PSI,
    drift_share: float = defaults.DRIFT_SHARE,
    correction: str = defaults.CORRECTION,
) -> DriftReport:
    """Profile ``reference_frame`` and check ``current_frame`` against it."""
    profile = build_reference_profile(reference_frame, numeric, categorical)
    return check_drift(
        profile,
        current_frame,
        features=None,
        numeric_test=numeric_test,
        categorical_test=categorical_test,
        p_value=p_value,
        distance=distance,
        psi=psi,
        drift_share=drift_share,
        correction=correction,
    )


def _numeric(
    ref: NumericProfile, column: pd.Series, test: str
) -> tuple[float, float | None, float]:
    """(statistic, p-value or None, error bound of the statistic)."""
    x = finite_values(column)
    if ref.count == 0 or len(x) == 0:
        # Nothing to compare on one side: report no evidence of drift.
        return 0.0, (1.0 if test == "ks" else None), 0.0
    if test == "psi":
        return _numeric_psi(ref, x), None, 0.0
    if ref.exact:
        assert ref.values is not None and ref.counts is not None
        if test == "ks":
            d = stats.ks_exact(ref.values, ref.counts, x)
            return d, stats.ks_pvalue(d, ref.count, len(x)), 0.0
        w = stats.wasserstein_exact(ref.values, ref.counts, x)
        return stats.normalise_wasserstein(w, ref.std), None, 0.0
    if ref.ranks is not None:
        if test == "ks":
            low, high = cut_counts.ks_window(ref.ranks, x)
            return low, stats.ks_pvalue(low, ref.count, len(x)), high - low
        w, bound = ranks.wasserstein(ref.ranks, np.sort(x))
        scaled = stats.normalise_wasserstein
        return scaled(w, ref.std), None, scaled(bound, ref.std)
    return _numeric_grid(ref, x, test)


def _numeric_grid(
    ref: NumericProfile, x: np.ndarray, test: str
) -> tuple[float, float | None, float]:
    """A v1 profile's fixed-width grid (docs/drift.md: no bound on heavy-tailed data)."""
    assert ref.grid_counts is not None
    cells = len(ref.grid_counts)
    hist = stats.grid_histogram(x, ref.grid_lo, ref.grid_width, cells)
    if test == "ks":
        d, bound = stats.ks_grid(ref.grid_counts, hist)
        return d, stats.ks_pvalue(d, ref.count, len(x)), bound
    top = ref.grid_lo + cells * ref.grid_width
    below = float(np.sum(ref.grid_lo - x[x < ref.grid_lo])) if hist[0] else 0.0
    above = float(np.sum(x[x >= top] - top)) if hist[-1] else 0.0
    w = stats.wasserstein_grid(ref.grid_counts, hist, ref.grid_width, below, above)
    return stats.normalise_wasserstein(w, ref.std), None, math.nan  # no bound measured


def _numeric_psi(ref: NumericProfile, x: np.ndarray) -> float:
    if ref.exact or ref.grid_counts is None:
        cur = np.bincount(
            np.searchsorted(ref.psi_edges, x, side="right"), minlength=len(ref.psi_edges) + 1
        )
        return stats.psi(ref.psi_counts, cur)
    cells = len(ref.grid_counts)
    hist = stats.grid_histogram(x, ref.grid_lo, ref.grid_width, cells)
    cuts = np.rint((ref.psi_edges - ref.grid_lo) / ref.grid_width).astype(np.intp)
    # hist has a leading "below" bin (folded into the first PSI bin) and a
    # trailing "above" bin (folded into the last).
    cur = np.add.reduceat(hist, np.concatenate([[0], cuts + 1]))
    return stats.psi(ref.psi_counts, cur)


def _categorical(
    ref: CategoricalProfile, column: pd.Series, test: str
) -> tuple[float, float | None]:
    ref_counts, cur_counts = aligned_counts(ref, category_counts(column))
    if test == "chisquare":
        return stats.chi_square(ref_counts, cur_counts)
    if test == "jensenshannon":
        return stats.jensen_shannon(ref_counts, cur_counts), None
    return stats.psi(ref_counts, cur_counts), None


def aligned_counts(
    ref: CategoricalProfile, current: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts over the same categories.

    Columns: the reference categories, then - when the reference was capped -
    one "other" column that also takes every current category the profile does
    not list, else one column per category never seen in the reference.
    """
    names = list(ref.categories)
    ref_counts = [ref.categories[c] for c in names]
    cur_counts = [current.get(c, 0) for c in names]
    unseen = {c: v for c, v in current.items() if c not in ref.categories}
    if ref.other > 0:
        ref_counts.append(ref.other)
        cur_counts.append(sum(unseen.values()))
    else:
        ref_counts.extend(0 for _ in unseen)
        cur_counts.extend(unseen.values())
    return np.asarray(ref_counts, dtype=np.int64), np.asarray(cur_counts, dtype=np.int64)
