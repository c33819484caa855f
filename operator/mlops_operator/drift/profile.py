"""Reference profile: what a drift check compares a current window against.

A numeric feature is kept in one of two forms:

* ``exact`` - the distinct reference values with their counts, used when the
  column has at most ``sample_size`` distinct values. Every statistic computed
  against it equals the one computed on the raw reference column.
* ``ranks`` - cut points in rank space (drift/ranks.py): every n/2048-th order
  statistic, min, max, both sides of the widest jumps, each with its exact count
  of reference values <= and < it. The KS error is below 1/2048 whatever the
  data (heavy tails, outliers, point masses, ties); bounds in docs/drift.md.

Profiles of format v1 may hold a third form, ``grid`` (a fixed-width histogram over
[min, max]); they are still read and checked as before, with a warning that their error
is not bounded on heavy-tailed data (rebuild the Dataset version for a v2 profile).

A categorical feature keeps the counts of its ``max_categories`` most frequent
values; the rest of the reference is pooled into an explicit ``other`` count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import ranks as rank_summary
from .ranks import RankSummary

FORMAT = "mlops.dev/drift-profile/v2"
FORMAT_VERSION = 2
LEGACY_FORMATS = ("mlops.dev/drift-profile/v1",)
DEFAULT_GRID = 16384  # the v1 grid form; profiles are no longer built with it
log = logging.getLogger(__name__)
DEFAULT_MAX_CATEGORIES = 1000


def finite_values(series: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN, None and +-inf removed.

    A float64 column without missing or infinite values comes back as a read-only view of
    the frame's own array (no copy): callers that reorder values copy it first.
    """
    if series.dtype == np.float64:  # numpy float64: no conversion needed
        values = series.to_numpy()
    else:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    return values


def grid_index(values: np.ndarray, lo: float, width: float, cells: int) -> np.ndarray:
    """Cell of every value on the grid, shifted by one: 0 = below, cells + 1 = above.

    The builder and the checker call this same function, so a value lands in
    the same cell on both sides whatever the floating-point rounding.
    """
    position = (values - lo) * (1.0 / width)
    np.floor(position, out=position)
    np.clip(position, -1.0, float(cells), out=position)
    position += 1.0
    return position.astype(np.intp)


@dataclass(frozen=True)
class NumericProfile:
    count: int  # finite values
    missing: int  # NaN / None / inf, dropped
    mean: float
    std: float  # population std (ddof=0), the Wasserstein normaliser
    min: float
    max: float
    psi_edges: np.ndarray  # interior bin edges, bins are [e_i, e_i+1)
    psi_counts: np.ndarray  # reference count per PSI bin, len(psi_edges) + 1
    values: np.ndarray | None = None  # exact form: distinct sorted values
    counts: np.ndarray | None = None  # exact form: their counts
    grid_lo: float = 0.0  # grid form: left edge of cell 0
    grid_width: float = 0.0  # grid form: cell width
    grid_counts: np.ndarray | None = None  # grid form (v1 profiles only): count per cell
    ranks: RankSummary | None = None  # ranks form: cut points in rank space

    @property
    def exact(self) -> bool:
        return self.values is not None


@dataclass(frozen=True)
class CategoricalProfile:
    count: int  # non-missing values
    missing: int
    categories: dict[str, int]  # most frequent first
    other: int  # reference values beyond the category cap


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    numeric: dict[str, NumericProfile] = field(default_factory=dict)
    categorical: dict[str, CategoricalProfile] = field(default_factory=dict)
    format: str = FORMAT
    # Columns profiled as the training target (prediction drift compares the served
    # predictions with them); not features, so a check without a feature list skips them.
    targets: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [c for c in (*self.numeric, *self.categorical) if c not in self.targets]

    def to_json(self) -> bytes:
        doc = {
            "format": self.format,
            "formatVersion": FORMAT_VERSION if self.format == FORMAT else 1,
            "rows": self.rows,
            "numeric": {name: _numeric_doc(p) for name, p in self.numeric.items()},
            "categorical": {
                name: {
                    "count": p.count,
                    "missing": p.missing,
                    "categories": p.categories,
                    "other": p.other,
                }
                for name, p in self.categorical.items()
            },
        }
        if self.targets:  # older readers ignore it; profiles without it read as no targets
            doc["targets"] = list(self.targets)
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ReferenceProfile:
        doc = json.loads(data)
        if doc.get("format") != FORMAT and doc.get("format") not in LEGACY_FORMATS:
            raise ValueError(f"unsupported drift profile format {doc.get('format')!r}")
        numeric = {name: _numeric_from_doc(d) for name, d in doc["numeric"].items()}
        legacy = sorted(name for name, p in numeric.items() if p.grid_counts is not None)
        if legacy and _first_sight(legacy, data):
            log.warning(
                "drift profile of format %s keeps %s on a fixed-width grid: checked as before, "
                "but its KS/PSI error is not bounded on heavy-tailed data (docs/drift.md); "
                "profile the Dataset again for a %s profile",
                doc.get("format"), ", ".join(legacy), FORMAT,
            )  # fmt: skip
        return cls(
            rows=int(doc["rows"]),
            numeric=numeric,
            categorical={
                name: CategoricalProfile(
                    count=int(d["count"]),
                    missing=int(d["missing"]),
                    categories={str(k): int(v) for k, v in d["categories"].items()},
                    other=int(d["other"]),
                )
                for name, d in doc["categorical"].items()
            },
            format=str(doc["format"]),
            targets=[str(t) for t in doc.get("targets") or []],
        )


