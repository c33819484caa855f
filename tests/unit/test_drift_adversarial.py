"""Gaps in the statistic tests: infinities, missing categories, empty windows, categorical
shifts as properties, and the family-wise false-alarm rate under a correction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from mlops_operator.drift import build_reference_profile, check_drift, compare_datasets

LEVELS = np.array([f"l{i}" for i in range(6)])


def test_infinities_and_nan_are_dropped_on_both_sides() -> None:
    rng = np.random.default_rng(21)
    ref = rng.normal(size=800)
    cur = rng.normal(0.2, 1, size=500)
    dirty_ref, dirty_cur = ref.copy(), cur.copy()
    dirty_ref[::50], dirty_cur[::40], dirty_cur[1::40] = np.inf, -np.inf, np.nan
    profile = build_reference_profile(pd.DataFrame({"a": dirty_ref}), ["a"], [])
    report = check_drift(profile, pd.DataFrame({"a": dirty_cur}))
    # n·m of the finite values (784·476) is above the exact limit: scipy's asymptotic form
    expected = sps.ks_2samp(
        ref[np.isfinite(dirty_ref)], cur[np.isfinite(dirty_cur)], method="asymp"
    )
    assert report.features[0].statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert report.features[0].p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert report.samples == 500  # rows in the window, missing values included
    w = check_drift(profile, pd.DataFrame({"a": dirty_cur}), numeric_test="wasserstein")
    finite_ref = ref[np.isfinite(dirty_ref)]
    scale = finite_ref.std(ddof=0)
    exact_w = sps.wasserstein_distance(finite_ref, cur[np.isfinite(dirty_cur)]) / scale
    assert w.features[0].statistic == pytest.approx(exact_w, abs=1e-9)


def test_missing_categories_are_dropped_before_chi_square() -> None:
    rng = np.random.default_rng(22)
    ref = pd.Series(rng.choice(LEVELS, size=600), dtype=object)
    cur = pd.Series(rng.choice(LEVELS[:4], size=400), dtype=object)
    cur_dirty = cur.copy()
    cur_dirty[::7] = None
    cur_dirty[3::7] = np.nan
    profile = build_reference_profile(pd.DataFrame({"c": ref}), [], ["c"])
    report = check_drift(profile, pd.DataFrame({"c": cur_dirty}))
    kept = cur_dirty.dropna()
    table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(kept))], np.r_[ref, kept]).to_numpy()
    expected = sps.chi2_contingency(table, correction=False)
    assert report.features[0].statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert report.features[0].p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_an_empty_window_is_no_evidence() -> None:
    rng = np.random.default_rng(23)
    ref = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(LEVELS, size=300)})
    profile = build_reference_profile(ref, ["a"], ["c"])
    empty = ref.iloc[:0]
    for numeric, categorical in (
        ("ks", "chisquare"),
        ("wasserstein", "jensenshannon"),
        ("psi", "psi"),
    ):
        report = check_drift(profile, empty, numeric_test=numeric, categorical_test=categorical)
        assert report.samples == 0 and not report.dataset_drifted
        assert all(not f.drifted for f in report.features)


def test_a_constant_window_against_a_spread_reference_drifts() -> None:
    rng = np.random.default_rng(24)
    profile = build_reference_profile(pd.DataFrame({"a": rng.normal(size=2000)}), ["a"], [])
    window = pd.DataFrame({"a": np.full(300, 0.0)})
    for test in ("ks", "wasserstein", "psi"):
        assert check_drift(profile, window, numeric_test=test).features[0].drifted, test


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    test=st.sampled_from(["chisquare", "jensenshannon", "psi"]),
    n=st.integers(800, 4000),
)
def test_a_shifted_category_mix_drifts(seed: int, test: str, n: int) -> None:
    rng = np.random.default_rng(seed)
    before = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05])
    after = before[::-1]
    ref = pd.DataFrame({"c": rng.choice(LEVELS, size=n, p=before)})
    cur = pd.DataFrame({"c": rng.choice(LEVELS, size=n, p=after)})
    report = compare_datasets(ref, cur, numeric=[], categorical=["c"], categorical_test=test)
    assert report.features[0].drifted and report.dataset_drifted


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_same_category_mix_never_drifts_by_distance(seed: int) -> None:
    """Two large samples of one distribution stay under the distance and PSI thresholds."""
    rng = np.random.default_rng(seed)
    p = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05])
    ref = pd.DataFrame({"c": rng.choice(LEVELS, size=5000, p=p), "a": rng.normal(size=5000)})
    cur = pd.DataFrame({"c": rng.choice(LEVELS, size=5000, p=p), "a": rng.normal(size=5000)})
    for numeric, categorical in (("wasserstein", "jensenshannon"), ("psi", "psi")):
        report = compare_datasets(
            ref, cur, numeric=["a"], categorical=["c"],
            numeric_test=numeric, categorical_test=categorical,
        )  # fmt: skip
        assert not any(f.drifted for f in report.features), (numeric, categorical)


@pytest.mark.parametrize("correction", ["bonferroni", "fdr"])
def test_corrections_hold_the_family_wise_false_alarm_rate(correction: str) -> None:
    """10 null features per check: without correction about 40 % of checks flag some
    feature; with Bonferroni or FDR (all nulls true) at most about alpha = 5 %."""
    rng = np.random.default_rng(2025)
    names = [f"x{i}" for i in range(10)]
    runs, flagged_plain, flagged_corrected = 200, 0, 0
    for _ in range(runs):
        ref = pd.DataFrame(rng.normal(size=(300, 10)), columns=names)
        cur = pd.DataFrame(rng.normal(size=(200, 10)), columns=names)
        profile = build_reference_profile(ref, names, [])
        flagged_plain += any(f.drifted for f in check_drift(profile, cur).features)
        corrected = check_drift(profile, cur, correction=correction)
        flagged_corrected += any(f.drifted for f in corrected.features)
    assert flagged_plain / runs > 0.25
    assert flagged_corrected / runs <= 0.09
