"""Reference profile: contents, JSON round trip, size bound."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

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


def test_large_reference_goes_to_a_grid_with_quantile_psi_bins() -> None:
    df = frame(60_000)
    profile = build_reference_profile(df, ["x", "k"], [], sample_size=10_000, grid=4096)
    x = profile.numeric["x"]
    assert not x.exact and x.grid_counts is not None
    assert len(x.grid_counts) == 4096 and x.grid_counts.sum() == x.count
    # PSI bins are grid cells grouped at the reference quantiles: ~5 % each
    shares = x.psi_counts / x.count
    assert len(shares) == 20 and np.all(np.abs(shares - 0.05) < 0.005)
    assert profile.numeric["k"].exact  # 4 distinct integers stay exact at any size


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
    # documented bound: < 8 bytes per grid cell + 32 bytes per kept category + 4 kB
    assert size < 16384 * 8 + 1000 * 32 + 4096
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