# Digests of the legacy profiles already warned about: a DriftMonitor reads its profile on
# every check, and one line per profile (per process) says all there is to say.
_WARNED: set[str] = set()
_WARNED_MAX = 4096


def _first_sight(legacy: list[str], data: bytes) -> bool:
    digest = hashlib.sha256(data).hexdigest()
    if digest in _WARNED:
        return False
    if len(_WARNED) >= _WARNED_MAX:
        _WARNED.clear()
    _WARNED.add(digest)
    return True


def build_reference_profile(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    *,
    sample_size: int = 10000,
    bins: int = 20,
    seed: int = 0,
    grid: int = DEFAULT_GRID,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    targets: Sequence[str] = (),
) -> ReferenceProfile:
    """Profile ``frame`` for later drift checks.

    The profile is deterministic: ``seed`` is accepted for API stability but
    no step samples at random (exact values are kept in full, columns with more
    than ``sample_size`` distinct values are summarised in rank space). ``grid`` is
    accepted for API stability and no longer used.
    """
    del seed
    targets = [t for t in targets if t not in numeric and t not in categorical]
    missing = [c for c in [*numeric, *categorical, *targets] if c not in frame.columns]
    if missing:
        raise ValueError(f"columns not in the data: {', '.join(missing)}")
    if sample_size < 1 or bins < 1 or grid < 2 or max_categories < 1:
        raise ValueError("sample_size, bins, grid and max_categories must be positive")
    # A target of numbers (a regressor's, or integer classes) is profiled as numeric values;
    # class names as categories.
    numeric_targets = [t for t in targets if pd.api.types.is_numeric_dtype(frame[t])]
    categorical_targets = [t for t in targets if t not in numeric_targets]
    return ReferenceProfile(
        rows=len(frame),
        numeric={
            name: _profile_numeric(frame[name], sample_size, bins)
            for name in [*numeric, *numeric_targets]
        },
        categorical={
            name: _profile_categorical(frame[name], max_categories)
            for name in [*categorical, *categorical_targets]
        },
        targets=list(targets),
    )


def _profile_numeric(series: pd.Series, sample_size: int, bins: int) -> NumericProfile:
    x = finite_values(series)
    missing = len(series) - len(x)
    if len(x) == 0:
        return NumericProfile(
            count=0,
            missing=missing,
            mean=math.nan,
            std=math.nan,
            min=math.nan,
            max=math.nan,
            psi_edges=np.empty(0),
            psi_counts=np.zeros(1, dtype=np.int64),
            values=np.empty(0),
            counts=np.empty(0, dtype=np.int64),
        )
    xs = np.sort(x)
    stats: dict[str, Any] = {
        "count": len(x),
        "missing": missing,
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(xs[0]),
        "max": float(xs[-1]),
    }
    # PSI bins: the reference quantiles i/bins, counted exactly (either form)
    edges = np.unique(np.quantile(xs, np.arange(1, bins) / bins))
    below = np.searchsorted(xs, edges, side="left")  # bins are [e_i, e_i+1)
    psi_counts = np.diff(np.concatenate([[0], below, [len(xs)]])).astype(np.int64)
    starts = np.flatnonzero(np.concatenate([[True], xs[1:] != xs[:-1]]))
    if len(starts) <= sample_size:
        counts = np.diff(np.append(starts, len(xs))).astype(np.int64)
        return NumericProfile(
            **stats, psi_edges=edges, psi_counts=psi_counts, values=xs[starts], counts=counts
        )
    return NumericProfile(
        **stats, psi_edges=edges, psi_counts=psi_counts, ranks=rank_summary.from_sorted(xs)
    )


