"""Partial profiles merged partition by partition against one pass over all rows: the same
profile, and drift statistics within the same bounds of the exact (scipy) values as a
single-pass profile's (docs/drift.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from tests.unit.test_drift_check import by_name, make

from mlops_operator.drift import build_reference_profile, check_drift
from mlops_operator.drift.partial import PartialProfile, grid_exponent, weighted_quantiles
from mlops_operator.drift.profile import ReferenceProfile


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
        assert np.array_equal(p.psi_edges, q.psi_edges) and np.array_equal(
            p.psi_counts, q.psi_counts
        )
        if p.exact:
            assert np.array_equal(p.values, q.values) and np.array_equal(p.counts, q.counts)  # type: ignore[arg-type]
        else:
            assert (p.grid_lo, p.grid_width) == (q.grid_lo, q.grid_width)
            assert np.array_equal(p.grid_counts, q.grid_counts)  # type: ignore[arg-type]


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
    """The bounds the single-pass grid profile is held to (test_drift_check), on normal,
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
        exact_d = sps.ks_2samp(ref[col], cur[col]).statistic
        merged_d = by_name(ks, col).statistic
        assert merged_d <= exact_d + 1e-12  # a lower bound: no false alarm added
        if col == "a":
            assert abs(merged_d - exact_d) < 2e-4
            exact_w = sps.wasserstein_distance(ref[col], cur[col]) / ref[col].std(ddof=0)
            assert by_name(w, col).statistic == pytest.approx(exact_w, abs=1e-5)
        else:  # heavy tail: no better and no worse than the single pass's grid
            assert abs(merged_d - exact_d) <= abs(by_name(single, col).statistic - exact_d) + 2e-4


def test_aligned_grid_exponent_is_minimal_and_nests() -> None:
    for lo, hi in ((-3.2, 4.7), (0.0, 1e-9), (1e6, 1e6 + 1), (-1e300, 1e300), (5.0, 5.0)):
        e = grid_exponent(lo, hi, 16384)
        cells = math.floor(math.ldexp(hi, -e)) - math.floor(math.ldexp(lo, -e)) + 1
        assert cells <= 16384
        if hi - lo > 0 and max(abs(lo), abs(hi)) / 2.0 ** (e - 1) < 2**52:
            finer = math.floor(math.ldexp(hi, 1 - e)) - math.floor(math.ldexp(lo, 1 - e)) + 1
            assert finer > 16384  # one step finer does not fit


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
