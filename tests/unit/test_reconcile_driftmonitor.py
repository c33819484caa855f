"""DriftMonitor decisions, as tables: resolution, due checks, verdicts, Events, retrains,
when to look again. Everything goes through the one `decide` the handler calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.drift.check import DriftReport, FeatureResult
from mlops_operator.drift.plan import CheckOutcome, CheckPlan
from mlops_operator.reconcile import driftmonitor as dm
from mlops_operator.reconcile.conditions import rfc3339

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ROOT = "file:///store"
V1, V2, V3 = "a" * 64, "b" * 64, "c" * 64
OWNER = {"apiVersion": "mlops.dev/v1alpha1", "kind": "DriftMonitor", "name": "watch", "uid": "u1",
         "controller": True, "blockOwnerDeletion": True}  # fmt: skip
LABELS = {
    "app.kubernetes.io/managed-by": "mlops-operator",
    "app.kubernetes.io/part-of": "mlops",
    "mlops.dev/driftmonitor": "watch",
}


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


def decide(body: dict[str, Any], observed: dm.Observed) -> dm.MonitorDecision:
    return dm.decide(body, observed, NOW, ROOT)


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
    assert dm.check_to_run(monitor(**spec), observed, NOW, ROOT) is None
    decision = decide(monitor(**spec), observed)
    by_type = {c.type: c for c in decision.conditions}
    assert by_type["Ready"].status == ("True" if ready else "False")
    assert by_type["Ready"].reason == reason and by_type["Drifted"].status == "Unknown"
    assert [e.reason for e in decision.events] == [reason]  # an Event the first time
    assert not decision.create
    assert decision.clear_drift and decision.check_result is None
    assert decision.requeue_after is None  # the objects it waits for wake it when they change


def test_the_same_problem_posts_no_second_event() -> None:
    seen = {"conditions": [{"type": "Ready", "status": "False", "reason": "DeploymentNotFound"}]}
    assert decide(monitor(seen), dm.Observed()).events == []


PLANS = [
    ("deployment, training profile from lineage.dataset", {}, served(),
     f"{ROOT}/datasets/ml/iris/{V1}/profile.json", f"{ROOT}/samples/ml/iris/iris-v1", ("a", "b")),
    ("lineage.profileUri wins", {}, dm.Observed(deployment=deployment(), model_version=model_version(
        {"profileUri": f"{ROOT}/datasets/ml/iris/p.json", "dataset": {"name": "iris", "version": V1}})),
     f"{ROOT}/datasets/ml/iris/p.json", f"{ROOT}/samples/ml/iris/iris-v1", ("a", "b")),
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
    spec: dict[str, Any] = {
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


def checked(outcome: CheckOutcome, **kwargs: Any) -> dm.Observed:
    """What the handler observed after running a due check."""
    return served(check=dm.Check(PLAN, outcome), **kwargs)


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
    decision = decide(monitor(was(before)), checked(outcome))
    by_type = {c.type: c for c in decision.conditions}
    assert (by_type["Ready"].status, by_type["Ready"].reason) == ready, case
    assert (by_type["Drifted"].status, by_type["Drifted"].reason) == drifted, case
    assert [e.reason for e in decision.events] == events, case
    assert dm.check_result(outcome) == result == decision.check_result
    assert decision.drift is outcome.report and decision.clear_drift is (outcome.report is None)
    assert decision.create == []  # alert only: no retrain
    assert decision.status["lastCheckTime"] == rfc3339(NOW)
    assert decision.status["samples"] == outcome.samples
    assert (decision.status["referenceUri"], decision.status["sourceUri"]) == ("r", "s")
    if outcome.report is None:
        assert decision.status["features"] == [] and decision.status["driftShare"] is None


def test_verdict_status_lists_every_feature() -> None:
    decision = decide(monitor(), checked(CheckOutcome(500, 3, report(True, False))))
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
    assert decide(monitor(before), checked(outcome)).events == []


# --- retraining ---------------------------------------------------------------------------

RETRAIN: dict[str, Any] = {"action": {"type": "retrain", "cooldownSeconds": 3600, "maxRetrains": 2}}
SOURCE_JOB: dict[str, Any] = {
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
) -> dm.MonitorDecision:
    body = monitor({**was("False"), **status}, **(spec or RETRAIN))
    outcome = outcome or CheckOutcome(500, 3, report(True, True))
    return decide(body, checked(outcome, source_job=source_job, retrains=retrains))


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
        assert decision.status["lastRetrain"] == {
            "trainingJob": created,
            "at": rfc3339(NOW),
            "trigger": "drift",
        }
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
    decision = dm.retrain_rejected(retrain({}, []), "spec.model: Invalid value")
    ready = next(c for c in decision.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RetrainFailed")
    assert "watch-retrain-1 was refused: spec.model: Invalid value" in ready.message
    assert decision.create == []  # nothing left to create when it is carried out again
    assert decision.requeue_after == 300 and decision.check_result == "drift"
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
    decision = decide(monitor(status), served(retrains=retrains))
    assert decision.failed_retrains == new, case
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


# --- one retrain manifest, or none ----------------------------------------------------------

ONE_OR_NONE = [
    # case, status, owned TrainingJobs, retrain manifests in decision.create
    ("drift, no retrain yet", {}, [], 1),
    ("drift, cooldown over", {"retrainsTriggered": 1, "lastRetrain": {
        "trainingJob": "watch-retrain-1", "at": rfc3339(LONG_AGO)}},
     [tj("watch-retrain-1", "Succeeded", LONG_AGO)], 1),
    ("drift within the cooldown", {"retrainsTriggered": 1, "lastRetrain": {
        "trainingJob": "watch-retrain-1", "at": rfc3339(RECENTLY)}},
     [tj("watch-retrain-1", "Succeeded", RECENTLY)], 0),
    ("drift, cap reached", {"retrainsTriggered": 2},
     [tj("watch-retrain-1", "Succeeded", LONG_AGO), tj("watch-retrain-2", "Succeeded", LONG_AGO)], 0),
]  # fmt: skip


@pytest.mark.parametrize(("case", "status", "retrains", "count"), ONE_OR_NONE)
def test_decide_creates_exactly_one_retrain_or_none(
    case: str, status: dict[str, Any], retrains: list[dict[str, Any]], count: int
) -> None:
    decision = retrain(status, retrains)
    assert len(decision.create) == count, case
    assert all(m["kind"] == "TrainingJob" for m in decision.create)


# --- when to look again ---------------------------------------------------------------------

INTERVAL: dict[str, Any] = {"intervalSeconds": 300}
LAST_CHECK = {**CHECKED, "lastCheckTime": rfc3339(NOW - timedelta(seconds=100))}


def test_check_to_run_only_when_due() -> None:
    plans = dm.check_to_run(monitor(), served(), NOW, ROOT)
    assert plans is not None
    plan, performance = plans
    assert performance is None  # no spec.performance
    assert isinstance(plan, CheckPlan) and plan.source_uri == f"{ROOT}/samples/ml/iris/iris-v1"
    assert plan == dm.plan_check(monitor(), served(), ROOT, NOW)
    status = {**CHECKED, "referenceUri": plan.reference_uri, "sourceUri": plan.source_uri,
              "lastCheckTime": rfc3339(NOW - timedelta(seconds=100))}  # fmt: skip
    assert dm.check_to_run(monitor(status), served(), NOW, ROOT) is None


def test_after_a_check_look_again_after_the_interval() -> None:
    outcome = CheckOutcome(500, 3, report(False, False))
    assert decide(monitor(intervalSeconds=600), checked(outcome)).requeue_after == 600


def test_no_check_due_look_again_when_the_next_one_is() -> None:
    # the status names what the plan resolves to: only the interval decides
    plan = dm.plan_check(monitor(), served(), ROOT, NOW)
    assert isinstance(plan, CheckPlan)
    status = {**LAST_CHECK, "referenceUri": plan.reference_uri, "sourceUri": plan.source_uri}
    decision = decide(monitor(status, **INTERVAL), served())
    assert decision.requeue_after == 200
    assert decision.check_result is None and decision.create == [] and decision.status == {}


def test_a_due_check_that_did_not_run_is_looked_at_again_at_once() -> None:
    assert decide(monitor(), served()).requeue_after == 0


def cooling(last_check: datetime, last_retrain: datetime, interval: int = 7200) -> dict[str, Any]:
    """A monitor whose last check found drift after retrain 1 (cooldown 3600 s)."""
    plan = dm.plan_check(monitor(), served(), ROOT, NOW)
    assert isinstance(plan, CheckPlan)
    status = {
        **CHECKED,
        "referenceUri": plan.reference_uri,
        "sourceUri": plan.source_uri,
        "lastCheckTime": rfc3339(last_check),
        "retrainsTriggered": 1,
        "lastRetrain": {"trainingJob": "watch-retrain-1", "at": rfc3339(last_retrain)},
        **was("True"),
    }
    return monitor(status, intervalSeconds=interval, **RETRAIN)


def test_a_check_that_finds_drift_in_the_cooldown_looks_again_when_it_ends() -> None:
    # retrain 1 ten minutes ago, cooldown 3600 s: it ends in 50 minutes, before the interval
    status = {"retrainsTriggered": 1, "lastRetrain": {"trainingJob": "watch-retrain-1",
                                                      "at": rfc3339(RECENTLY)}}  # fmt: skip
    body = monitor({**was("True"), **status}, intervalSeconds=7200, **RETRAIN)
    retrains = [tj("watch-retrain-1", "Succeeded", RECENTLY)]
    outcome = CheckOutcome(500, 3, report(True, True))
    decision = decide(body, checked(outcome, source_job=SOURCE_JOB, retrains=retrains))
    assert decision.create == []
    assert decision.requeue_after == 3000
    # with a shorter interval, the interval comes first
    body = monitor({**was("True"), **status}, intervalSeconds=300, **RETRAIN)
    decision = decide(body, checked(outcome, source_job=SOURCE_JOB, retrains=retrains))
    assert decision.requeue_after == 300


def test_between_checks_a_held_retrain_wakes_the_monitor_when_the_cooldown_ends() -> None:
    body = cooling(last_check=NOW - timedelta(minutes=5), last_retrain=RECENTLY)
    retrains = [tj("watch-retrain-1", "Succeeded", RECENTLY)]
    assert dm.check_to_run(body, served(retrains=retrains), NOW, ROOT) is None
    assert decide(body, served(retrains=retrains)).requeue_after == 3000  # not 7200 - 300


def test_when_the_cooldown_has_ended_a_fresh_check_is_due() -> None:
    ended = NOW - timedelta(hours=1, minutes=1)  # retrain 1 61 minutes ago: cooldown over
    body = cooling(last_check=NOW - timedelta(minutes=5), last_retrain=ended)
    retrains = [tj("watch-retrain-1", "Succeeded", ended)]
    assert dm.check_to_run(body, served(retrains=retrains), NOW, ROOT) is not None
    outcome = CheckOutcome(500, 3, report(True, True))
    decision = decide(body, checked(outcome, source_job=SOURCE_JOB, retrains=retrains))
    assert [m["metadata"]["name"] for m in decision.create] == ["watch-retrain-2"]


HELD = [
    # case, last check, last retrain, capped, Drifted, held until
    ("held by the cooldown", NOW - timedelta(minutes=5), RECENTLY, False, "True",
     RECENTLY + timedelta(hours=1)),
    ("the last check made the retrain", RECENTLY, RECENTLY, False, "True", None),
    ("the check came after the cooldown", NOW, LONG_AGO, False, "True", None),
    ("cap reached", NOW - timedelta(minutes=5), RECENTLY, True, "True", None),
    ("no drift", NOW - timedelta(minutes=5), RECENTLY, False, "False", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "last_check", "last_retrain", "capped", "drifted", "until"), HELD)
def test_held_by_cooldown_until(
    case: str,
    last_check: datetime,
    last_retrain: datetime,
    capped: bool,
    drifted: str,
    until: datetime | None,
) -> None:
    body = cooling(last_check, last_retrain)
    body["status"].update(was(drifted))
    if capped:
        body["status"]["retrainsTriggered"] = 2
    retrains = [tj("watch-retrain-1", "Succeeded", last_retrain)]
    assert dm.held_by_cooldown_until(body, retrains) == until, case
