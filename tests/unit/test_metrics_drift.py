"""Drift series: set per check, replaced when the feature set changes, removed on delete."""

from __future__ import annotations

from prometheus_client import REGISTRY

from mlops_operator import metrics
from mlops_operator.metrics import FeatureSeries


def series(name: str, monitor: str) -> dict[tuple[str, ...], float]:
    """Samples of a metric family for one monitor: label values (after ns, monitor) -> value."""
    found = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get("monitor") == monitor:
                rest = tuple(
                    v for k, v in sample.labels.items() if k not in ("namespace", "monitor")
                )
                found[rest] = sample.value
    return found


def test_series_follow_the_last_check_and_vanish_on_delete() -> None:
    ns, mon = "ml", "unit-watch"
    metrics.initialise_monitor(ns, mon)
    assert series("mlops_drift_checks_total", mon) == {
        ("drift",): 0,
        ("no_drift",): 0,
        ("insufficient",): 0,
        ("error",): 0,
    }
    metrics.record_drift(
        ns, mon,
        [FeatureSeries("a", "ks", 0.4, 0.001, True), FeatureSeries("c", "jensenshannon", 0.05, None, False)],
        0.5,
    )  # fmt: skip
    assert series("mlops_drift_statistic", mon) == {("a", "ks"): 0.4, ("c", "jensenshannon"): 0.05}
    assert series("mlops_drift_p_value", mon) == {("a", "ks"): 0.001}
    assert series("mlops_feature_drifted", mon) == {("a", "ks"): 1.0, ("c", "jensenshannon"): 0.0}
    assert series("mlops_dataset_drift_share", mon) == {(): 0.5}

    # a new feature set (and test) replaces the old series instead of adding to them
    metrics.record_drift(ns, mon, [FeatureSeries("b", "wasserstein", 0.2, None, True)], 1.0)
    assert series("mlops_drift_statistic", mon) == {("b", "wasserstein"): 0.2}
    assert series("mlops_drift_p_value", mon) == {}
    assert series("mlops_feature_drifted", mon) == {("b", "wasserstein"): 1.0}

    # no verdict (too few samples): no gauges, so no alert on old values
    metrics.DRIFT_CHECKS.labels(ns, mon, "insufficient").inc()
    metrics.clear_drift(ns, mon)
    assert (
        series("mlops_drift_statistic", mon) == {}
        and series("mlops_dataset_drift_share", mon) == {}
    )
    assert series("mlops_drift_checks_total", mon)[("insufficient",)] == 1

    metrics.record_drift(ns, mon, [FeatureSeries("a", "ks", 0.4, 0.001, True)], 1.0)
    metrics.RETRAINS_TRIGGERED.labels(ns, mon).inc()
    metrics.forget_monitor(ns, mon)
    for name in ("mlops_drift_statistic", "mlops_drift_p_value", "mlops_feature_drifted",
                 "mlops_dataset_drift_share", "mlops_drift_checks_total",
                 "mlops_retrains_triggered_total", "mlops_retrain_failures_total"):  # fmt: skip
        assert series(name, mon) == {}, name
    assert not metrics.has_drift_series(ns, mon)


def test_monitors_do_not_touch_each_other() -> None:
    metrics.record_drift("ml", "one", [FeatureSeries("a", "ks", 0.1, 0.5, False)], 0.0)
    metrics.record_drift("ml", "two", [FeatureSeries("a", "ks", 0.3, 0.01, True)], 1.0)
    metrics.forget_monitor("ml", "one")
    assert series("mlops_drift_statistic", "one") == {}
    assert series("mlops_drift_statistic", "two") == {("a", "ks"): 0.3}
    metrics.forget_monitor("ml", "two")
