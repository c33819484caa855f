"""Counting a window at a profile's cuts: float32 first, exact where it must be.

ks_window counts the window from a float32 copy (about half the sort time of float64).
These properties pin what makes that safe, on windows built to defeat it: values a few
float64 ulps either side of the cuts (they round to the cut's float32), point masses on the
cuts, integers (every one a float32: settled exactly), values beyond float32's range, and
ordinary continuous data.

* the float32 brackets always contain the exact counts;
* the settled counts, when given, are the exact counts;
* ks_window's [D_low, D_high] contains the D of the exact counts, and is never wider than
  the profile's own uncertainty, the same guarantee as counting the sorted float64 window.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_operator.drift import ranks

KINDS = ["near_cuts", "on_cuts", "integers", "beyond_float32", "normal", "tiny"]


def reference(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "integers":
        return rng.integers(-1000, 1000, n).astype(np.float64)
    if kind == "beyond_float32":
        return rng.normal(0, 1e300, n)
    if kind == "tiny":
        return rng.normal(0, 1e-40, n)  # below float32's normal range: rounds to 0
    return rng.normal(0, 1, n)


def window(kind: str, cuts: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    if kind in ("near_cuts", "on_cuts"):
        base = rng.choice(cuts, m)
        if kind == "on_cuts":
            return base
        steps = rng.integers(-3, 4, m)  # a few float64 ulps away: the same float32
        return np.asarray([np.nextafter(v, np.inf if s > 0 else -np.inf) if s else v
                           for v, s in zip(base, steps, strict=True)])  # fmt: skip
    if kind == "integers":
        return rng.integers(-1100, 900, m).astype(np.float64)
    if kind == "beyond_float32":
        return rng.normal(1e299, 1e300, m)
    if kind == "tiny":
        return rng.normal(1e-41, 1e-40, m)
    return rng.normal(0.2, 1.1, m)


def exact(cuts: np.ndarray, x: np.ndarray) -> ranks.WindowCounts:
    return ranks.exact_counts(cuts, np.sort(x))


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(3000, 12000),
    m=st.integers(1, 4000),
    seed=st.integers(0, 2**32 - 1),
)
def test_float32_counting_is_bracketed_settled_or_replaced(
    kind: str, n: int, m: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    s = ranks.from_sorted(np.sort(reference(kind, rng, n)))
    x = window(kind, s.values, rng, m)
    truth = exact(s.values, x)

    brackets = ranks.float32_counts(s.values, x)
    for lo, hi, true in (
        (brackets.lt_lo, brackets.lt_hi, truth.lt_lo),
        (brackets.le_lo, brackets.le_hi, truth.le_lo),
    ):
        assert np.all(lo <= true) and np.all(true <= hi)

    settled = ranks.settle_float32(s.values, x, brackets)
    if kind == "integers":
        assert settled is not None
    if settled is not None:
        np.testing.assert_array_equal(settled.lt_lo, truth.lt_lo)
        np.testing.assert_array_equal(settled.le_lo, truth.le_lo)

    d_low, d_high = ranks.ks(s, truth)
    low, high = ranks.ks_window(s, x)
    assert low <= d_low + 1e-12 and d_high <= high + 1e-12
    assert high - low <= s.uncertainty() / s.n + 1e-12


def test_values_on_the_cuts_fall_back_to_exact_counts() -> None:
    """Every window value a few ulps from a cut: float32 cannot tell, so the answer is the
    one of the sorted float64 window, not a widened bracket."""
    rng = np.random.default_rng(7)
    s = ranks.from_sorted(np.sort(rng.normal(size=20000)))
    x = np.nextafter(rng.choice(s.values, 5000), np.inf)
    low, high = ranks.ks(s, ranks.float32_counts(s.values, x))
    assert high - low > s.uncertainty() / s.n  # float32 alone would widen the error
    assert ranks.settle_float32(s.values, x, ranks.float32_counts(s.values, x)) is None
    assert ranks.ks_window(s, x) == ranks.ks(s, exact(s.values, x))


def test_integer_windows_are_settled_exactly() -> None:
    rng = np.random.default_rng(8)
    s = ranks.from_sorted(np.sort(rng.integers(0, 50, 30000).astype(np.float64)))
    x = rng.integers(0, 60, 10000).astype(np.float64)
    brackets = ranks.float32_counts(s.values, x)
    assert np.any(brackets.lt_hi > brackets.lt_lo)  # undecided before settling
    settled = ranks.settle_float32(s.values, x, brackets)
    assert settled is not None
    truth = exact(s.values, x)
    np.testing.assert_array_equal(settled.le_hi, truth.le_hi)
    np.testing.assert_array_equal(settled.lt_hi, truth.lt_hi)
    assert ranks.ks_window(s, x) == ranks.ks(s, truth)


@pytest.mark.parametrize("m", [0, 1])
def test_tiny_windows(m: int) -> None:
    s = ranks.from_sorted(np.sort(np.random.default_rng(9).normal(size=5000)))
    x = np.full(m, 0.5)
    assert ranks.ks_window(s, x) == (ranks.ks(s, exact(s.values, x)) if m else (0.0, 0.0))
