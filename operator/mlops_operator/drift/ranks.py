"""Rank-space summaries of a numeric column, and the drift statistics computed against them.

A summary keeps cut points chosen in *rank* space (every `n / cells`-th order statistic, the
minimum, the maximum, and both sides of the widest jumps between consecutive sorted values),
and, for every cut v, how many reference values are <= v and < v. Point masses and ties are
exact: a value repeated more than `n / cells` times is always a cut, with its exact count.

Counts are kept as certified brackets [lo, hi]: exact (lo == hi) for a summary built from the
rows themselves, widened by merging summaries of partitions (a cut of one partition falls
inside a gap of another, whose mass there is only known to be between that gap's ends). The
one quantity every bound rests on is the *gap uncertainty* of consecutive cuts j, j + 1:

    U_j = lt_hi[j + 1] - le_lo[j]  >=  reference values strictly between the cuts
                                        + the uncertainty of the counts at both cuts.

For a summary of the rows themselves U_j < n / cells; merging never lets it grow past the sum
of the merged summaries' U (relative: their maximum), and `compress` keeps it under a limit.
docs/drift.md states what follows for KS, PSI and Wasserstein.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELLS = 2048  # a single pass: reference mass strictly between two cuts < 1/2048 < 5e-4
JUMPS = 256  # extra cut pairs around the widest jumps (Wasserstein on heavy tails)


@dataclass(frozen=True)
class RankSummary:
    n: int
    values: np.ndarray  # distinct cuts, ascending; values[0] = min, values[-1] = max
    le_lo: np.ndarray  # lower bound of #reference values <= values[j]
    le_hi: np.ndarray
    lt_lo: np.ndarray  # lower bound of #reference values < values[j]
    lt_hi: np.ndarray

    @property
    def exact(self) -> bool:
        return bool(
            np.array_equal(self.le_lo, self.le_hi) and np.array_equal(self.lt_lo, self.lt_hi)
        )

    def gaps(self) -> np.ndarray:
        """U_j for every pair of consecutive cuts (see the module docstring)."""
        return self.lt_hi[1:] - self.le_lo[:-1]

    def uncertainty(self) -> int:
        """The largest U_j or count bracket: |F_ref estimate - F_ref| <= this / n anywhere."""
        if len(self.values) == 0:
            return 0
        widths = [int((self.le_hi - self.le_lo).max()), int((self.lt_hi - self.lt_lo).max())]
        if len(self.values) > 1:
            widths.append(int(self.gaps().max()))
        return max(widths)


def empty() -> RankSummary:
    none = np.zeros(0, dtype=np.int64)
    return RankSummary(0, np.zeros(0), none, none, none, none)


def from_sorted(xs: np.ndarray, cells: int = CELLS, jumps: int = JUMPS) -> RankSummary:
    """The exact summary of a sorted, finite column."""
    n = len(xs)
    if n == 0:
        return empty()
    ranks = (np.arange(cells + 1, dtype=np.int64) * (n - 1)) // cells
    if jumps and n > 2:
        diffs = np.diff(xs)
        k = min(jumps, len(diffs))
        widest = np.argpartition(diffs, len(diffs) - k)[len(diffs) - k :]
        ranks = np.concatenate([ranks, widest, widest + 1])
    values = np.unique(xs[ranks])
    le = np.searchsorted(xs, values, side="right").astype(np.int64)
    lt = np.searchsorted(xs, values, side="left").astype(np.int64)
    return RankSummary(n, values, le, le, lt, lt)


def _at(s: RankSummary, v: np.ndarray) -> tuple[np.ndarray, ...]:
    """Brackets of s's counts (<= v and < v) at arbitrary points v."""
    k = len(s.values)
    pos = np.searchsorted(s.values, v, side="left")
    inside = np.minimum(pos, k - 1)
    hit = (pos < k) & (s.values[inside] == v)
    before = np.maximum(pos - 1, 0)
    # strictly between cuts pos-1 and pos: both counts lie in [le_lo[pos-1], lt_hi[pos]]
    gap_lo = np.where(pos == 0, 0, np.where(pos == k, s.n, s.le_lo[before]))
    gap_hi = np.where(pos == 0, 0, np.where(pos == k, s.n, s.lt_hi[inside]))
    return (
        np.where(hit, s.le_lo[inside], gap_lo),
        np.where(hit, s.le_hi[inside], gap_hi),
        np.where(hit, s.lt_lo[inside], gap_lo),
        np.where(hit, s.lt_hi[inside], gap_hi),
    )


def merge(a: RankSummary, b: RankSummary) -> RankSummary:
    """The summary of the union of two columns, brackets certified."""
    if b.n == 0:
        return a
    if a.n == 0:
        return b
    values = np.union1d(a.values, b.values)
    parts = [x + y for x, y in zip(_at(a, values), _at(b, values), strict=True)]
    return RankSummary(a.n + b.n, values, *parts)