def _profile_categorical(series: pd.Series, max_categories: int) -> CategoricalProfile:
    counts = category_counts(series)
    kept = dict(list(counts.items())[:max_categories])
    present = int(sum(counts.values()))
    return CategoricalProfile(
        count=present,
        missing=len(series) - present,
        categories=kept,
        other=present - int(sum(kept.values())),
    )


def category_counts(series: pd.Series) -> dict[str, int]:
    """Counts per category as text, most frequent first (ties by name); missing dropped."""
    keys, values = _value_counts(series)
    merged: dict[str, int] = {}
    for key, value in zip(keys, values, strict=True):
        if int(value) == 0:  # unused levels of a pandas Categorical
            continue
        text = str(key)
        merged[text] = merged.get(text, 0) + int(value)
    return dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])))


def _value_counts(series: pd.Series) -> tuple[list[Any], np.ndarray]:
    """Distinct non-missing values and their counts, in no particular order.

    Arrow-backed columns (strings read from Parquet) are counted by Arrow's hash kernel on
    the column's own chunks, which skips building a pandas index of the result.
    """
    chunks = getattr(series.array, "_pa_array", None)
    if chunks is not None and _is_text(chunks.type):
        import pyarrow.compute as pc

        counted = pc.value_counts(chunks)
        keys = counted.field("values").to_pylist()
        counts = counted.field("counts").to_numpy(zero_copy_only=False)
        present = [i for i, key in enumerate(keys) if key is not None]
        return [keys[i] for i in present], counts[present]
    counts = series.value_counts(dropna=True, sort=False)
    return list(counts.index), counts.to_numpy()


def _is_text(arrow_type: Any) -> bool:
    # Only text: other types' keys would print differently as Python objects than as
    # pandas scalars (timestamps, for one), and categories are matched by their text.
    import pyarrow as pa

    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def _numeric_doc(p: NumericProfile) -> dict[str, Any]:
    def num(v: float) -> float | None:
        return None if math.isnan(v) else v

    doc: dict[str, Any] = {
        "count": p.count,
        "missing": p.missing,
        "mean": num(p.mean),
        "std": num(p.std),
        "min": num(p.min),
        "max": num(p.max),
        "psiEdges": _floats(p.psi_edges),
        "psiCounts": p.psi_counts.tolist(),
    }
    if p.exact:
        assert p.values is not None and p.counts is not None
        doc["exact"] = {"values": _floats(p.values), "counts": p.counts.tolist()}
    elif p.ranks is not None:
        doc["ranks"] = rank_summary.to_doc(p.ranks)
    else:
        assert p.grid_counts is not None
        doc["grid"] = {"lo": p.grid_lo, "width": p.grid_width, "counts": p.grid_counts.tolist()}
    return doc


def _numeric_from_doc(d: dict[str, Any]) -> NumericProfile:
    def num(v: float | None) -> float:
        return math.nan if v is None else float(v)

    common: dict[str, Any] = {
        "count": int(d["count"]),
        "missing": int(d["missing"]),
        "mean": num(d["mean"]),
        "std": num(d["std"]),
        "min": num(d["min"]),
        "max": num(d["max"]),
        "psi_edges": np.asarray(d["psiEdges"], dtype=np.float64),
        "psi_counts": np.asarray(d["psiCounts"], dtype=np.int64),
    }
    if "exact" in d:
        return NumericProfile(
            **common,
            values=np.asarray(d["exact"]["values"], dtype=np.float64),
            counts=np.asarray(d["exact"]["counts"], dtype=np.int64),
        )
    if "ranks" in d:
        return NumericProfile(**common, ranks=rank_summary.from_doc(d["ranks"]))
    g = d["grid"]
    return NumericProfile(
        **common,
        grid_lo=float(g["lo"]),
        grid_width=float(g["width"]),
        grid_counts=np.asarray(g["counts"], dtype=np.int64),
    )
