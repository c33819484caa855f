"""Mergeable partial profiles: a reference profile computed partition by partition, in bounded
memory, whose merge equals the profile of all the rows taken at once.

Each numeric column keeps, per partition (and per streamed batch):

* count, missing, mean and the sum of squared deviations (merged with Chan et al.'s update);
* min and max;
* its distinct values with their counts while there are at most `sample_size` of them (the
  profile's exact form), dropped for good beyond that;
* an **aligned grid**: cells of width 2**e whose edges are the multiples of 2**e, e the
  smallest exponent that spans [min, max] in at most `grid` cells. A value's cell is
  floor(x / 2**e), computed exactly (scaling by a power of two is exact), so the cells of a
  finer grid nest exactly in a coarser one: partitions (or batches) that saw narrower ranges
  coarsen to the merged exponent by an integer shift, and the merged counts are the counts a
  single pass over all rows gives. The exponent depends only on the final min and max.

Categorical columns keep every category's count (merged by addition); the profile keeps the
`max_categories` most frequent, as a single pass does.

`to_profile()` gives the same `ReferenceProfile` as a single pass of this module over all rows:
identical counts, bins and cells; mean and std equal up to floating-point summation order.
Compared with `build_reference_profile`'s grid (exactly `grid` cells from min to max), the
aligned grid's cells are at most twice as wide; the drift bounds of docs/drift.md are stated
for it in tests/unit/test_drift_partial.py.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .profile import (
    DEFAULT_GRID,
    DEFAULT_MAX_CATEGORIES,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    category_counts,
    finite_values,
    psi_cuts,
)

FORMAT = "mlops.dev/partial-profile/v1"
# Cell indices stay exact integers in float64 below this.
_EXACT_INDEX = 2.0**52


def grid_exponent(lo: float, hi: float, grid: int) -> int:
    """The smallest e with [lo, hi] inside `grid` aligned cells of width 2**e (and every cell
    index an exact integer in float64)."""
    top = max(abs(lo), abs(hi))
    e = (math.frexp(top)[1] - 52) if top > 0 else -1074
    span = hi - lo
    if span > 0:
        e = max(e, math.ceil(math.log2(span / grid)) - 1)
    while math.floor(math.ldexp(hi, -e)) - math.floor(math.ldexp(lo, -e)) + 1 > grid:
        e += 1
    return e


def _cells(values: np.ndarray, e: int) -> np.ndarray:
    return np.floor(np.ldexp(values, -e)).astype(np.int64)


@dataclass
class NumericPartial:
    count: int = 0
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    distinct: dict[float, int] | None = field(default_factory=dict)
    exponent: int | None = None
    first: int = 0  # absolute index of cells[0]
    cells: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def add(self, series: pd.Series, sample_size: int, grid: int) -> None:
        x = finite_values(series)
        other = NumericPartial(missing=len(series) - len(x))
        if len(x):
            values, counts = np.unique(x, return_counts=True)
            other.count, other.mean = len(x), float(x.mean())
            other.m2 = float(((x - other.mean) ** 2).sum())
            other.min, other.max = float(values[0]), float(values[-1])
            if len(values) <= sample_size:
                other.distinct = dict(zip(values.tolist(), counts.tolist(), strict=True))
            else:
                other.distinct = None
            other.exponent = grid_exponent(other.min, other.max, grid)
            cells = _cells(values, other.exponent)
            other.first = int(cells[0])
            other.cells = np.bincount(cells - other.first, weights=counts).astype(np.int64)
        self.merge(other, sample_size, grid)

    def merge(self, other: NumericPartial, sample_size: int, grid: int) -> None:
        self.missing += other.missing
        if not other.count:
            return
        if not self.count:
            self.count, self.mean, self.m2 = other.count, other.mean, other.m2
            self.min, self.max, self.distinct = other.min, other.max, other.distinct
            self.exponent, self.first, self.cells = other.exponent, other.first, other.cells
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
        e = grid_exponent(self.min, self.max, grid)
        first = math.floor(math.ldexp(self.min, -e))
        last = math.floor(math.ldexp(self.max, -e))
        merged = np.zeros(last - first + 1, dtype=np.int64)
        for part in (self, other):
            assert part.exponent is not None and part.exponent <= e
            index = (np.arange(len(part.cells), dtype=np.int64) + part.first) >> (e - part.exponent)
            np.add.at(merged, index - first, part.cells)
        self.exponent, self.first, self.cells = e, first, merged

    def to_profile(self, sample_size: int, bins: int) -> NumericProfile:
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
        assert self.exponent is not None
        width = math.ldexp(1.0, self.exponent)
        lo = math.ldexp(float(self.first), self.exponent)
        cuts = psi_cuts(self.cells, bins)
        return NumericProfile(
            **stats,
            psi_edges=lo + cuts * width,
            psi_counts=np.add.reduceat(self.cells, np.concatenate([[0], cuts])),
            grid_lo=lo,
            grid_width=width,
            grid_counts=self.cells.astype(np.int64),
        )

    def doc(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if math.isinf(v) else v

        return {
            "count": self.count, "missing": self.missing, "mean": self.mean, "m2": self.m2,
            "min": num(self.min), "max": num(self.max),
            "distinct": None if self.distinct is None
            else [[v, c] for v, c in sorted(self.distinct.items())],
            "exponent": self.exponent, "first": self.first, "cells": self.cells.tolist(),
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
            exponent=d["exponent"], first=int(d["first"]),
            cells=np.asarray(d["cells"], dtype=np.int64),
        )  # fmt: skip


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
            self.numeric[name].add(frame[name], self.sample_size, self.grid)
        for name in self.categorical_columns:
            counts = category_counts(frame[name])
            target = self.categorical[name]
            for key, value in counts.items():
                target[key] = target.get(key, 0) + value
            self.missing[name] += len(frame) - int(sum(counts.values()))

    def merge(self, other: PartialProfile) -> None:
        self.rows += other.rows
        for name in self.numeric_columns:
            self.numeric[name].merge(other.numeric[name], self.sample_size, self.grid)
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
        if doc.get("format") != FORMAT:
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
