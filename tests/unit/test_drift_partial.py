"""Partial profiles merged partition by partition against one pass over all rows: the same
counts, moments and exact forms, and drift statistics within the same bound of the exact
(scipy) values as a single-pass profile's (docs/drift.md)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from tests.unit.test_drift_check import by_name, make

from mlops_operator.drift import build_reference_profile, check_drift, ranks
from mlops_operator.drift.partial import PartialProfile, weighted_quantiles
from mlops_operator.drift.profile import ReferenceProfile

BOUND = 1 / ranks.CELLS


def partial(frame: pd.DataFrame, batch: int | None = None, **settings: int) -> PartialProfile:
    """A partition's partial profile, its rows streamed `batch` at a time."""
    profile = PartialProfile(["a", "b"], ["c"], **settings)
    step = batch or max(len(frame), 1)
    for start in range(0, len(frame), step):
        profile.add(frame.iloc[start : start + step])
    return profile


def merged(frame: pd.DataFrame, cuts: list[int], batch: int, **settings: int) -> ReferenceProfile:
    """Partitions cut at `cuts`, each streamed, each serialised (as a pod writes it), merged."""
    bounds = [0, *cuts, len(frame)]
    parts = [
        PartialProfile.from_json(partial(frame.iloc[lo:hi], batch, **settings).to_json())
        for lo, hi in itertools.pairwise(bounds)
    ]
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total.to_profile()


def assert_same(a: ReferenceProfile, b: ReferenceProfile) -> None:
    assert a.rows == b.rows and a.categorical == b.categorical
    for name, p in a.numeric.items():
        q = b.numeric[name]
        assert (p.count, p.missing, p.min, p.max, p.exact) == (
            q.count,
            q.missing,
            q.min,
            q.max,
            q.exact,
        )
        assert p.mean == pytest.approx(q.mean, rel=1e-12, abs=1e-12)
        assert p.std == pytest.approx(q.std, rel=1e-12)
        if p.exact:
            assert np.array_equal(p.values, q.values) and np.array_equal(p.counts, q.counts)  # type: ignore[arg-type]
            assert np.array_equal(p.psi_edges, q.psi_edges)
            assert np.array_equal(p.psi_counts, q.psi_counts)
        else:  # summaries of other cuts, each within the bound
            for s in (p.ranks, q.ranks):
                assert s is not None and s.n == p.count and s.uncertainty() <= BOUND * s.n
                assert (s.values[0], s.values[-1]) == (p.min, p.max)
            assert p.psi_counts.sum() == q.psi_counts.sum() == p.count


@pytest.mark.parametrize(
    ("rows", "cuts", "batch"),
    [(60_000, [10_000, 35_000], 7_000), (60_000, [1, 59_999], 4_096), (3_000, [1_000], 500)],
)
def test_merged_partials_equal_one_pass(rows: int, cuts: list[int], batch: int) -> None:
    frame = make(rows, 11)
    assert_same(merged(frame, cuts, batch), partial(frame).to_profile())


def test_exact_form_equals_the_single_pass_builder() -> None:
    frame = make(3_000, 12)
    frame["a"] = frame["a"].round(1)  # few distinct values: the exact form
    one = build_reference_profile(frame, ["a", "b"], ["c"], sample_size=5000)
    parts = merged(frame, [700, 2_100], 256, sample_size=5000)
    for name in ("a", "b"):
        p, q = parts.numeric[name], one.numeric[name]
        assert p.exact and q.exact
        assert np.array_equal(p.values, q.values) and np.array_equal(p.counts, q.counts)  # type: ignore[arg-type]
        assert np.array_equal(p.psi_edges, q.psi_edges)
        assert np.array_equal(p.psi_counts, q.psi_counts)
        assert p.mean == pytest.approx(q.mean, rel=1e-12) and p.std == pytest.approx(
            q.std, rel=1e-12
        )
    assert parts.categorical == one.categorical


