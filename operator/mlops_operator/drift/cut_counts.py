"""A window counted at a rank summary's cuts, and the two-sample KS statistic from the counts.

The counts (how many window values are < and <= each cut) are exact, but they do not come
from a float64 sort of the window: the window is copied to float32, which sorts in about
half the time, and counted there. Rounding to float32 keeps order (a <= b gives
f(a) <= f(b)), so a value whose float32 is below a cut's float32 is below the cut, and one
whose float32 is above it is above the cut. Only values rounding to the same float32 as a
cut are undecided: none or a few for continuous data, all of them for a point mass on a cut.
Where they cannot change the statistic (the cuts they sit at are not where the maximum is,
whichever way they fall) nothing more is done; otherwise they are looked up and placed in
float64. Either way the result is the one of the sorted float64 window.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .ranks import RankSummary

LOW_HALF = 0 if sys.byteorder == "little" else 1  # the uint16 holding a float32's low bits


@dataclass(frozen=True)
class WindowCounts:
    """How many window values are < and <= each cut."""

    m: int
    lt: np.ndarray
    le: np.ndarray


def exact_counts(cuts: np.ndarray, xs: np.ndarray) -> WindowCounts:
    """The window's counts at the cuts from the sorted float64 window `xs`."""
    lt = np.searchsorted(xs, cuts, side="left")
    le = lt.copy()  # one binary search per cut; the second only where the window ties it
    tied = lt < len(xs)
    tied[tied] = xs[lt[tied]] == cuts[tied]
    le[tied] = np.searchsorted(xs, cuts[tied], side="right")
    return WindowCounts(len(xs), lt, le)


@dataclass(frozen=True)
class _Float32Counts:
    y: np.ndarray  # the window as float32, unsorted
    keys: np.ndarray  # the cuts as float32
    below: np.ndarray  # window values whose float32 is below the cut's: below the cut
    upto: np.ndarray  # ... and those whose float32 is the cut's too (undecided)
    undecided: np.ndarray  # cuts whose float32 some window values share


def _float32_counts(cuts: np.ndarray, x: np.ndarray) -> _Float32Counts:
    with np.errstate(over="ignore"):  # beyond float32's range: +-inf, order kept
        y = x.astype(np.float32)
        keys = cuts.astype(np.float32)
    ys = np.sort(y)
    below = np.searchsorted(ys, keys, side="left")
    upto = np.searchsorted(ys, keys, side="right")
    return _Float32Counts(y, keys, below, upto, upto > below)


def _placed(cuts: np.ndarray, x: np.ndarray, f: _Float32Counts) -> WindowCounts:
    """Exact counts: the values sharing an undecided cut's float32 placed in float64."""
    if not f.undecided.any():
        return WindowCounts(len(x), f.below, f.below)
    # Every value rounding to an undecided key, found by the low 16 bits of its float32 (the
    # same for equal floats, +0 and -0 included; read in place as every other uint16); the
    # other values sharing those bits come along and cancel out below.
    table = np.zeros(1 << 16, dtype=bool)
    table[f.keys[f.undecided].view(np.uint32) & 0xFFFF] = True
    xa = np.sort(x[table[f.y.view(np.uint16)[LOW_HALF::2]]])
    with np.errstate(over="ignore"):
        ya = xa.astype(np.float32)  # sorted too: rounding keeps order
    # Of the looked-up values, those rounding below a key are below its cut and counted in
    # both terms; those rounding above it are above the cut and counted in neither.
    same_or_above = np.searchsorted(ya, f.keys, side="left")
    lt = f.below + np.searchsorted(xa, cuts, side="left") - same_or_above
    le = f.below + np.searchsorted(xa, cuts, side="right") - same_or_above
    return WindowCounts(len(x), lt, le)


def window_counts(cuts: np.ndarray, x: np.ndarray) -> WindowCounts:
    """The window's exact counts at the cuts, `x` unsorted."""
    return _placed(cuts, x, _float32_counts(cuts, x))


def _terms(s: RankSummary, lt: np.ndarray, le: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
    """Per cut, what the KS statistic's lower bound takes the maximum of, and the upper
    bound's; per gap between cuts, the upper bound's (see ks)."""
    n = s.n
    c_le, c_lt = le / m, lt / m
    low = np.maximum(
        np.maximum(s.le_lo / n - c_le, c_le - s.le_hi / n),
        np.maximum(s.lt_lo / n - c_lt, c_lt - s.lt_hi / n),
    )
    high = np.maximum(
        np.maximum(np.abs(c_le - s.le_lo / n), np.abs(c_le - s.le_hi / n)),
        np.maximum(np.abs(c_lt - s.lt_lo / n), np.abs(c_lt - s.lt_hi / n)),
    )
    # reference runs ahead inside the gap / the window runs ahead inside the gap
    gaps = np.maximum(s.lt_hi[1:] / n - c_le[:-1], c_lt[1:] - s.le_lo[:-1] / n)
    return low, high, gaps


def ks(s: RankSummary, window: WindowCounts) -> tuple[float, float]:
    """(D_low, D_high): the exact two-sample KS statistic of the reference and the window
    lies in this interval, and D_high - D_low <= s.uncertainty() / n.

    Both ECDFs are known (the reference's within its brackets) at every cut, just at and
    just below it; between two cuts the window's ECDF and the reference's move by at most
    their masses there, which bounds the supremum inside the gap.
    """
    if s.n == 0 or window.m == 0:
        return 0.0, 0.0
    low, high, gaps = _terms(s, window.lt, window.le, window.m)
    top = max(float(high.max()), float(gaps.max())) if len(gaps) else float(high.max())
    return max(float(low.max()), 0.0), top


def ks_window(s: RankSummary, x: np.ndarray) -> tuple[float, float]:
    """ks() of the unsorted window `x`; the undecided values of the float32 count are placed
    only where they could change the result."""
    if s.n == 0 or len(x) == 0:
        return 0.0, 0.0
    f = _float32_counts(s.values, x)
    if f.undecided.any():
        settled = _settled(s, f, len(x))
        if settled is not None:
            return settled
    return ks(s, _placed(s.values, x, f))


def _settled(s: RankSummary, f: _Float32Counts, m: int) -> tuple[float, float] | None:
    """ks() without placing the undecided values, when no way they fall can change it.

    At an undecided cut the window's counts lie between `below` and `upto` (all values
    sharing the cut's float32 below or at the cut). Every term is the
    maximum of functions that are monotone in one count each, so its largest possible value
    is at one of the two ends; the decided cuts' terms are exact. When no undecided term
    can exceed the decided maximum, the maximum is the decided one.
    """
    if f.undecided.all():
        return None
    low_a, high_a, gaps_a = _terms(s, f.below, f.below, m)
    low_b, high_b, gaps_b = _terms(s, f.upto, f.upto, m)
    decided = ~f.undecided
    gap_decided = decided[:-1] & decided[1:]
    open_gaps = ~gap_decided
    low = float(low_a[decided].max())
    if max(float(low_a[f.undecided].max()), float(low_b[f.undecided].max())) > low:
        return None
    high = float(high_a[decided].max())
    if gap_decided.any():
        high = max(high, float(gaps_a[gap_decided].max()))
    undecided_high = max(float(high_a[f.undecided].max()), float(high_b[f.undecided].max()))
    if open_gaps.any():
        undecided_high = max(
            undecided_high, float(gaps_a[open_gaps].max()), float(gaps_b[open_gaps].max())
        )
    if undecided_high > high:
        return None
    return max(low, 0.0), high
