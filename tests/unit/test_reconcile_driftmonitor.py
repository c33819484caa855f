"""DriftMonitor decisions, as tables: resolution, due checks, verdicts, Events, retrains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.drift.check import DriftReport, FeatureResult
from mlops_operator.drift.window import CheckOutcome, CheckPlan
from mlops_operator.reconcile import driftmonitor as dm
from mlops_operator.reconcile.conditions import rfc3339

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ROOT = "file:///store"
V1, V2, V3 = "a" * 64, "b" * 64, "c" * 64
OWNER = {"apiVersion": "mlops.dev/v1alpha1", "kind": "DriftMonitor", "name": "watch", "uid": "u1"}
LABELS = {"mlops.dev/driftmonitor": "watch"}


def monitor(
    status: dict[str, Any] | None = None, generation: int = 1, **spec: Any
) -> dict[str, Any]:
    base: dict[str, Any] = {"target": {"deploymentRef": {"name": "iris"}}}
    base.update(spec)
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": "watch", "namespace": "ml", "uid": "u1", "generation": generation},
        "spec": base,
        "status": status or {},
    }


def entry(version: str) -> dict[str, Any]:
    return {
        "version": version,
        "rows": 150,
        "createdAt": "2025-01-01T00:00:00Z",
        "snapshotUri": f"{ROOT}/datasets/ml/iris/{version}/data.parquet",
        "profileUri": f"{ROOT}/datasets/ml/iris/{version}/profile.json",
    }


def dataset(*versions: str, name: str = "iris") -> dict[str, Any]:
    """History newest first, as the Dataset controller writes it."""
    status: dict[str, Any] = {"history": [entry(v) for v in versions]}
    if versions:
        status["version"] = versions[0]
    return {"metadata": {"name": name}, "status": status}


def deployment(serving: str | None = "iris-v1") -> dict[str, Any]:
    return {"metadata": {"name": "iris"}, "status": {"servingVersion": serving} if serving else {}}


def model_version(
    lineage: dict[str, Any] | None = None, inputs: tuple[str, ...] = ("a", "b")
) -> dict[str, Any]:
    default = {"trainingJob": "iris-lr", "dataset": {"name": "iris", "version": V1}}
    return {
        "metadata": {"name": "iris-v1"},
        "spec": {
            "lineage": default if lineage is None else lineage,
            "signature": {"inputs": [{"name": n, "datatype": "FP64"} for n in inputs]},
        },
    }


def served(**kwargs: Any) -> dm.Observed:
    return dm.Observed(deployment=deployment(), model_version=model_version(), **kwargs)


# --- resolution ---------------------------------------------------------------------------

PROBLEMS = [
    ("no deployment", {}, dm.Observed(), "DeploymentNotFound", False),
    ("not serving yet", {}, dm.Observed(deployment=deployment(None)), "NotServing", False),
    ("served version gone", {}, dm.Observed(deployment=deployment()), "ModelVersionNotFound", False),
    ("no lineage", {}, dm.Observed(deployment=deployment(), model_version=model_version({})),
     "ReferenceNotFound", False),
    ("reference dataset missing", {"reference": {"name": "other"}}, served(), "ReferenceNotFound", False),
    ("reference dataset without versions", {"reference": {"name": "other"}},
     served(reference=dataset(name="other")), "ReferenceNotReady", False),
    ("pinned reference version unknown", {"reference": {"name": "other", "version": "f" * 12}},
     served(reference=dataset(V1, name="other")), "DatasetVersionNotFound", False),
    ("target dataset missing", {"target": {"datasetRef": {"name": "iris"}}}, dm.Observed(),
     "DatasetNotFound", False),
    ("target dataset not profiled", {"target": {"datasetRef": {"name": "iris"}}},
     dm.Observed(dataset=dataset()), "DatasetNotReady", False),
    ("one version only", {"target": {"datasetRef": {"name": "iris"}}},
     dm.Observed(dataset=dataset(V1)), "NoPreviousVersion", True),
    ("reference = target, one version", {"target": {"datasetRef": {"name": "iris"}},
                                         "reference": {"name": "iris"}},
     dm.Observed(dataset=dataset(V1)), "NoPreviousVersion", True),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spec", "observed", "reason", "ready"), PROBLEMS)
def test_what_cannot_be_checked_says_why(
    case: str, spec: dict[str, Any], observed: dm.Observed, reason: str, ready: bool
) -> None:
    problem = dm.plan_check(monitor(**spec), observed, ROOT, NOW)
    assert isinstance(problem, dm.Problem), case
    assert (problem.reason, problem.ready) == (reason, ready)
    decision = dm.decide_problem(monitor(**spec), problem)
    by_type = {c.type: c for c in decision.conditions}
    assert by_type["Ready"].status == ("True" if ready else "False")
    assert by_type["Ready"].reason == reason and by_type["Drifted"].status == "Unknown"
    assert [e.reason for e in decision.events] == [reason]  # an Event the first time
    assert not decision.create


def test_the_same_problem_posts_no_second_event() -> None:
    problem = dm.plan_check(monitor(), dm.Observed(), ROOT, NOW)
    assert isinstance(problem, dm.Problem)
    seen = {"conditions": [{"type": "Ready", "status": "False", "reason": "DeploymentNotFound"}]}
    assert dm.decide_problem(monitor(seen), problem).events == []


PLANS = [
    ("deployment, training profile from lineage.dataset", {}, served(),
     f"{ROOT}/datasets/ml/iris/{V1}/profile.json", f"{ROOT}/samples/ml/iris/iris-v1", ("a", "b")),
    ("lineage.profileUri wins", {}, dm.Observed(deployment=deployment(), model_version=model_version(
        {"profileUri": "s3://b/p.json", "dataset": {"name": "iris", "version": V1}})),
     "s3://b/p.json", f"{ROOT}/samples/ml/iris/iris-v1", ("a", "b")),
    ("explicit reference, current version", {"reference": {"name": "other"}, "features": ["b"]},
     served(reference=dataset(V2, V1, name="other")),
     f"{ROOT}/datasets/ml/iris/{V2}/profile.json", f"{ROOT}/samples/ml/iris/iris-v1", ("b",)),
    ("explicit reference, pinned by prefix", {"reference": {"name": "other", "version": V1[:12]}},
     served(reference=dataset(V2, V1, name="other")),
     f"{ROOT}/datasets/ml/iris/{V1}/profile.json", f"{ROOT}/samples/ml/iris/iris-v1", ("a", "b")),
    ("dataset: newest vs previous", {"target": {"datasetRef": {"name": "iris"}}},
     dm.Observed(dataset=dataset(V3, V2, V1)),
     f"{ROOT}/datasets/ml/iris/{V2}/profile.json", f"{ROOT}/datasets/ml/iris/{V3}/data.parquet", None),
    ("dataset: pinned reference of itself", {"target": {"datasetRef": {"name": "iris"}},
                                             "reference": {"name": "iris", "version": V1}},
     dm.Observed(dataset=dataset(V3, V2, V1)),
     f"{ROOT}/datasets/ml/iris/{V1}/profile.json", f"{ROOT}/datasets/ml/iris/{V3}/data.parquet", None),
    ("dataset: unpinned reference of itself = previous",
     {"target": {"datasetRef": {"name": "iris"}}, "reference": {"name": "iris"}},
     dm.Observed(dataset=dataset(V3, V2, V1)),
     f"{ROOT}/datasets/ml/iris/{V2}/profile.json", f"{ROOT}/datasets/ml/iris/{V3}/data.parquet", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spec", "observed", "reference", "source", "features"), PLANS)
def test_plan_names_reference_source_and_features(
    case: str,
    spec: dict[str, Any],
    observed: dm.Observed,
    reference: str,
    source: str,
    features: tuple[str, ...] | None,
) -> None:
    plan = dm.plan_check(monitor(**spec), observed, ROOT, NOW)
    assert isinstance(plan, CheckPlan), case
    assert (plan.reference_uri, plan.source_uri, plan.features) == (reference, source, features)


def test_plan_carries_window_thresholds_and_correction() -> None:
    spec = {
        "window": {"rows": 500, "durationSeconds": 600},
        "tests": {"numeric": "psi", "categorical": "jensenshannon"},
        "thresholds": {"pValue": 0.01, "distance": 0.3, "psi": 0.25, "driftShare": 0.4},
        "correction": "fdr",
        "minSamples": 50,
    }
    plan = dm.plan_check(monitor(**spec), served(), ROOT, NOW)
    assert isinstance(plan, CheckPlan)
    assert plan.source == "samples" and plan.rows == 500
    assert plan.since == NOW - timedelta(seconds=600)
    assert (plan.numeric_test, plan.categorical_test, plan.correction) == (
        "psi",
        "jensenshannon",
        "fdr",
    )
    assert (plan.p_value, plan.distance, plan.psi, plan.drift_share) == (0.01, 0.3, 0.25, 0.4)
    assert plan.min_samples == 50
    rows_only = dm.plan_check(monitor(), served(), ROOT, NOW)
    assert isinstance(rows_only, CheckPlan) and rows_only.since is None and rows_only.rows == 10000


# --- when to check ------------------------------------------------------------------------

PLAN = CheckPlan(reference_uri="r", source_uri="s", source="samples")
CHECKED = {"observedGeneration": 1, "referenceUri": "r", "sourceUri": "s"}

DUE = [
    ("never checked", {}, 1, True),
    ("checked just now", {**CHECKED, "lastCheckTime": rfc3339(NOW)}, 1, False),
    ("interval not over", {**CHECKED, "lastCheckTime": rfc3339(NOW - timedelta(seconds=299))}, 1, False),
    ("interval over", {**CHECKED, "lastCheckTime": rfc3339(NOW - timedelta(seconds=300))}, 1, True),
    ("spec changed", {**CHECKED, "lastCheckTime": rfc3339(NOW)}, 2, True),
    ("new served version", {**CHECKED, "sourceUri": "old", "lastCheckTime": rfc3339(NOW)}, 1, True),
    ("new reference", {**CHECKED, "referenceUri": "old", "lastCheckTime": rfc3339(NOW)}, 1, True),
]  # fmt: skip


@pytest.mark.parametrize(("case", "status", "generation", "due"), DUE)
def test_check_due(case: str, status: dict[str, Any], generation: int, due: bool) -> None:
    assert dm.check_due(monitor(status, generation), PLAN, NOW) is due, case


def test_next_check_in() -> None:
    status = {"lastCheckTime": rfc3339(NOW - timedelta(seconds=100))}
    assert dm.next_check_in(monitor(status, intervalSeconds=300), NOW) == 200
    assert dm.next_check_in(monitor(), NOW) == 0


# --- verdicts -----------------------------------------------------------------------------


def report(*drifted: bool, share: float = 0.5) -> DriftReport:
    features = [
        FeatureResult(f"f{i}", "ks", 0.5 if d else 0.01, 0.001 if d else 0.9, d)
        for i, d in enumerate(drifted)
    ]
    ratio = sum(drifted) / len(drifted)
    return DriftReport(
        samples=500, features=features, drift_share=ratio, dataset_drifted=ratio >= share
    )


def was(drifted: str | None) -> dict[str, Any]:
    if drifted is None:
        return {}
    return {"conditions": [{"type": "Drifted", "status": drifted, "reason": "x"}]}


VERDICTS = [
    # case, previous Drifted, outcome, Ready, Drifted (status, reason), Events, result label
    ("drift appears", "False", CheckOutcome(500, 3, report(True, True, False)),
     ("True", "Checked"), ("True", "DriftDetected"), ["DriftDetected"], "drift"),
    ("drift first check", None, CheckOutcome(500, 3, report(True, False)),
     ("True", "Checked"), ("True", "DriftDetected"), ["DriftDetected"], "drift"),
    ("drift persists: no new Event", "True", CheckOutcome(500, 3, report(True, True)),
     ("True", "Checked"), ("True", "DriftDetected"), [], "drift"),
    ("drift resolves", "True", CheckOutcome(500, 3, report(False, False)),
     ("True", "Checked"), ("False", "NoDrift"), ["DriftResolved"], "no_drift"),
    ("no drift", "False", CheckOutcome(500, 3, report(True, False, False)),
     ("True", "Checked"), ("False", "NoDrift"), [], "no_drift"),
    ("too few samples is no alarm", "True", CheckOutcome(12, 1),
     ("True", "InsufficientSamples"), ("Unknown", "InsufficientSamples"), [], "insufficient"),
    ("no samples at all", None, CheckOutcome(0, 0),
     ("True", "InsufficientSamples"), ("Unknown", "InsufficientSamples"), [], "insufficient"),
    ("profile unreadable", None, CheckOutcome(0, failure="reference", message="gone"),
     ("False", "ReferenceNotFound"), ("Unknown", "ReferenceNotFound"), ["ReferenceNotFound"], "error"),
    ("samples unreadable", None, CheckOutcome(0, failure="window", message="bad parquet"),
     ("False", "SamplesUnreadable"), ("Unknown", "SamplesUnreadable"), ["SamplesUnreadable"], "error"),
    ("feature not sampled", None, CheckOutcome(300, 2, failure="features", message="missing: x"),
     ("False", "FeaturesNotFound"), ("Unknown", "FeaturesNotFound"), ["FeaturesNotFound"], "error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "before", "outcome", "ready", "drifted", "events", "result"), VERDICTS
)
def test_verdict(
    case: str,
    before: str | None,
    outcome: CheckOutcome,
    ready: tuple[str, str],
    drifted: tuple[str, str],
    events: list[str],
    result: str,
) -> None:
    decision = dm.decide_check(monitor(was(before)), PLAN, outcome, NOW)
    by_type = {c.type: c for c in decision.conditions}
    assert (by_type["Ready"].status, by_type["Ready"].reason) == ready, case
    assert (by_type["Drifted"].status, by_type["Drifted"].reason) == drifted, case
    assert [e.reason for e in decision.events] == events, case
    assert dm.check_result(outcome) == result
    assert decision.status["lastCheckTime"] == rfc3339(NOW)
    assert decision.status["samples"] == outcome.samples
    assert (decision.status["referenceUri"], decision.status["sourceUri"]) == ("r", "s")
    if outcome.report is None:
        assert decision.status["features"] == [] and decision.status["driftShare"] is None


def test_verdict_status_lists_every_feature() -> None:
    decision = dm.decide_check(monitor(), PLAN, CheckOutcome(500, 3, report(True, False)), NOW)
    assert decision.status["driftShare"] == 0.5
    assert decision.status["features"] == [
        {"name": "f0", "test": "ks", "statistic": 0.5, "pValue": 0.001, "drifted": True},
        {"name": "f1", "test": "ks", "statistic": 0.01, "pValue": 0.9, "drifted": False},
    ]
    drifted = next(c for c in decision.conditions if c.type == "Drifted")
    assert "1 of 2 features drifted" in drifted.message and "f0" in drifted.message


def test_the_same_check_failure_posts_no_second_event() -> None:
    before = {"conditions": [{"type": "Ready", "status": "False", "reason": "SamplesUnreadable"}]}
    outcome = CheckOutcome(0, failure="window", message="bad parquet")
    assert dm.decide_check(monitor(before), PLAN, outcome, NOW).events == []


# --- retraining ---------------------------------------------------------------------------

RETRAIN = {"action": {"type": "retrain", "cooldownSeconds": 3600, "maxRetrains": 2}}
SOURCE_JOB = {
    "metadata": {"name": "iris-lr"},
    "spec": {"datasetRef": {"name": "iris", "version": V1}, "model": "iris",
             "estimator": "LogisticRegression", "target": "target"},
    "status": {"phase": "Succeeded"},
}  # fmt: skip


def tj(name: str, phase: str | None, created: datetime) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": rfc3339(created)},
        "status": {"phase": phase} if phase else {},
    }


def retrain(
    status: dict[str, Any],
    retrains: list[dict[str, Any]],
    outcome: CheckOutcome | None = None,
    spec: dict[str, Any] | None = None,
    source_job: dict[str, Any] | None = SOURCE_JOB,
) -> Any:
    body = monitor({**was("False"), **status}, **(spec or RETRAIN))
    outcome = outcome or CheckOutcome(500, 3, report(True, True))
    decision = dm.decide_check(body, PLAN, outcome, NOW)
    observed = served(source_job=source_job, retrains=retrains)
    return dm.decide_retrain(body, decision, outcome, observed, OWNER, LABELS, NOW)


LONG_AGO = NOW - timedelta(hours=2)
RECENTLY = NOW - timedelta(minutes=10)

RETRAINS = [
    # case, status, owned TrainingJobs, created name (None: held), text in Drifted message
    ("first drift", {}, [], "watch-retrain-1", "retraining with TrainingJob watch-retrain-1"),
    ("cooldown over", {"retrainsTriggered": 1, "lastRetrain": {"trainingJob": "watch-retrain-1",
                                                               "at": rfc3339(LONG_AGO)}},
     [tj("watch-retrain-1", "Succeeded", LONG_AGO)], "watch-retrain-2", "watch-retrain-2"),
    ("within cooldown (status)", {"retrainsTriggered": 1, "lastRetrain": {
        "trainingJob": "watch-retrain-1", "at": rfc3339(RECENTLY)}},
     [tj("watch-retrain-1", "Succeeded", RECENTLY)], None, "cooling down until"),
    ("within cooldown, status lost in a restart", {},
     [tj("watch-retrain-1", "Succeeded", RECENTLY)], None, "cooling down until"),
    ("retrain still running", {"retrainsTriggered": 1},
     [tj("watch-retrain-1", "Running", LONG_AGO)], None, "still running"),
    ("retrain just created (no phase yet)", {},
     [tj("watch-retrain-1", None, LONG_AGO)], None, "still running"),
    ("cap reached", {"retrainsTriggered": 2},
     [tj("watch-retrain-1", "Failed", LONG_AGO), tj("watch-retrain-2", "Succeeded", LONG_AGO)],
     None, "maxRetrains (2) reached"),
    ("cap counts deleted TrainingJobs too", {"retrainsTriggered": 2, "lastRetrain": {
        "trainingJob": "watch-retrain-2", "at": rfc3339(LONG_AGO)}}, [], None, "maxRetrains"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "status", "retrains", "created", "text"), RETRAINS)
def test_retrain_once_per_cooldown_and_capped(
    case: str,
    status: dict[str, Any],
    retrains: list[dict[str, Any]],
    created: str | None,
    text: str,
) -> None:
    decision = retrain(status, retrains)
    names = [m["metadata"]["name"] for m in decision.create]
    assert names == ([created] if created else []), case
    drifted = next(c for c in decision.conditions if c.type == "Drifted")
    assert text in drifted.message, case
    if created:
        assert decision.status["lastRetrain"] == {"trainingJob": created, "at": rfc3339(NOW)}
        assert decision.status["retrainsTriggered"] == int(created.rsplit("-", 1)[1])
        assert "RetrainTriggered" in [e.reason for e in decision.events]
    else:
        assert "retrainsTriggered" not in decision.status


def test_retrain_manifest_copies_the_source_job_unpinned_and_owned() -> None:
    manifest = retrain({}, []).create[0]
    assert manifest["kind"] == "TrainingJob"
    assert manifest["metadata"]["namespace"] == "ml"
    assert manifest["metadata"]["ownerReferences"] == [OWNER]
    assert manifest["metadata"]["labels"] == LABELS
    assert manifest["spec"]["datasetRef"] == {"name": "iris"}  # newest Dataset version
    assert manifest["spec"]["estimator"] == "LogisticRegression"
    assert SOURCE_JOB["spec"]["datasetRef"]["version"] == V1  # the source is not modified


def test_retrain_template_wins_over_the_source_job() -> None:
    template = {"datasetRef": {"name": "iris", "version": V2}, "model": "iris",
                "estimator": "RandomForestClassifier", "target": "target"}  # fmt: skip
    spec = {"action": {"type": "retrain", "trainingJobTemplate": template}}
    manifest = retrain({}, [], spec=spec, source_job=None).create[0]
    assert manifest["spec"]["estimator"] == "RandomForestClassifier"
    assert manifest["spec"]["datasetRef"] == {"name": "iris"}


NO_RETRAIN = [
    ("alert only", {"action": {"type": "alert"}}, CheckOutcome(500, 3, report(True, True))),
    ("one feature is not dataset drift", RETRAIN, CheckOutcome(500, 3, report(True, False, False))),
    ("too few samples", RETRAIN, CheckOutcome(5, 1)),
    ("check failed", RETRAIN, CheckOutcome(0, failure="window", message="x")),
]


@pytest.mark.parametrize(("case", "spec", "outcome"), NO_RETRAIN)
def test_no_retrain_without_dataset_drift(
    case: str, spec: dict[str, Any], outcome: CheckOutcome
) -> None:
    decision = retrain({}, [], outcome=outcome, spec=spec)
    assert decision.create == [] and "retrainsTriggered" not in decision.status, case


def test_retrain_without_a_source_is_not_ready() -> None:
    decision = retrain({}, [], source_job=None)
    ready = next(c for c in decision.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RetrainSourceNotFound")
    assert decision.create == []
    assert "RetrainSourceNotFound" in [e.reason for e in decision.events]


def test_retrain_rejected_by_the_api_server_is_reported() -> None:
    decision = retrain({}, [])
    dm.retrain_rejected(decision, "watch-retrain-1", "spec.model: Invalid value")
    ready = next(c for c in decision.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RetrainFailed")
    assert "retrainsTriggered" not in decision.status and "lastRetrain" not in decision.status
    assert [e.reason for e in decision.events if e.type == "Warning"][-1] == "RetrainFailed"
    assert "RetrainTriggered" not in [e.reason for e in decision.events]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("watch", "watch-retrain-3"), ("m" * 63, "m" * 53 + "-retrain-3"), ("a-" * 40, None)],
)
def test_retrain_names_are_deterministic_and_fit(name: str, expected: str | None) -> None:
    got = dm.retrain_name(name, 3)
    assert len(got) <= 63 and got.endswith("-retrain-3") and not got.startswith("-")
    assert got == dm.retrain_name(name, 3)
    if expected:
        assert got == expected


FAILURES = [
    ("none failed", {}, [tj("watch-retrain-1", "Succeeded", LONG_AGO)], []),
    ("one failed", {}, [tj("watch-retrain-1", "Failed", LONG_AGO)], ["watch-retrain-1"]),
    ("already recorded", {"failedRetrains": ["watch-retrain-1"]},
     [tj("watch-retrain-1", "Failed", LONG_AGO)], []),
    ("a second one", {"failedRetrains": ["watch-retrain-1"]},
     [tj("watch-retrain-1", "Failed", LONG_AGO), tj("watch-retrain-2", "Failed", NOW)],
     ["watch-retrain-2"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "status", "retrains", "new"), FAILURES)
def test_retrain_failures_counted_once(
    case: str, status: dict[str, Any], retrains: list[dict[str, Any]], new: list[str]
) -> None:
    decision = dm.Decision()
    assert dm.decide_retrain_failures(monitor(status), decision, retrains) == new, case
    if new:
        assert decision.status["failedRetrains"] == [*status.get("failedRetrains", []), *new]
        assert [e.reason for e in decision.events] == ["RetrainFailed"] * len(new)
    else:
        assert decision.status == {} and decision.events == []


def test_what_to_read() -> None:
    assert dm.serving_version(deployment()) == "iris-v1"
    assert dm.serving_version(deployment(None)) is None and dm.serving_version(None) is None
    assert dm.source_job_name(model_version()) == "iris-lr"
    assert dm.source_job_name(model_version({})) is None
    assert dm.needs_source_job(dm.spec_of(monitor(**RETRAIN)))
    assert not dm.needs_source_job(dm.spec_of(monitor()))
