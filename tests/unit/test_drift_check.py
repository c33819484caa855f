"""check_drift end to end: against scipy on frames, decisions, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from mlops_operator.drift import (
    ReferenceProfile,
    build_reference_profile,
    check_drift,
    compare_datasets,
)

LEVELS = np.array([f"l{i}" for i in range(10)])


def make(n: int, seed: int, *, shift: float = 0.0, cat_shift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    probs = np.linspace(1, 2, 10)
    if cat_shift:
        probs = probs[::-1] ** 2
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1, size=n),
            "b": rng.exponential(1 + shift, size=n),
            "c": rng.choice(LEVELS, size=n, p=probs / probs.sum()),
        }
    )


def by_name(report, name):  # type: ignore[no-untyped-def]
    return next(f for f in report.features if f.name == name)


def test_exact_profile_matches_scipy_on_the_raw_frames() -> None:
    ref, cur = make(3000, 1), make(2000, 2, shift=0.1, cat_shift=True)
    profile = build_reference_profile(ref, ["a", "b"], ["c"])
    ks = check_drift(profile, cur, numeric_test="ks", categorical_test="chisquare")
    expected = sps.ks_2samp(ref["a"], cur["a"], method="asymp")
    assert by_name(ks, "a").statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert by_name(ks, "a").p_value == pytest.approx(expected.pvalue, abs=1e-9)
    table = pd.crosstab(
        np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref["c"], cur["c"]]
    ).to_numpy()
    chi = sps.chi2_contingency(table, correction=False)
    assert by_name(ks, "c").statistic == pytest.approx(chi.statistic, rel=1e-9)
    assert by_name(ks, "c").p_value == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)

    dist = check_drift(profile, cur, numeric_test="wasserstein", categorical_test="jensenshannon")
    w = sps.wasserstein_distance(ref["b"], cur["b"]) / ref["b"].std(ddof=0)
    assert by_name(dist, "b").statistic == pytest.approx(w, abs=1e-9)
    assert by_name(dist, "b").p_value is None
    ref_share = ref["c"].value_counts().reindex(LEVELS, fill_value=0)
    cur_share = cur["c"].value_counts().reindex(LEVELS, fill_value=0)
    js = jensenshannon(ref_share / len(ref), cur_share / len(cur))
    assert by_name(dist, "c").statistic == pytest.approx(js, abs=1e-9)


def test_rank_profile_is_close_to_scipy() -> None:
    ref, cur = make(200_000, 3), make(100_000, 4, shift=0.05)
    profile = build_reference_profile(ref, ["a", "b"], ["c"])
    assert not profile.numeric["a"].exact and profile.numeric["a"].ranks is not None
    ks = check_drift(profile, cur, numeric_test="ks")
    w = check_drift(profile, cur, numeric_test="wasserstein")
    for col in ("a", "b"):
        exact_d = sps.ks_2samp(ref[col], cur[col]).statistic
        d, error = by_name(ks, col).statistic, by_name(ks, col).error
        assert d <= exact_d + 1e-12 and exact_d <= d + error + 1e-12 and error < 1 / 2048
        assert abs(d - exact_d) < 2e-4  # measured on these smooth columns
        exact_w = sps.wasserstein_distance(ref[col], cur[col]) / ref[col].std(ddof=0)
        assert abs(by_name(w, col).statistic - exact_w) <= by_name(w, col).error
        assert by_name(w, col).statistic == pytest.approx(exact_w, abs=1e-5)


def test_psi_is_zero_for_the_reference_itself_and_grows_with_shift() -> None:
    for n in (2000, 50_000):
        ref = make(n, 5)
        profile = build_reference_profile(ref, ["a", "b"], ["c"])
        same = check_drift(profile, ref, numeric_test="psi", categorical_test="psi")
        assert all(f.statistic == pytest.approx(0.0, abs=1e-12) for f in same.features)
        moved = check_drift(
            profile,
            make(n, 6, shift=1.0, cat_shift=True),
            numeric_test="psi",
            categorical_test="psi",
        )
        assert all(f.drifted and f.statistic >= 0.2 for f in moved.features)


def test_decisions_thresholds_and_share() -> None:
    ref = make(5000, 7)
    profile = build_reference_profile(ref, ["a", "b"], ["c"])
    cur = make(5000, 8, shift=0.5)  # a and b drift, c does not
    report = check_drift(profile, cur)
    assert [f.drifted for f in report.features] == [True, True, False]
    assert report.samples == 5000
    assert report.drift_share == pytest.approx(2 / 3) and report.dataset_drifted
    strict = check_drift(profile, cur, drift_share=0.7)
    assert not strict.dataset_drifted
    only_c = check_drift(profile, cur, features=["c"])
    assert only_c.drift_share == 0.0 and not only_c.dataset_drifted


def test_corrections_change_decisions_not_statistics() -> None:
    ref = make(400, 9)
    profile = build_reference_profile(ref, ["a", "b"], ["c"])
    cur = make(400, 10, shift=0.15)
    plain = check_drift(profile, cur, correction="none")
    bonf = check_drift(profile, cur, correction="bonferroni")
    for p, q in zip(plain.features, bonf.features, strict=True):
        assert p.statistic == q.statistic
        assert q.p_value == pytest.approx(min(1.0, 3 * p.p_value))
    fdr = check_drift(profile, cur, correction="fdr")
    expected = sps.false_discovery_control([f.p_value for f in plain.features])
    assert [f.p_value for f in fdr.features] == pytest.approx(expected)


def test_missing_feature_is_named() -> None:
    profile = build_reference_profile(make(100, 1), ["a", "b"], ["c"])
    with pytest.raises(ValueError, match=r"missing from the current window: b"):
        check_drift(profile, make(100, 2).drop(columns=["b"]))
    with pytest.raises(ValueError, match=r"not in the reference profile: zz"):
        check_drift(profile, make(100, 2), features=["zz"])
    with pytest.raises(ValueError, match="numeric_test"):
        check_drift(profile, make(100, 2), numeric_test="t-test")


def test_adversarial_windows() -> None:
    ref = make(1000, 11)
    ref["const"] = 1.0
    profile = build_reference_profile(ref, ["a", "const"], ["c"])
    # NaN dropped and not counted as samples of the distribution
    cur = make(1000, 11)
    cur["const"] = 1.0
    cur.loc[::2, "a"] = np.nan
    report = check_drift(profile, cur)
    assert not by_name(report, "a").drifted and not by_name(report, "const").drifted
    # a constant column that moves
    cur["const"] = 1.01
    moved = check_drift(profile, cur, numeric_test="wasserstein")
    assert by_name(moved, "const").drifted
    assert by_name(moved, "const").statistic == pytest.approx(0.01 / 1e-3)
    # all-new categories and a single category
    cur["c"] = "never-seen"
    for test in ("chisquare", "jensenshannon", "psi"):
        assert by_name(check_drift(profile, cur, categorical_test=test), "c").drifted
    single = build_reference_profile(pd.DataFrame({"c": ["x"] * 30}), [], ["c"])
    assert not check_drift(single, pd.DataFrame({"c": ["x"] * 3})).dataset_drifted
    # an all-NaN window gives no evidence rather than an error
    empty = pd.DataFrame({"a": [np.nan] * 5, "const": [np.nan] * 5, "c": [None] * 5})
    assert check_drift(profile, empty).drift_share == 0.0
    # tiny windows
    for n in range(1, 6):
        tiny = make(n, 12)
        tiny["const"] = 1.0
        result = check_drift(profile, tiny)
        assert all(0 <= (f.p_value or 0) <= 1 for f in result.features)


def test_capped_categories_pool_unknown_values_into_other() -> None:
    rng = np.random.default_rng(13)
    ref = pd.DataFrame({"c": [f"v{i}" for i in rng.zipf(1.5, size=20_000) % 500]})
    profile = build_reference_profile(ref, [], ["c"], max_categories=20)
    assert profile.categorical["c"].other > 0
    report = check_drift(profile, ref, categorical_test="jensenshannon")
    assert report.features[0].statistic == pytest.approx(0.0, abs=1e-12)
    new = pd.DataFrame({"c": ["brand-new"] * 500})
    assert check_drift(profile, new).features[0].drifted


def test_huge_window_against_a_small_reference() -> None:
    ref = make(500, 14)
    profile = build_reference_profile(ref, ["a"], ["c"])
    cur = make(400_000, 15)
    report = check_drift(profile, cur)
    expected = sps.ks_2samp(ref["a"], cur["a"], method="asymp")
    assert by_name(report, "a").statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert not report.dataset_drifted


def test_compare_datasets_and_profile_round_trip_give_the_same_report() -> None:
    ref, cur = make(20_000, 16), make(20_000, 17, shift=0.2)
    direct = compare_datasets(ref, cur, numeric=["a", "b"], categorical=["c"])
    profile = build_reference_profile(ref, ["a", "b"], ["c"])
    again = check_drift(ReferenceProfile.from_json(profile.to_json()), cur)
    assert direct == again


def test_false_positive_rate_matches_alpha() -> None:
    """Identical distributions: about 5 % of features flagged at p < 0.05."""
    rng = np.random.default_rng(2024)
    flagged = total = 0
    for _ in range(300):
        ref = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(LEVELS, size=300)})
        cur = pd.DataFrame({"a": rng.normal(size=200), "c": rng.choice(LEVELS, size=200)})
        report = compare_datasets(ref, cur, numeric=["a"], categorical=["c"])
        flagged += sum(f.drifted for f in report.features)
        total += len(report.features)
    assert 0.025 <= flagged / total <= 0.08


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(200, 3000))
def test_same_data_never_drifts(seed: int, n: int) -> None:
    ref = make(n, seed)
    report = compare_datasets(
        ref, ref.sample(frac=1, random_state=seed % 1000), numeric=["a", "b"], categorical=["c"]
    )
    assert not report.dataset_drifted
    assert all(f.statistic == pytest.approx(0.0, abs=1e-12) for f in report.features)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shift=st.floats(0.5, 3.0),
    test=st.sampled_from(["ks", "wasserstein", "psi"]),
)
def test_shifted_mean_drifts(seed: int, shift: float, test: str) -> None:
    ref = make(2000, seed)
    cur = make(2000, seed + 1, shift=shift)
    report = compare_datasets(ref, cur, numeric=["a"], categorical=[], numeric_test=test)
    assert report.features[0].drifted and report.dataset_drifted
