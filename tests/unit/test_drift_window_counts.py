"""Counting a window at a profile's cuts from a float32 sort, exactly.

A check counts the window at the cuts from a float32 copy (about half the sort time of
float64) and looks up in float64 only the values that round to the same float32 as a cut.
The property: the counts equal those of the sorted float64 window, always, on windows built
to defeat the float32 step: values a few float64 ulps either side of the cuts (they round to
the cut's float32), point masses on the cuts, integers, values beyond float32's range
(+-inf as float32), values below its smallest (they round to +-0), signed zeros, and
ordinary continuous data.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_operator.drift import cut_counts, ranks

KINDS = ["near_cuts", "on_cuts", "integers", "beyond_float32", "normal", "tiny", "zeros"]


def reference(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "integers":
        return rng.integers(-1000, 1000, n).astype(np.float64)
    if kind == "beyond_float32":
        return rng.normal(0, 1e300, n)
    if kind == "tiny":
        return rng.normal(0, 1e-40, n)  # below float32's normal range
    if kind == "zeros":
        return np.where(rng.random(n) < 0.5, 0.0, rng.normal(0, 1e-45, n))
    return rng.normal(0, 1, n)


def window(kind: str, cuts: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    if kind in ("near_cuts", "on_cuts"):
        base = rng.choice(cuts, m)
        if kind == "on_cuts":
            return base
        steps = rng.integers(-3, 4, m)  # a few float64 ulps away: the same float32
        out = base.copy()
        for _ in range(3):
            out = np.where(steps > 0, np.nextafter(out, np.inf), out)
            out = np.where(steps < 0, np.nextafter(out, -np.inf), out)
            steps = steps - np.sign(steps)
        return out
    if kind == "integers":
        return rng.integers(-1100, 900, m).astype(np.float64)
    if kind == "beyond_float32":
        return rng.normal(1e299, 1e300, m)
    if kind == "tiny":
        return rng.normal(1e-41, 1e-40, m)
    if kind == "zeros":
        return rng.choice([0.0, -0.0, 1e-46, -1e-46, 1e-30], m)
    return rng.normal(0.2, 1.1, m)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(3000, 12000),
    m=st.integers(1, 4000),
    seed=st.integers(0, 2**32 - 1),
)
def test_float32_counting_equals_the_sorted_float64_window(
    kind: str, n: int, m: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    s = ranks.from_sorted(np.sort(reference(kind, rng, n)))
    x = window(kind, s.values, rng, m)
    counts = cut_counts.window_counts(s.values, x)
    truth = cut_counts.exact_counts(s.values, np.sort(x))
    np.testing.assert_array_equal(counts.lt, truth.lt)
    np.testing.assert_array_equal(counts.le, truth.le)
    assert cut_counts.ks(s, counts) == cut_counts.ks(s, truth)
    assert cut_counts.ks_window(s, x) == cut_counts.ks(s, truth)


def test_undecided_values_away_from_the_maximum_are_left_unplaced() -> None:
    """Continuous data: some window values share a cut's float32, none where the statistic
    is decided; the result is the exact one without looking them up."""
    rng = np.random.default_rng(11)
    s = ranks.from_sorted(np.sort(rng.normal(size=200_000)))
    x = rng.normal(0.05, 1, 400_000)
    f = cut_counts._float32_counts(s.values, x)
    assert f.undecided.any()
    settled = cut_counts._settled(s, f, len(x))
    assert settled is not None
    truth = cut_counts.ks(s, cut_counts.exact_counts(s.values, np.sort(x)))
    assert settled == truth == cut_counts.ks_window(s, x)


def test_undecided_values_where_the_maximum_is_are_placed() -> None:
    """A point mass on one cut makes the largest ECDF gap sit at that cut: the values there
    are undecided by float32, so they are placed, and the result is still exact."""
    rng = np.random.default_rng(12)
    s = ranks.from_sorted(np.sort(rng.normal(size=50_000)))
    x = rng.normal(size=20_000)
    x[:6_000] = np.nextafter(s.values[len(s.values) // 2], np.inf)  # 30 % just above a cut
    f = cut_counts._float32_counts(s.values, x)
    assert cut_counts._settled(s, f, len(x)) is None
    truth = cut_counts.ks(s, cut_counts.exact_counts(s.values, np.sort(x)))
    assert cut_counts.ks_window(s, x) == truth
    assert truth[0] > 0.1


def test_values_next_to_the_cuts_are_looked_up_in_float64() -> None:
    """Every window value one float64 ulp above a cut rounds to the cut's float32: the
    float32 sort alone cannot place them, and the counts still come out exact."""
    rng = np.random.default_rng(7)
    s = ranks.from_sorted(np.sort(rng.normal(size=20000)))
    x = np.nextafter(rng.choice(s.values, 5000), np.inf)
    keys = s.values.astype(np.float32)
    assert np.isin(x.astype(np.float32), keys).all()  # all undecided by float32
    counts = cut_counts.window_counts(s.values, x)
    truth = cut_counts.exact_counts(s.values, np.sort(x))
    np.testing.assert_array_equal(counts.lt, truth.lt)
    np.testing.assert_array_equal(counts.le, truth.le)
    assert np.all(counts.le == counts.lt)  # none equals a cut, though float32 says they do:
    as_float32 = np.searchsorted(np.sort(x.astype(np.float32)), keys, side="right")
    assert np.any(as_float32 > counts.le)


@pytest.mark.parametrize("m", [0, 1])
def test_tiny_windows(m: int) -> None:
    s = ranks.from_sorted(np.sort(np.random.default_rng(9).normal(size=5000)))
    x = np.full(m, 0.5)
    counts = cut_counts.window_counts(s.values, x)
    assert counts.m == m
    assert cut_counts.ks(s, counts) == cut_counts.ks(s, cut_counts.exact_counts(s.values, x))
