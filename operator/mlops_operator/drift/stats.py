"""Vectorised drift statistics (numpy + scipy special functions).

Two families:

* exact - the reference is given as distinct sorted values with counts (a raw
  sample is the special case of all counts 1). Results equal scipy's
  ``ks_2samp`` / ``wasserstein_distance`` on the raw data.
* grid - the reference is a histogram on a uniform grid and the current window
  is binned on the same grid in one linear pass. Bounds in docs/drift.md.

Categorical statistics work on aligned count vectors (reference, current).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

# Zero proportions are replaced by this before PSI's logarithm.
PSI_EPSILON = 1e-4
# Wasserstein is divided by the reference std; a constant reference (std 0)
# is divided by this instead, so any move of more than 1e-4 units is drift at 0.1.
WASSERSTEIN_MIN_SCALE = 1e-3
# KS p-value, by sample sizes n and m:
#   n*m <= KS_EXACT_MAX_PRODUCT: exact (lattice-path count), as ks_2samp(method="exact");
#   n*m/(n+m) <= KS_KSTWO_MAX_N: scipy's kstwo.sf, as ks_2samp(method="asymp");
#   above: the Kolmogorov limit distribution (microseconds instead of up to seconds).
KS_EXACT_MAX_PRODUCT = 250_000
KS_KSTWO_MAX_N = 10_000


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Two-sided p-value of a two-sample KS statistic ``d`` for sample sizes n and m."""
    if n == 0 or m == 0 or d <= 0:
        return 1.0
    if n * m <= KS_EXACT_MAX_PRODUCT:
        return _ks_exact_pvalue(round(d * n * m), n, m)
    en = n * m / (n + m)
    if en <= KS_KSTWO_MAX_N:
        p = float(stats.kstwo.sf(d, round(en)))
    else:
        p = float(special.kolmogorov(math.sqrt(en) * d))
    return min(max(p, 0.0), 1.0)