def test_drift_against_the_merge_is_within_the_single_pass_bounds() -> None:
    """The bound the single-pass profile is held to (test_drift_check), on normal,
    exponential and heavy-tailed columns."""
    ref, cur = make(200_000, 3), make(100_000, 4, shift=0.05)
    rng = np.random.default_rng(5)
    ref["b"] = np.r_[rng.lognormal(0, 1, 199_990), np.full(10, 1e9)]
    cur["b"] = rng.lognormal(0.02, 1, 100_000)
    profile = merged(ref, [50_000, 120_000, 180_000], 32_768)
    assert not profile.numeric["a"].exact
    ks = check_drift(profile, cur, numeric_test="ks")
    w = check_drift(profile, cur, numeric_test="wasserstein")
    single = check_drift(build_reference_profile(ref, ["a", "b"], ["c"]), cur, numeric_test="ks")
    for col in ("a", "b"):
        exact = sps.ks_2samp(ref[col], cur[col])
        merged_d, error = by_name(ks, col).statistic, by_name(ks, col).error
        assert merged_d <= exact.statistic + 1e-12  # a lower bound: no false alarm added
        assert exact.statistic <= merged_d + error + 1e-12 and error <= BOUND
        assert abs(by_name(single, col).statistic - exact.statistic) <= BOUND
        assert by_name(ks, col).drifted == (exact.pvalue < 0.05)
        exact_w = sps.wasserstein_distance(ref[col], cur[col]) / ref[col].std(ddof=0)
        assert abs(by_name(w, col).statistic - exact_w) <= by_name(w, col).error + 1e-9
        assert by_name(w, col).error < 5e-3  # certified; the actual error is far smaller


def test_a_v1_partial_with_an_aligned_grid_is_still_merged_with_a_certified_bound() -> None:
    """A partition profiled before the upgrade (format v1: an aligned grid of 2**e-wide
    cells) merges with a new one; the merged summary's brackets hold the true counts."""
    frame = make(6_000, 21)
    cells = np.zeros(64, dtype=np.int64)
    old = frame.iloc[:3_000]
    e = -3  # cells of width 1/8 from floor(min * 8)
    index = np.floor(np.ldexp(old["a"].to_numpy(), -e)).astype(np.int64)
    first = int(index.min())
    cells = np.bincount(index - first)
    new = partial(frame.iloc[3_000:], sample_size=100)
    doc = json.loads(new.to_json())
    doc["format"] = "mlops.dev/partial-profile/v1"
    a = old["a"].to_numpy()
    x = a - a.mean()
    doc["numeric"]["a"] = {
        "count": 3_000, "missing": 0, "mean": float(a.mean()), "m2": float((x * x).sum()),
        "min": float(a.min()), "max": float(a.max()), "distinct": None,
        "exponent": e, "first": first, "cells": cells.tolist(),
    }  # fmt: skip
    legacy = PartialProfile.from_json(json.dumps(doc).encode())
    merged_profile = partial(frame.iloc[3_000:], sample_size=100)
    merged_profile.merge(legacy)
    s = merged_profile.to_profile().numeric["a"].ranks
    assert s is not None and s.n == 6_000
    xs = np.sort(frame["a"].to_numpy())
    le = np.searchsorted(xs, s.values, side="right")
    lt = np.searchsorted(xs, s.values, side="left")
    assert np.all((s.le_lo <= le) & (le <= s.le_hi) & (s.lt_lo <= lt) & (lt <= s.lt_hi))
    # the heaviest 1/8-wide cell's mass is the uncertainty the profile carries
    assert BOUND * 6_000 < s.uncertainty() <= cells.max() + BOUND * 6_000


def test_weighted_quantiles_are_numpys() -> None:
    rng = np.random.default_rng(1)
    values = np.unique(rng.normal(size=40).round(2))
    counts = rng.integers(1, 9, size=len(values))
    q = np.arange(1, 20) / 20
    expected = np.quantile(np.repeat(values, counts), q)
    assert np.array_equal(weighted_quantiles(values, counts, q), expected)


def test_missing_and_empty_partitions_merge() -> None:
    frame = make(1_000, 2)
    frame.loc[::7, "a"] = np.nan
    frame.loc[::11, "c"] = None
    assert_same(merged(frame, [0, 0, 500], 128), partial(frame).to_profile())
    profile = merged(frame, [0, 0, 500], 128)
    assert profile.numeric["a"].missing == len(frame[frame["a"].isna()])
    assert profile.categorical["c"].missing == int(frame["c"].isna().sum())
