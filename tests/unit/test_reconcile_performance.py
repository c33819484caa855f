"""DriftMonitor performance decisions, as tables: the plan of the check, thresholds, the
verdict (status, PerformanceDegraded, Events), what starts a retrain, and the Dataset of
labeled production rows a retrain learns from. Through the one `decide` the handler calls."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from tests.unit.test_reconcile_driftmonitor import (
    NOW,
    PLAN,
    ROOT,
    SOURCE_JOB,
    V1,
    deployment,
    monitor,
    report,
    tj,
)

from mlops_operator.api.driftmonitor import Performance
from mlops_operator.drift.plan import CheckOutcome
from mlops_operator.performance.plan import (
    PerformanceOutcome,
    PerformancePlan,
    WrittenWindow,
)
from mlops_operator.reconcile import driftmonitor as dm
from mlops_operator.reconcile.conditions import rfc3339
from mlops_operator.reconcile.monitoring.performance import broken_threshold, metric_of
from mlops_operator.reconcile.monitoring.retrain_data import triggers

WINDOW = f"{ROOT}/production/ml/watch/20250301T115500Z"
PERFORMANCE: dict[str, Any] = {"minLabeled": 100, "thresholds": {"maxDrop": 0.05}}
RETRAIN: dict[str, Any] = {"type": "retrain", "cooldownSeconds": 3600, "maxRetrains": 2}


def served_version(task: str = "classification", accuracy: float = 0.95) -> dict[str, Any]:
    return {
        "metadata": {"name": "iris-v1"},
        "spec": {
            "task": task,
            "metrics": {"accuracy": accuracy, "rmse": 0.5},
            "lineage": {
                "trainingJob": "iris-lr",
                "dataset": {"name": "iris", "version": V1},
                "target": "species",
            },
            "signature": {"inputs": [{"name": n, "datatype": "FP64"} for n in ("a", "b")]},
        },
    }


IRIS_DATASET: dict[str, Any] = {
    "metadata": {"name": "iris"},
    "spec": {
        "source": {"uri": "sklearn://iris"},
        "refreshIntervalSeconds": 600,
        "schema": {"columns": [{"name": "a", "type": "numeric"}]},
    },
}


def plan(**extra: Any) -> PerformancePlan:
    base: dict[str, Any] = {
        "namespace": "ml",
        "deployment": "iris",
        "version": "iris-v1",
        "samples_uri": "s",
        "labels_uri": "l",
        "task": "classification",
        "training_metrics": {"accuracy": 0.95},
    }
    return PerformancePlan(**{**base, **extra})


def outcome(realized: float | None = None, labeled: int = 300, **extra: Any) -> PerformanceOutcome:
    return PerformanceOutcome(
        predictions=400,
        labeled=labeled,
        realized={"accuracy": realized} if realized is not None else {},
        estimated={"accuracy": 0.9},
        **extra,
    )


def observed(
    perf: PerformanceOutcome | None,
    drift: bool = False,
    retrains: list[dict[str, Any]] | None = None,
    dataset: dict[str, Any] | None = IRIS_DATASET,
) -> dm.Observed:
    check = dm.Check(PLAN, CheckOutcome(500, 3, report(drift, drift)))
    return dm.Observed(
        deployment=deployment(),
        model_version=served_version(),
        source_job=SOURCE_JOB,
        retrains=retrains or [],
        retrain_dataset=dataset,
        check=check,
        performance=dm.PerformanceCheck(plan(), perf) if perf is not None else None,
    )


def body(
    status: dict[str, Any] | None = None, action: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return monitor(status, performance=PERFORMANCE, action=action or RETRAIN, **spec)


def degraded_was(state: str) -> dict[str, Any]:
    return {"conditions": [{"type": "PerformanceDegraded", "status": state, "reason": "x"}]}


# --- what is judged, and against what --------------------------------------------------------


def test_metric_defaults_by_task() -> None:
    assert metric_of(Performance(), "classification") == "accuracy"
    assert metric_of(Performance(), "regression") == "rmse"
    assert metric_of(Performance.model_validate({"metric": "f1"}), "classification") == "f1"


THRESHOLDS = [
    # thresholds, metric, value, training, broken (substring) or None
    ({"maxDrop": 0.05}, "accuracy", 0.93, 0.95, None),
    ({"maxDrop": 0.05}, "accuracy", 0.89, 0.95, "worse than in training"),
    ({"maxDrop": 0.05}, "accuracy", 0.5, None, None),  # no training metric: no relative check
    ({"min": 0.9, "maxDrop": None}, "accuracy", 0.89, 0.95, "below thresholds.min"),
    ({"max": 1.0, "maxDrop": None}, "rmse", 1.2, 0.5, "above thresholds.max"),
    ({"maxDrop": 0.1}, "rmse", 0.55, 0.5, None),  # lower is better: 0.05 worse
    ({"maxDrop": 0.1}, "rmse", 0.65, 0.5, "worse than in training"),
    ({"maxDrop": 0.1}, "rmse", 0.2, 0.5, None),  # better than training
]


@pytest.mark.parametrize(("limits", "metric", "value", "training", "broken"), THRESHOLDS)
def test_thresholds(
    limits: dict[str, Any], metric: str, value: float, training: float | None, broken: str | None
) -> None:
    performance = Performance.model_validate({"thresholds": limits})
    found = broken_threshold(performance, metric, value, training)
    assert (found is None) == (broken is None), found
    if broken:
        assert broken in str(found)


def test_the_plan_of_the_served_version() -> None:
    plans = dm.check_to_run(body(), observed(None), NOW, ROOT)
    assert plans is not None
    _, performance = plans
    assert performance is not None
    assert performance.version == "iris-v1" and performance.task == "classification"
    assert performance.samples_uri == f"{ROOT}/samples/ml/iris/iris-v1"
    assert performance.labels_uri == f"{ROOT}/labels/ml/iris"
    assert performance.training_metrics == {"accuracy": 0.95, "rmse": 0.5}
    assert performance.reference_uri == f"{ROOT}/datasets/ml/iris/{V1}/profile.json"
    assert performance.target == "species"  # from the version's lineage
    assert performance.min_labeled == 100
    # a retrain with production rows could follow: the window to write
    window = performance.write_window
    # ... its label column named as the retrain's TrainingJob names its target
    assert window is not None and window.target == "target" and window.features == ("a", "b")
    assert window.uri == f"{ROOT}/production/ml/watch/20250301T120000Z"


def test_no_window_to_write_when_no_retrain_could_follow() -> None:
    cooling = {"retrainsTriggered": 1, "lastRetrain": {"trainingJob": "watch-retrain-1",
                                                       "at": rfc3339(NOW - timedelta(minutes=5))}}  # fmt: skip
    retrains = [tj("watch-retrain-1", "Succeeded", NOW - timedelta(minutes=5))]
    for spec_body, seen in [
        (body(action={"type": "alert"}), observed(None)),
        (body(action={**RETRAIN, "productionData": "none"}), observed(None)),
        (body(cooling), observed(None, retrains=retrains)),
    ]:
        plans = dm.check_to_run(spec_body, seen, NOW, ROOT)
        assert plans is not None and plans[1] is not None
        assert plans[1].write_window is None


def test_no_performance_check_without_spec_performance() -> None:
    plans = dm.check_to_run(monitor(), observed(None), NOW, ROOT)
    assert plans is not None and plans[1] is None


# --- the verdict --------------------------------------------------------------------------------

VERDICTS = [
    # case, previous state, outcome, condition (status, reason), Events, Ready reason or None
    ("too few labels", None, outcome(None, labeled=40), ("Unknown", "InsufficientLabels"), (), None),
    ("degraded, new", "False", outcome(0.6), ("True", "PerformanceDegraded"),
     ("PerformanceDegraded", "RetrainTriggered"), None),
    ("degraded, still", "True", outcome(0.6), ("True", "PerformanceDegraded"),
     ("RetrainTriggered",), None),
    ("fine", None, outcome(0.94), ("False", "PerformanceOK"), (), None),
    ("recovered", "True", outcome(0.94), ("False", "PerformanceOK"), ("PerformanceRecovered",), None),
    ("labels unreadable", None, PerformanceOutcome(failure="labels", message="no column 'label'"),
     ("Unknown", "LabelsUnreadable"), ("LabelsUnreadable",), "LabelsUnreadable"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "was", "found", "condition", "events", "ready"), VERDICTS)
def test_verdict(
    case: str,
    was: str | None,
    found: PerformanceOutcome,
    condition: tuple[str, str],
    events: tuple[str, ...],
    ready: str | None,
) -> None:
    decision = dm.decide(body(degraded_was(was) if was else None), observed(found), NOW, ROOT)
    cond = next(c for c in decision.conditions if c.type == "PerformanceDegraded")
    assert (cond.status, cond.reason) == condition, (case, cond.message)
    assert tuple(e.reason for e in decision.events) == events, case
    status = decision.status["performance"]
    assert status["version"] == "iris-v1" and status["metric"] == "accuracy"
    assert status["labeled"] == found.labeled and status.get("training") == 0.95
    assert status.get("realized") == found.realized.get("accuracy")
    if ready:
        readiness = next(c for c in decision.conditions if c.type == "Ready")
        assert (readiness.status, readiness.reason) == ("False", ready)
        assert "spec.performance.labels" in readiness.message
    assert decision.degraded == (condition[0] == "True" if condition[0] != "Unknown" else None)


# --- what starts a retrain, and on what data ---------------------------------------------------

WRITTEN = WrittenWindow(WINDOW, train_rows=240, holdout_rows=60, start=None, end=None)


def test_default_triggers() -> None:
    assert triggers(dm.spec_of(body())) == ("performance",)
    assert triggers(dm.spec_of(monitor())) == ("drift",)
    both = body(action={**RETRAIN, "triggers": ["drift", "performance"]})
    assert triggers(dm.spec_of(both)) == ("drift", "performance")


TRIGGERS = [
    # case, action extras, degraded?, drift?, created trigger or None
    ("degraded: retrain on performance", {}, 0.6, False, "performance"),
    ("drift only, performance fine: no retrain by default", {}, 0.94, True, None),
    ("drift trigger asked for", {"triggers": ["drift"]}, 0.94, True, "drift"),
    ("both: degraded wins", {"triggers": ["drift", "performance"]}, 0.6, True, "performance"),
    ("too few labels: no verdict, no retrain", {}, None, False, None),
]


@pytest.mark.parametrize(("case", "action", "realized", "drift", "trigger"), TRIGGERS)
def test_what_starts_a_retrain(
    case: str, action: dict[str, Any], realized: float | None, drift: bool, trigger: str | None
) -> None:
    found = outcome(realized, labeled=300 if realized is not None else 10)
    decision = dm.decide(body(action={**RETRAIN, **action}), observed(found, drift), NOW, ROOT)
    jobs = [m for m in decision.create if m["kind"] == "TrainingJob"]
    if trigger is None:
        assert jobs == [], case
        return
    assert [j["metadata"]["name"] for j in jobs] == ["watch-retrain-1"], case
    assert decision.status["lastRetrain"]["trigger"] == trigger


def test_append_trains_on_the_reference_plus_the_production_rows() -> None:
    found = outcome(0.6, window=WRITTEN)
    decision = dm.decide(body(), observed(found), NOW, ROOT)
    dataset, job = decision.create
    assert dataset["kind"] == "Dataset" and dataset["metadata"]["name"] == "watch-retrain-1"
    assert dataset["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert dataset["spec"]["source"] == {"uri": "sklearn://iris"}  # the reference data
    assert dataset["spec"]["additionalSources"] == [
        {"uri": f"{WINDOW}/train.parquet", "format": "parquet"}
    ]
    assert "refreshIntervalSeconds" not in dataset["spec"]  # a frozen copy
    assert dataset["spec"]["schema"] == IRIS_DATASET["spec"]["schema"]
    assert job["spec"]["datasetRef"] == {"name": "watch-retrain-1"}
    window = json.loads(job["metadata"]["annotations"]["mlops.dev/production-window"])
    assert window == {"monitor": "watch", "uri": WINDOW, "rows": 240, "holdoutRows": 60,
                      "writtenAt": rfc3339(NOW)}  # fmt: skip
    assert decision.status["lastRetrain"]["dataset"] == "watch-retrain-1"
    note = next(e for e in decision.events if e.reason == "RetrainTriggered")
    assert "240 labeled production rows, append" in note.message


def test_replace_trains_on_the_production_rows_only() -> None:
    found = outcome(0.6, window=WRITTEN)
    decision = dm.decide(
        body(action={**RETRAIN, "productionData": "replace"}), observed(found), NOW, ROOT
    )
    dataset = decision.create[0]
    assert dataset["spec"]["source"] == {"uri": f"{WINDOW}/train.parquet", "format": "parquet"}
    assert "additionalSources" not in dataset["spec"]


def test_replace_without_production_rows_does_not_retrain() -> None:
    decision = dm.decide(
        body(action={**RETRAIN, "productionData": "replace"}), observed(outcome(0.6)), NOW, ROOT
    )
    assert decision.create == []
    assert "NoProductionData" in [e.reason for e in decision.events]
    cond = next(c for c in decision.conditions if c.type == "PerformanceDegraded")
    assert "no labeled production rows" in cond.message


def test_none_retrains_on_the_trained_on_dataset() -> None:
    found = outcome(0.6, window=WRITTEN)
    decision = dm.decide(
        body(action={**RETRAIN, "productionData": "none"}), observed(found), NOW, ROOT
    )
    (job,) = decision.create
    assert job["kind"] == "TrainingJob" and job["spec"]["datasetRef"] == {"name": "iris"}
    assert "annotations" not in job["metadata"]


def test_append_without_the_reference_dataset_says_so() -> None:
    found = outcome(0.6, window=WRITTEN)
    decision = dm.decide(body(), observed(found, dataset=None), NOW, ROOT)
    assert decision.create == []
    ready = next(c for c in decision.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RetrainSourceNotFound")
    assert "Dataset iris" in ready.message


def test_a_degraded_model_within_the_cooldown_is_not_retrained_again() -> None:
    recent = NOW - timedelta(minutes=5)
    status = {**degraded_was("True"), "retrainsTriggered": 1,
              "lastRetrain": {"trainingJob": "watch-retrain-1", "at": rfc3339(recent)}}  # fmt: skip
    found = outcome(0.6, window=WRITTEN)
    decision = dm.decide(
        body(status), observed(found, retrains=[tj("watch-retrain-1", "Succeeded", recent)]),
        NOW, ROOT,
    )  # fmt: skip
    assert decision.create == []
    cond = next(c for c in decision.conditions if c.type == "PerformanceDegraded")
    assert "no retrain: cooling down until" in cond.message
    assert decision.requeue_after == 300  # the next check, before the cooldown ends


def test_nothing_of_the_last_verdict_survives_a_check_without_one() -> None:
    """The status is merge-patched: a realized value (and metrics) the new check does not
    have are written as null, so `kubectl get dm` never shows the last check's value."""
    last = {"version": "iris-v1", "metric": "accuracy", "realized": 0.33, "labeled": 400,
            "realizedMetrics": {"accuracy": 0.33, "f1": 0.3}}  # fmt: skip
    decision = dm.decide(
        body({"performance": last}), observed(outcome(None, labeled=10)), NOW, ROOT
    )
    status = decision.status["performance"]
    assert status["realized"] is None and status["labeled"] == 10
    assert status["realizedMetrics"] == {"accuracy": None, "f1": None}