def _ks_exact_pvalue(h: int, n: int, m: int) -> float:
    """P(D >= h/(n*m)) under H0: 1 - (monotone lattice paths staying inside) / C(n+m, n).

    A path through (i, j) is inside while |i*m - j*n| < h; the inside cells of a
    row are contiguous, so each row is a cumulative sum of the previous one.
    Rows are rescaled as they go (log scale kept) so nothing overflows.
    """
    if n > m:
        n, m = m, n
    j = np.arange(m + 1)
    row = np.where(np.abs(j * n) < h, 1.0, 0.0)
    log_scale = 0.0
    for i in range(1, n + 1):
        lo = max(0, (i * m - h) // n + 1)
        hi = min(m, -((-(i * m + h)) // n) - 1)
        new = np.zeros(m + 1)
        if lo > hi:
            return 1.0
        new[lo : hi + 1] = np.cumsum(row[lo : hi + 1])
        top = new.max()
        if top == 0:
            return 1.0
        row = new / top
        log_scale += math.log(top)
    if row[m] == 0:
        return 1.0
    log_total = math.lgamma(n + m + 1) - math.lgamma(n + 1) - math.lgamma(m + 1)
    inside = math.exp(math.log(row[m]) + log_scale - log_total)
    return min(max(1.0 - inside, 0.0), 1.0)


def ks_exact(values: np.ndarray, counts: np.ndarray, current: np.ndarray) -> float:
    """KS statistic between a weighted sorted reference and a raw current sample.

    Evaluates both empirical CDFs just below and at every reference value,
    which covers the supremum; the current window is not sorted.
    """
    n, m = int(counts.sum()), len(current)
    if n == 0 or m == 0:
        return 0.0
    k = len(values)
    below = np.searchsorted(values, current, side="left")  # reference values < x
    at = below < k
    at[at] = values[below[at]] == current[at]
    cur_lt = np.cumsum(np.bincount(below[~at], minlength=k + 1))[:k]
    cur_lt[1:] += np.cumsum(np.bincount(below[at], minlength=k))[:-1]
    cur_le = cur_lt + np.bincount(below[at], minlength=k)
    ref_le = np.cumsum(counts)
    ref_lt = ref_le - counts
    d_le = np.abs(ref_le / n - cur_le / m).max()
    d_lt = np.abs(ref_lt / n - cur_lt / m).max()
    return float(max(d_le, d_lt))


def wasserstein_exact(values: np.ndarray, counts: np.ndarray, current: np.ndarray) -> float:
    """First Wasserstein distance between a weighted reference and a raw current sample."""
    n, m = int(counts.sum()), len(current)
    if n == 0 or m == 0:
        return 0.0
    cur = np.sort(current)
    points = np.union1d(values, cur)
    ref_cdf = np.cumsum(counts)[np.searchsorted(values, points[:-1], side="right") - 1] / n
    ref_cdf[points[:-1] < values[0]] = 0.0
    cur_cdf = np.searchsorted(cur, points[:-1], side="right") / m
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(points)))


def grid_histogram(current: np.ndarray, lo: float, width: float, cells: int) -> np.ndarray:
    """Current counts on the reference grid: [below, cell 0 .. cell cells-1, above]."""
    from .profile import grid_index

    return np.bincount(grid_index(current, lo, width, cells), minlength=cells + 2)


def ks_grid(ref_cells: np.ndarray, cur_hist: np.ndarray) -> tuple[float, float]:
    """KS statistic at the grid edges and its error bound.

    The true statistic lies in [d, d + bound] where bound is the largest
    min(reference mass, current mass) of one cell.
    """
    n, m = ref_cells.sum(), cur_hist.sum()
    if n == 0 or m == 0:
        return 0.0, 0.0
    ref_cdf = np.concatenate([[0.0], np.cumsum(ref_cells) / n])
    cur_cdf = np.cumsum(cur_hist[:-1]) / m  # edges lo .. top
    d = float(np.abs(ref_cdf - cur_cdf).max())
    bound = float(np.minimum(ref_cells / n, cur_hist[1:-1] / m).max())
    return d, bound


def wasserstein_grid(
    ref_cells: np.ndarray,
    cur_hist: np.ndarray,
    width: float,
    below_sum: float,
    above_sum: float,
) -> float:
    """W1 with mass spread uniformly inside each cell; outside the grid it is exact.

    ``below_sum`` / ``above_sum`` are the sums of distances of current values
    below the grid's left edge / above its right edge to that edge.
    """
    n, m = ref_cells.sum(), cur_hist.sum()
    if n == 0 or m == 0:
        return 0.0
    ref_cdf = np.concatenate([[0.0], np.cumsum(ref_cells) / n])
    diff = ref_cdf - np.cumsum(cur_hist[:-1]) / m
    a, b = diff[:-1], diff[1:]
    same_sign = a * b >= 0
    abs_a, abs_b = np.abs(a), np.abs(b)
    total = abs_a + abs_b
    safe = np.where(total > 0, total, 1.0)
    # A linear function from a to b: trapezoid, or two triangles when it crosses 0.
    area = np.where(same_sign, 0.5 * total, 0.5 * (a * a + b * b) / safe)
    return float(width * area.sum() + (below_sum + above_sum) / m)


def normalise_wasserstein(distance: float, std: float) -> float:
    scale = std if std > 0 else WASSERSTEIN_MIN_SCALE
    return distance / scale


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    n, m = ref_counts.sum(), cur_counts.sum()
    if n == 0 or m == 0:
        return 0.0
    p = np.maximum(ref_counts / n, PSI_EPSILON)
    q = np.maximum(cur_counts / m, PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Pearson chi-square test of homogeneity on the 2xK table (no Yates correction).

    Categories empty in both rows are dropped; with fewer than two categories
    left the samples cannot differ and the result is (0, 1).
    """
    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    n, m = table[0].sum(), table[1].sum()
    if table.shape[1] < 2 or n == 0 or m == 0:
        return 0.0, 1.0
    column = table.sum(axis=0)
    expected = np.outer([n, m], column / (n + m))
    statistic = float(np.sum((table - expected) ** 2 / expected))
    p = float(special.chdtrc(table.shape[1] - 1, statistic))
    return statistic, p


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, range [0, sqrt(ln 2)]), as scipy's default."""
    n, m = ref_counts.sum(), cur_counts.sum()
    if n == 0 or m == 0:
        return 0.0
    p = ref_counts / n
    q = cur_counts / m
    mid = 0.5 * (p + q)
    divergence = 0.5 * (special.rel_entr(p, mid).sum() + special.rel_entr(q, mid).sum())
    return float(math.sqrt(max(divergence, 0.0)))


def adjust_pvalues(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Correct p-values for testing several features: none, bonferroni or fdr (BH)."""
    p = np.asarray(p_values, dtype=np.float64)
    k = len(p)
    if correction == "none" or k == 0:
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * k, 1.0)
    if correction == "fdr":
        order = np.argsort(p)
        scaled = p[order] * k / np.arange(1, k + 1)
        adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
        out = np.empty(k)
        out[order] = np.minimum(adjusted, 1.0)
        return out
    raise ValueError(f"unknown correction {correction!r}: use none, bonferroni or fdr")