def compress(s: RankSummary, limit: int, area: float = np.inf) -> RankSummary:
    """Keep a subset of the cuts (always the first and the last) with every new U_j <= limit
    and U_j times the gap's width <= area (what Wasserstein's bound adds up), or, where two
    kept cuts were already consecutive, the U_j they had."""
    k = len(s.values)
    if k <= 2:
        return s
    start = np.arange(k)
    # the farthest cut each cut may be followed by: U within the limit ...
    hi = np.minimum(np.searchsorted(s.lt_hi, s.le_lo + limit, side="right") - 1, k - 1)
    hi = np.maximum(hi, np.minimum(start + 1, k - 1))
    lo = np.minimum(start + 1, k - 1)
    # ... and U * width within the area (both grow with the far end: binary search)
    while np.any(lo < hi):
        mid = (lo + hi + 1) // 2
        fits = (s.lt_hi[mid] - s.le_lo) * (s.values[mid] - s.values) <= area
        lo = np.where(fits, mid, lo)
        hi = np.where(fits, hi, mid - 1)
    reach = lo.tolist()
    keep = [0]
    j = 0
    while j < k - 1:
        j = reach[j]
        keep.append(j)
    idx = np.asarray(keep)
    return RankSummary(s.n, s.values[idx], s.le_lo[idx], s.le_hi[idx], s.lt_lo[idx], s.lt_hi[idx])


def wasserstein(s: RankSummary, xs: np.ndarray) -> tuple[float, float]:
    """W1 between the reference estimate (its ECDF linear between cuts, the bracket middles at
    the cuts) and the sorted window, and its error bound: sum over gaps of U_j / n times the
    gap's width."""
    n, m, k = s.n, len(xs), len(s.values)
    if n == 0 or m == 0:
        return 0.0, 0.0
    le = (s.le_lo + s.le_hi) / (2 * n)
    lt = (s.lt_lo + s.lt_hi) / (2 * n)
    width = np.diff(s.values)
    slope = np.divide(lt[1:] - le[:-1], width, out=np.zeros(k - 1), where=width > 0)
    # piece i + 1 of the estimate starts at cut i: F(x) = base + slope * (x - origin);
    # piece 0 is below the minimum (0), piece k above the maximum (1)
    base = np.concatenate([[0.0], le])
    slopes = np.concatenate([[0.0], slope, [0.0]])
    origin = np.concatenate([s.values[:1], s.values])
    # the window with the cuts inserted (each before equal window values): in every interval
    # between consecutive points the window's ECDF is constant and the estimate linear
    at = np.searchsorted(xs, s.values, side="left")
    points = np.insert(xs, at, s.values)
    is_cut = np.zeros(len(points), dtype=bool)
    is_cut[at + np.arange(k)] = True
    right = np.cumsum(is_cut)  # cuts <= point: the piece of F(p) (cuts come before equals)
    cur = (np.arange(1, len(points) + 1) - right) / m  # window values <= point
    # cuts < point: the piece of F(p-)
    left = right - (points == s.values[np.maximum(right - 1, 0)]) * (right > 0)
    r, lf, cur = right[:-1], left[1:], cur[:-1]
    a = points[:-1] - origin[r]
    a *= slopes[r]
    a += base[r]
    a -= cur
    b = points[1:] - origin[lf]
    b *= slopes[lf]
    b += base[lf]
    b -= cur
    # |a + (b - a) t| over t in [0, 1]: a trapezoid, or two triangles when it crosses 0
    crossing = (a * b) < 0
    area = np.abs(a) + np.abs(b)
    area[crossing] = (a[crossing] ** 2 + b[crossing] ** 2) / area[crossing]
    area *= 0.5
    area *= np.diff(points)
    distance = float(area.sum())
    bound = float(np.sum(s.gaps() / n * width)) if k > 1 else 0.0
    return distance, bound


def quantile_cuts(s: RankSummary, bins: int) -> np.ndarray:
    """Indices of cuts nearest the reference quantiles i/bins, distinct and interior."""
    mid = (s.lt_lo + s.lt_hi) / 2
    targets = np.arange(1, bins) * (s.n / bins)
    idx = np.clip(np.searchsorted(mid, targets, side="left"), 1, len(s.values) - 1)
    return np.unique(idx)


def to_doc(s: RankSummary) -> dict[str, object]:
    """Compact JSON: cut values, and each count array as differences (small integers);
    the upper brackets only when they differ from the lower ones."""

    def deltas(a: np.ndarray) -> list[int]:
        return [int(v) for v in np.diff(a, prepend=0)]

    doc: dict[str, object] = {
        "n": s.n,
        "values": [float(v) for v in s.values],
        "le": deltas(s.le_lo),
        "lt": deltas(s.lt_lo),
    }
    if not s.exact:
        doc["leHi"], doc["ltHi"] = deltas(s.le_hi), deltas(s.lt_hi)
    return doc


def from_doc(d: dict[str, object]) -> RankSummary:
    def cumulative(key: str) -> np.ndarray:
        return np.cumsum(np.asarray(d[key], dtype=np.int64))

    le, lt = cumulative("le"), cumulative("lt")
    le_hi = cumulative("leHi") if "leHi" in d else le
    lt_hi = cumulative("ltHi") if "ltHi" in d else lt
    values = np.asarray(d["values"], dtype=np.float64)
    return RankSummary(int(d["n"]), values, le, le_hi, lt, lt_hi)  # type: ignore[call-overload]
