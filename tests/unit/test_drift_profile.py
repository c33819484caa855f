"""Reference profile: contents, JSON round trip, size bound, profiles of the older format."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlops_operator.drift import check_drift, ranks
from mlops_operator.drift import profile as profile_module
from mlops_operator.drift.profile import FORMAT, ReferenceProfile, build_reference_profile


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 2, size=n)
    x[::50] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 4, size=n),  # few distinct values: kept exactly
            "c": rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]),
        }
    )


def test_small_reference_is_kept_exactly() -> None:
    df = frame(1000)
    profile = build_reference_profile(df, ["x", "k"], ["c"])
    x = profile.numeric["x"]
    assert x.exact and x.count == 980 and x.missing == 20
    assert x.counts is not None and x.counts.sum() == 980
    assert x.mean == pytest.approx(df["x"].mean())
    assert x.std == pytest.approx(df["x"].std(ddof=0))
    assert x.psi_counts.sum() == 980 and len(x.psi_counts) == 20
    c = profile.categorical["c"]
    assert c.categories == df["c"].value_counts().to_dict() and c.other == 0


def test_large_reference_goes_to_rank_cuts_with_quantile_psi_bins() -> None:
    df = frame(60_000)
    profile = build_reference_profile(df, ["x", "k"], [], sample_size=10_000)
    x = profile.numeric["x"]
    s = x.ranks
    assert not x.exact and s is not None and s.exact and s.n == x.count
    xs = np.sort(df["x"].dropna().to_numpy())
    # exact counts at every cut, min and max kept, gaps under 1/2048 of the rows
    assert np.array_equal(s.le_lo, np.searchsorted(xs, s.values, side="right"))
    assert np.array_equal(s.lt_lo, np.searchsorted(xs, s.values, side="left"))
    assert (s.values[0], s.values[-1]) == (x.min, x.max)
    assert s.uncertainty() < x.count / ranks.CELLS
    # PSI bins at the exact reference quantiles: 5 % each
    assert np.array_equal(x.psi_edges, np.quantile(xs, np.arange(1, 20) / 20))
    assert len(x.psi_counts) == 20 and np.all(np.abs(x.psi_counts / x.count - 0.05) < 1e-3)
    assert profile.numeric["k"].exact  # 4 distinct integers stay exact at any size


def test_point_masses_are_cuts_with_their_exact_counts() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=30_000), np.full(5_000, 0.25), np.full(40, 7.0)])
    profile = build_reference_profile(pd.DataFrame({"x": x}), ["x"], [], sample_size=100)
    s = profile.numeric["x"].ranks
    assert s is not None
    at = s.le_lo - s.lt_lo
    assert at[s.values == 0.25] == 5_000 and at[s.values == 7.0] == 40


def test_round_trip_preserves_everything() -> None:
    for n in (1, 500, 50_000):
        profile = build_reference_profile(frame(n, seed=n), ["x", "k"], ["c"])
        data = profile.to_json()
        again = ReferenceProfile.from_json(data)
        assert again.to_json() == data
        assert json.loads(data)["format"] == FORMAT
        for name, p in profile.numeric.items():
            q = again.numeric[name]
            assert (p.count, p.missing, p.min, p.max, p.std) == (
                q.count,
                q.missing,
                q.min,
                q.max,
                q.std,
            )
            assert np.array_equal(p.psi_edges, q.psi_edges)


def test_size_is_bounded() -> None:
    rng = np.random.default_rng(1)
    big = pd.DataFrame(
        {
            "x": rng.normal(size=200_000),
            "c": [f"user-{i}" for i in rng.integers(0, 50_000, size=200_000)],
        }
    )
    profile = build_reference_profile(big, ["x"], ["c"], max_categories=1000)
    size = len(profile.to_json())
    # documented bound: < 40 bytes per cut (<= 2048 + 1 + 2 * 256 cuts)
    # + 32 bytes per kept category + 4 kB
    assert size < (2048 + 1 + 512) * 40 + 1000 * 32 + 4096
    c = profile.categorical["c"]
    assert len(c.categories) == 1000 and c.other == 200_000 - sum(c.categories.values())


def test_edge_cases() -> None:
    df = pd.DataFrame({"x": [np.nan, np.inf, None], "c": [None, None, None]}, dtype=object)
    profile = build_reference_profile(df, ["x"], ["c"])
    assert profile.numeric["x"].count == 0 and profile.numeric["x"].missing == 3
    assert profile.categorical["c"].count == 0 and profile.categorical["c"].missing == 3
    assert ReferenceProfile.from_json(profile.to_json()).numeric["x"].count == 0
    const = build_reference_profile(pd.DataFrame({"x": [2.5] * 50_000}), ["x"], [])
    assert const.numeric["x"].exact and const.numeric["x"].std == 0.0
    with pytest.raises(ValueError, match="nope"):
        build_reference_profile(df, ["nope"], [])
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_json(b'{"format": "something/v9"}')


def test_targets_are_profiled_but_not_features_and_survive_json() -> None:
    frame = pd.DataFrame(
        {"x": np.arange(100, dtype=float), "label": ["a", "b"] * 50, "y": np.arange(100) * 0.5}
    )
    profile = build_reference_profile(frame, ["x"], [], targets=["label", "y"])
    assert profile.features == ["x"]  # a check without a feature list skips the targets
    assert profile.categorical["label"].categories == {"a": 50, "b": 50}
    assert profile.numeric["y"].count == 100
    again = ReferenceProfile.from_json(profile.to_json())
    assert again.targets == ["label", "y"] and again.features == ["x"]
    # a profile written before targets existed reads as one without targets
    older = json.loads(build_reference_profile(frame, ["x"], []).to_json())
    assert "targets" not in older
    assert ReferenceProfile.from_json(json.dumps(older).encode()).targets == []


def test_a_v1_profile_with_a_grid_still_works_and_says_it_is_unbounded(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile stored before format v2: the same checks as before, and a log line naming
    the features whose error is not bounded and what to do about it."""
    rng = np.random.default_rng(7)
    ref = rng.normal(size=50_000)
    lo, cells = float(ref.min()), 4096
    width = (float(ref.max()) - lo) / (cells - 0.5)
    counts = np.bincount(np.floor((ref - lo) / width).astype(int), minlength=cells)[:cells]
    small = build_reference_profile(pd.DataFrame({"k": rng.integers(0, 3, 50)}), ["k"], [])
    doc = json.loads(small.to_json())
    doc["format"] = "mlops.dev/drift-profile/v1"
    del doc["formatVersion"]
    doc["numeric"]["x"] = {
        "count": 50_000, "missing": 0, "mean": float(ref.mean()), "std": float(ref.std()),
        "min": lo, "max": float(ref.max()), "psiEdges": [0.0], "psiCounts": [25_000, 25_000],
        "grid": {"lo": lo, "width": width, "counts": counts.tolist()},
    }  # fmt: skip
    monkeypatch.setattr(profile_module, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger="mlops_operator.drift.profile"):
        old = ReferenceProfile.from_json(json.dumps(doc).encode())
    assert "format mlops.dev/drift-profile/v1 keeps x on a fixed-width grid" in caplog.text
    assert "profile the Dataset again" in caplog.text
    assert old.numeric["k"].exact and old.numeric["x"].grid_counts is not None
    # a DriftMonitor reads its profile on every check: the line is said once per profile
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mlops_operator.drift.profile"):
        ReferenceProfile.from_json(json.dumps(doc).encode())
    assert "fixed-width grid" not in caplog.text
    doc["numeric"]["x"]["count"] = 49_999  # another profile
    with caplog.at_level(logging.WARNING, logger="mlops_operator.drift.profile"):
        ReferenceProfile.from_json(json.dumps(doc).encode())
    assert "fixed-width grid" in caplog.text
    doc["numeric"]["x"]["count"] = 50_000
    cur = pd.DataFrame({"x": rng.normal(0.05, 1, 20_000), "k": rng.integers(0, 3, 20_000)})
    report = check_drift(old, cur)
    x = next(f for f in report.features if f.name == "x")
    exact = sps.ks_2samp(ref, cur["x"]).statistic
    assert x.statistic <= exact + 1e-12 and exact <= x.statistic + x.error + 1e-12
    assert ReferenceProfile.from_json(old.to_json()).format == "mlops.dev/drift-profile/v1"
    # a profile written now says its format and version
    assert json.loads(small.to_json())["formatVersion"] == 2
