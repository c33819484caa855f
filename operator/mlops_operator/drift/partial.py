"""Mergeable partial profiles: a reference profile computed partition by partition, in bounded
memory, with the same drift bounds as the profile of all the rows taken at once.

Each numeric column keeps, per partition (and per streamed batch):

* count, missing, mean and the sum of squared deviations (merged with Chan et al.'s update);
* min and max;
* its distinct values with their counts while there are at most `sample_size` of them (the
  profile's exact form, identical to one pass), dropped for good beyond that;
* a **rank summary** (drift/ranks.py) with certified count brackets: streamed batches are
  pooled up to `POOL` values, each pool is summarised exactly at 4x the single pass's
  resolution, and every merge (pool into partition, partition into partition) keeps the gap
  uncertainty under `MERGE_LIMIT` = 1/2048 of the rows merged so far. A merge cannot lose
  that bound: the uncertainty of a merged gap is at most the sum of the uncertainties of the
  gaps it lies in, and `compress` only drops cuts while the limit holds. So the merged
  profile's KS bound is the single pass's (< 1/2048), whatever the partitioning and order of
  the rows; it keeps more cuts than one pass (about 3x) to do so.

Categorical columns keep every category's count (merged by addition); the profile keeps the
`max_categories` most frequent, as a single pass does.

A partial of format v1 (an aligned fixed-width grid, written before this version) is still
read: its grid becomes a certified summary whose uncertainty is the heaviest cell's mass, which
the merged profile carries (and `check_drift` reports as the feature's `error`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import ranks
from .profile import (
    DEFAULT_GRID,
    DEFAULT_MAX_CATEGORIES,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    category_counts,
    finite_values,
)
from .ranks import RankSummary

FORMAT = "mlops.dev/partial-profile/v2"
LEGACY_FORMAT = "mlops.dev/partial-profile/v1"
# A batch is summarised four times finer than a single-pass profile, and a merge keeps every
# gap uncertainty under 1/2048 of the rows: the single pass's KS bound (docs/drift.md).
BATCH_CELLS = 4 * ranks.CELLS
MERGE_LIMIT = 1 / ranks.CELLS
# Small streamed batches are pooled (at most this many values per column) before they are
# summarised: the same bound, far fewer merges.
POOL = 65536


@dataclass
class NumericPartial:
    count: int = 0
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    distinct: dict[float, int] | None = field(default_factory=dict)
    summary: RankSummary = field(default_factory=ranks.empty)
    pool: list[np.ndarray] = field(default_factory=list)  # finite values not summarised yet

    def add(self, series: pd.Series, sample_size: int, grid: int = 0) -> None:
        del grid  # the v1 aligned grid's size, no longer used
        x = finite_values(series)
        self.missing += len(series) - len(x)
        self.pool.append(x)
        if sum(len(p) for p in self.pool) >= POOL:
            self.flush(sample_size)

    def flush(self, sample_size: int) -> None:
        """Fold the pooled values in."""
        if not self.pool:
            return
        x = np.concatenate(self.pool)
        self.pool = []
        other = NumericPartial()
        if len(x):
            xs = np.sort(x)
            other.count, other.mean = len(x), float(x.mean())
            other.m2 = float(((x - other.mean) ** 2).sum())
            other.min, other.max = float(xs[0]), float(xs[-1])
            starts = np.flatnonzero(np.concatenate([[True], xs[1:] != xs[:-1]]))
            if len(starts) <= sample_size:
                counts = np.diff(np.append(starts, len(xs)))
                other.distinct = dict(zip(xs[starts].tolist(), counts.tolist(), strict=True))
            else:
                other.distinct = None
            other.summary = ranks.from_sorted(xs, BATCH_CELLS)
        self.merge(other, sample_size)

    def merge(self, other: NumericPartial, sample_size: int, grid: int = 0) -> None:
        del grid
        self.flush(sample_size)
        other.flush(sample_size)
        self.missing += other.missing
        if not other.count:
            return
        if not self.count:
            self.count, self.mean, self.m2 = other.count, other.mean, other.m2
            self.min, self.max, self.distinct = other.min, other.max, other.distinct
            self.summary = other.summary
            return
        n = self.count + other.count
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.count * other.count / n
        self.mean += delta * other.count / n
        self.count = n
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        if self.distinct is not None and other.distinct is not None:
            for value, c in other.distinct.items():
                self.distinct[value] = self.distinct.get(value, 0) + c
            if len(self.distinct) > sample_size:
                self.distinct = None
        else:
            self.distinct = None
        merged = ranks.merge(self.summary, other.summary)
        # Wasserstein: no gap may hold more than 4/CELLS**2 of n * std (docs/drift.md)
        area = 4 * math.sqrt(max(self.m2, 0.0) / n) * n / ranks.CELLS**2
        self.summary = ranks.compress(merged, math.floor(n * MERGE_LIMIT), area)

    def to_profile(self, sample_size: int, bins: int) -> NumericProfile:
        self.flush(sample_size)
        if not self.count:
            return NumericProfile(
                count=0, missing=self.missing, mean=math.nan, std=math.nan, min=math.nan,
                max=math.nan, psi_edges=np.empty(0), psi_counts=np.zeros(1, dtype=np.int64),
                values=np.empty(0), counts=np.empty(0, dtype=np.int64),
            )  # fmt: skip
        stats: dict[str, Any] = {
            "count": self.count,
            "missing": self.missing,
            "mean": self.mean,
            "std": math.sqrt(max(self.m2, 0.0) / self.count),
            "min": self.min,
            "max": self.max,
        }
        if self.distinct is not None and len(self.distinct) <= sample_size:
            values = np.array(sorted(self.distinct), dtype=np.float64)
            counts = np.array([self.distinct[v] for v in values.tolist()], dtype=np.int64)
            edges = np.unique(weighted_quantiles(values, counts, np.arange(1, bins) / bins))
            which = np.searchsorted(edges, values, side="right")
            psi = np.bincount(which, weights=counts, minlength=len(edges) + 1).astype(np.int64)
            return NumericProfile(
                **stats, psi_edges=edges, psi_counts=psi, values=values, counts=counts
            )
        s = self.summary
        # PSI bins [e_i, e_i+1) at the cuts nearest the quantiles i/bins; a bin's reference
        # count is the middle of its certified bracket (within the summary's uncertainty).
        cuts = ranks.quantile_cuts(s, bins)
        below = np.rint((s.lt_lo[cuts] + s.lt_hi[cuts]) / 2).astype(np.int64)
        psi = np.diff(np.concatenate([[0], below, [self.count]])).astype(np.int64)
        return NumericProfile(**stats, psi_edges=s.values[cuts], psi_counts=psi, ranks=s)

    def doc(self) -> dict[str, Any]:
        assert not self.pool, "flush() before doc()"

        def num(v: float) -> float | None:
            return None if math.isinf(v) else v

        return {
            "count": self.count, "missing": self.missing, "mean": self.mean, "m2": self.m2,
            "min": num(self.min), "max": num(self.max),
            "distinct": None if self.distinct is None
            else [[v, c] for v, c in sorted(self.distinct.items())],
            "ranks": ranks.to_doc(self.summary),
        }  # fmt: skip

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> NumericPartial:
        return cls(
            count=int(d["count"]), missing=int(d["missing"]), mean=float(d["mean"]),
            m2=float(d["m2"]),
            min=math.inf if d["min"] is None else float(d["min"]),
            max=-math.inf if d["max"] is None else float(d["max"]),
            distinct=None if d["distinct"] is None
            else {float(v): int(c) for v, c in d["distinct"]},
            summary=ranks.from_doc(d["ranks"]) if "ranks" in d else _from_grid(d),
        )  # fmt: skip


def _from_grid(d: dict[str, Any]) -> RankSummary:
    """A v1 partial's aligned grid as a certified summary: a cut at every occupied cell's left
    edge, with the exact count below it; the count at the edge is only known up to the cell's
    mass, which is the uncertainty the merged profile reports (large on heavy tails)."""
    cells = np.asarray(d["cells"], dtype=np.int64)
    if d["exponent"] is None or not cells.sum():
        return ranks.empty()
    occupied = np.flatnonzero(cells)
    lt = np.cumsum(cells)[occupied] - cells[occupied]
    edges = np.ldexp((np.float64(d["first"]) + occupied).astype(np.float64), int(d["exponent"]))
    edges[0] = float(d["min"])  # the first occupied cell starts at the minimum's value
    total = int(cells.sum())
    values = np.append(edges, float(d["max"]))
    lt_lo = np.append(lt, lt[-1])  # values below the maximum: at least those below its cell
    lt_hi = np.append(lt, total - 1)
    le_lo = np.append(lt, total)
    le_lo[0] = 1  # the minimum itself
    le_hi = np.append(lt + cells[occupied], total)
    if values[-1] == values[-2]:  # the maximum sits on the last occupied cell's edge
        values, le_lo, le_hi, lt_lo, lt_hi = (a[:-1] for a in (values, le_lo, le_hi, lt_lo, lt_hi))
        le_lo[-1] = le_hi[-1] = total
    return RankSummary(total, values, le_lo, le_hi, lt_lo, lt_hi)


def weighted_quantiles(values: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """np.quantile(np.repeat(values, counts), q) (its default linear method), without the
    repeat: the order statistics are looked up in the cumulative counts."""
    n = int(counts.sum())
    cumulative = np.cumsum(counts)
    virtual = (n - 1) * q
    below = np.floor(virtual).astype(np.int64)
    gamma = virtual - below
    above = np.minimum(below + 1, n - 1)
    a = values[np.searchsorted(cumulative, below, side="right")]
    b = values[np.searchsorted(cumulative, above, side="right")]
    # numpy's _lerp: exact at both ends.
    out = a + (b - a) * gamma
    return np.where(gamma >= 0.5, b - (b - a) * (1 - gamma), out)


@dataclass
class PartialProfile:
    """What one partition (or all of them, merged) knows about its rows."""

    numeric_columns: list[str]
    categorical_columns: list[str]
    sample_size: int = 10000
    bins: int = 20
    grid: int = DEFAULT_GRID
    rows: int = 0
    numeric: dict[str, NumericPartial] = field(default_factory=dict)
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)  # categorical missing counts

    def __post_init__(self) -> None:
        for name in self.numeric_columns:
            self.numeric.setdefault(name, NumericPartial())
        for name in self.categorical_columns:
            self.categorical.setdefault(name, {})
            self.missing.setdefault(name, 0)

    def add(self, frame: pd.DataFrame) -> None:
        """Fold one batch of rows in."""
        self.rows += len(frame)
        for name in self.numeric_columns:
            self.numeric[name].add(frame[name], self.sample_size)
        for name in self.categorical_columns:
            counts = category_counts(frame[name])
            target = self.categorical[name]
            for key, value in counts.items():
                target[key] = target.get(key, 0) + value
            self.missing[name] += len(frame) - int(sum(counts.values()))

    def merge(self, other: PartialProfile) -> None:
        self.rows += other.rows
        for name in self.numeric_columns:
            self.numeric[name].merge(other.numeric[name], self.sample_size)
        for name in self.categorical_columns:
            target = self.categorical[name]
            for key, value in other.categorical[name].items():
                target[key] = target.get(key, 0) + value
            self.missing[name] += other.missing[name]

    def to_profile(self, max_categories: int = DEFAULT_MAX_CATEGORIES) -> ReferenceProfile:
        categorical = {}
        for name in self.categorical_columns:
            ordered = dict(sorted(self.categorical[name].items(), key=lambda kv: (-kv[1], kv[0])))
            kept = dict(list(ordered.items())[:max_categories])
            present = int(sum(ordered.values()))
            categorical[name] = CategoricalProfile(
                count=present, missing=self.missing[name], categories=kept,
                other=present - int(sum(kept.values())),
            )  # fmt: skip
        return ReferenceProfile(
            rows=self.rows,
            numeric={
                name: self.numeric[name].to_profile(self.sample_size, self.bins)
                for name in self.numeric_columns
            },
            categorical=categorical,
        )

    def to_json(self) -> bytes:
        for partial in self.numeric.values():
            partial.flush(self.sample_size)
        doc = {
            "format": FORMAT,
            "numericColumns": self.numeric_columns,
            "categoricalColumns": self.categorical_columns,
            "sampleSize": self.sample_size, "bins": self.bins, "grid": self.grid,
            "rows": self.rows,
            "numeric": {name: p.doc() for name, p in self.numeric.items()},
            "categorical": self.categorical, "missing": self.missing,
        }  # fmt: skip
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PartialProfile:
        doc = json.loads(data)
        if doc.get("format") not in (FORMAT, LEGACY_FORMAT):
            raise ValueError(f"unsupported partial profile format {doc.get('format')!r}")
        return cls(
            numeric_columns=list(doc["numericColumns"]),
            categorical_columns=list(doc["categoricalColumns"]),
            sample_size=int(doc["sampleSize"]), bins=int(doc["bins"]), grid=int(doc["grid"]),
            rows=int(doc["rows"]),
            numeric={n: NumericPartial.from_doc(d) for n, d in doc["numeric"].items()},
            categorical={n: {str(k): int(v) for k, v in c.items()}
                         for n, c in doc["categorical"].items()},
            missing={n: int(v) for n, v in doc["missing"].items()},
        )  # fmt: skip
