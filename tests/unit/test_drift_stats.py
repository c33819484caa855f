"""Drift statistics against scipy's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from mlops_operator.drift import stats
from mlops_operator.drift.profile import grid_index

EXACT = 1e-9


def weighted(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.unique(sample, return_counts=True)


def samples(seed: int, n: int, m: int, *, rounded: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(0.3, 1.2, size=m)
    if rounded:  # many ties, shared values between the samples
        a, b = a.round(1), b.round(1)
    return a, b


SIZES = [(1, 1), (1, 5), (2, 3), (5, 5), (50, 7), (300, 1000), (4000, 2500), (20000, 30000)]


@pytest.mark.parametrize("rounded", [False, True])
@pytest.mark.parametrize(("n", "m"), SIZES)
def test_ks_equals_scipy(n: int, m: int, rounded: bool) -> None:
    a, b = samples(n * 31 + m, n, m, rounded=rounded)
    expected = sps.ks_2samp(a, b, method="asymp")
    d = stats.ks_exact(*weighted(a), b)
    assert d == pytest.approx(expected.statistic, abs=EXACT)
    p = stats.ks_pvalue(d, n, m)
    if n * m <= stats.KS_EXACT_MAX_PRODUCT:
        exact = sps.ks_2samp(a, b, method="exact").pvalue
        assert p == pytest.approx(exact, abs=EXACT)
    elif n * m / (n + m) <= stats.KS_KSTWO_MAX_N:
        assert p == pytest.approx(expected.pvalue, abs=EXACT)
    else:  # Kolmogorov limit: within 0.5 % (relative) of kstwo at this size
        assert p == pytest.approx(expected.pvalue, rel=5e-3, abs=1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.integers(1, 400), st.integers(1, 400), st.integers(0, 10**6))
def test_exact_ks_pvalue_matches_scipy_for_any_sizes(n: int, m: int, seed: int) -> None:
    a, b = samples(seed, n, m, rounded=False)
    d = stats.ks_exact(*weighted(a), b)
    ours, theirs = stats.ks_pvalue(d, n, m), sps.ks_2samp(a, b, method="exact").pvalue
    if n == m and d <= 1 / n + 1e-12:
        # the smallest D two samples of n distinct values can have: P(D >= 1/n) is 1;
        # scipy's exact method gives up there (n = m = 7) and answers asymptotically, 1 - 4e-5
        assert ours == 1.0 and theirs == pytest.approx(1.0, abs=1e-4)
    else:
        assert ours == pytest.approx(theirs, abs=EXACT)


def test_the_smallest_d_of_equal_sizes_has_p_value_one() -> None:
    for n in (1, 2, 7, 30):
        assert stats.ks_pvalue(1 / n, n, n) == 1.0


@pytest.mark.parametrize("rounded", [False, True])
@pytest.mark.parametrize(("n", "m"), SIZES)
def test_wasserstein_equals_scipy(n: int, m: int, rounded: bool) -> None:
    a, b = samples(n * 17 + m, n, m, rounded=rounded)
    got = stats.wasserstein_exact(*weighted(a), b)
    assert got == pytest.approx(sps.wasserstein_distance(a, b), abs=EXACT)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(-20, 20), min_size=1, max_size=60),
    st.lists(st.integers(-20, 20), min_size=1, max_size=60),
    st.floats(0.01, 100.0),
)
def test_exact_statistics_match_scipy_on_any_sample(
    a: list[int], b: list[int], scale: float
) -> None:
    x = np.asarray(a, dtype=float) * scale
    y = np.asarray(b, dtype=float) * scale
    assert stats.ks_exact(*weighted(x), y) == pytest.approx(sps.ks_2samp(x, y).statistic, abs=EXACT)
    assert stats.wasserstein_exact(*weighted(x), y) == pytest.approx(
        sps.wasserstein_distance(x, y), abs=EXACT * max(1.0, scale)
    )


def test_constant_columns() -> None:
    a = np.full(100, 3.0)
    assert stats.ks_exact(*weighted(a), np.full(50, 3.0)) == 0.0
    assert stats.ks_exact(*weighted(a), np.full(50, 4.0)) == 1.0
    assert stats.wasserstein_exact(*weighted(a), np.full(50, 4.5)) == pytest.approx(1.5)
    # std 0: normalised by the documented floor instead of dividing by zero
    assert stats.normalise_wasserstein(1.5, 0.0) == pytest.approx(1.5 / stats.WASSERSTEIN_MIN_SCALE)
    assert stats.normalise_wasserstein(0.0, 0.0) == 0.0


def test_ks_pvalue_switches_to_kolmogorov_limit_for_large_samples() -> None:
    n = m = 1_000_000
    d = 0.002
    p = stats.ks_pvalue(d, n, m)
    exact = sps.kstwo.sf(d, round(n * m / (n + m)))
    assert p == pytest.approx(exact, rel=5e-3)
    assert stats.ks_pvalue(0.0, 10, 10) == 1.0
    assert stats.ks_pvalue(0.5, 0, 10) == 1.0


def grid_setup(ref: np.ndarray, cells: int) -> tuple[float, float, np.ndarray]:
    lo = float(ref.min())
    width = (float(ref.max()) - lo) / (cells - 0.5)
    counts = np.bincount(grid_index(ref, lo, width, cells), minlength=cells + 2)[1:-1]
    return lo, width, counts


# The fixed-width grid: what profiles of format v1 hold (still read and checked).
@pytest.mark.parametrize("seed", range(4))
def test_grid_approximations_within_stated_bounds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=100_000)
    cur = rng.normal(0.1 * seed, 1 + 0.1 * seed, size=100_000)
    cells = 16384
    lo, width, counts = grid_setup(ref, cells)
    hist = stats.grid_histogram(cur, lo, width, cells)
    assert hist.sum() == len(cur) and counts.sum() == len(ref)

    d, bound = stats.ks_grid(counts, hist)
    exact = sps.ks_2samp(ref, cur).statistic
    assert d <= exact + EXACT
    assert exact <= d + bound + EXACT
    assert exact - d < 2e-4  # measured: ~5e-5

    top = lo + cells * width
    below = float(np.sum(lo - cur[cur < lo]))
    above = float(np.sum(cur[cur >= top] - top))
    w = stats.wasserstein_grid(counts, hist, width, below, above)
    assert w / ref.std() == pytest.approx(sps.wasserstein_distance(ref, cur) / ref.std(), abs=1e-5)


def test_grid_puts_values_outside_the_reference_in_the_tail_bins() -> None:
    lo, width, counts = grid_setup(np.linspace(0, 1, 1001), 100)
    hist = stats.grid_histogram(np.array([-5.0, 0.0, 0.5, 1.0, 7.0]), lo, width, 100)
    assert hist[0] == 1 and hist[-1] == 1 and hist[1:-1].sum() == 3
    assert counts[-1] > 0  # the reference maximum lands inside the last cell


def naive_psi(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    total = 0.0
    for pc, qc in zip(p_counts, q_counts, strict=True):
        p = max(pc / p_counts.sum(), stats.PSI_EPSILON)
        q = max(qc / q_counts.sum(), stats.PSI_EPSILON)
        total += (q - p) * np.log(q / p)
    return total


def test_psi_definition_and_empty_bins() -> None:
    rng = np.random.default_rng(5)
    p = rng.integers(0, 100, size=20)
    q = rng.integers(0, 100, size=20)
    q[3] = 0
    p[7] = 0
    assert stats.psi(p, q) == pytest.approx(naive_psi(p, q), abs=EXACT)
    assert stats.psi(p, p * 3) == pytest.approx(0.0, abs=EXACT)
    # an all-new bin: reference proportion floored at epsilon, finite PSI
    assert np.isfinite(stats.psi(np.array([10, 0]), np.array([0, 10])))


CATEGORY_CASES = [
    (np.array([50, 30, 20]), np.array([40, 40, 20])),
    (np.array([5, 0, 1, 3]), np.array([0, 2, 2, 9])),
    (np.array([1000, 10, 1]), np.array([1, 10, 1000])),
    (np.array([7, 3]), np.array([2, 8])),  # 2x2: compare without Yates
    (np.array([0, 0, 100]), np.array([3, 0, 1])),  # an all-zero column
    (np.array([120, 0]), np.array([0, 35])),  # all-new categories
]


@pytest.mark.parametrize(("ref", "cur"), CATEGORY_CASES)
def test_chi_square_equals_scipy(ref: np.ndarray, cur: np.ndarray) -> None:
    table = np.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    expected = sps.chi2_contingency(table, correction=False)
    statistic, p = stats.chi_square(ref, cur)
    assert statistic == pytest.approx(expected.statistic, rel=EXACT, abs=EXACT)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("ref", "cur"), CATEGORY_CASES)
def test_jensen_shannon_equals_scipy(ref: np.ndarray, cur: np.ndarray) -> None:
    expected = jensenshannon(ref / ref.sum(), cur / cur.sum())
    assert stats.jensen_shannon(ref, cur) == pytest.approx(expected, abs=EXACT)


def test_single_category_cannot_drift() -> None:
    assert stats.chi_square(np.array([10]), np.array([99])) == (0.0, 1.0)
    assert stats.jensen_shannon(np.array([10]), np.array([99])) == 0.0
    assert stats.psi(np.array([10]), np.array([99])) == pytest.approx(0.0)


def test_random_categorical_against_scipy() -> None:
    rng = np.random.default_rng(11)
    for k in (2, 3, 10, 200):
        ref = rng.integers(1, 500, size=k)
        cur = rng.integers(0, 500, size=k)
        table = np.vstack([ref, cur])
        table = table[:, table.sum(axis=0) > 0]
        expected = sps.chi2_contingency(table, correction=False)
        statistic, p = stats.chi_square(ref, cur)
        assert statistic == pytest.approx(expected.statistic, rel=EXACT)
        assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        assert stats.jensen_shannon(ref, cur) == pytest.approx(
            jensenshannon(ref / ref.sum(), cur / cur.sum()), abs=EXACT
        )


def test_corrections() -> None:
    p = np.array([0.001, 0.04, 0.03, 0.2, 0.012])
    assert np.array_equal(stats.adjust_pvalues(p, "none"), p)
    assert stats.adjust_pvalues(p, "bonferroni") == pytest.approx(np.minimum(p * 5, 1))
    assert stats.adjust_pvalues(p, "fdr") == pytest.approx(
        sps.false_discovery_control(p, method="bh"), abs=EXACT
    )
    rng = np.random.default_rng(3)
    many = rng.uniform(size=300) ** 3
    assert stats.adjust_pvalues(many, "fdr") == pytest.approx(
        sps.false_discovery_control(many), abs=EXACT
    )
    assert len(stats.adjust_pvalues(np.array([]), "fdr")) == 0
    with pytest.raises(ValueError, match="holm"):
        stats.adjust_pvalues(p, "holm")
