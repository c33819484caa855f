"""Dataset decisions for every Job outcome."""

from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import dataset
from mlops_operator.reconcile.jobs import JobOutcome

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHA = "a" * 64
CONFIG = OperatorConfig()


def body(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": {"source": {"uri": "sklearn://iris"}},
        "status": status,
    }


def result(passed: bool = True, version: str = SHA) -> dict[str, Any]:
    rules = [{"name": "minRows", "passed": True}, {"name": "x:notNull", "passed": passed}]
    return {"ok": True, "version": version, "rows": 150, "columns": 5, "passed": passed,
            "snapshotUri": "file:///s/data.parquet", "profileUri": "file:///s/profile.json",
            "validation": rules}  # fmt: skip


def ready(decision: Any) -> tuple[str, str]:
    cond = next(c for c in decision.conditions if c.type == "Ready")
    return cond.status, cond.reason


def test_missing_job_is_created_once_with_a_deterministic_name() -> None:
    decision = dataset.decide(body(), JobOutcome("Missing"), None, NOW, CONFIG)
    [job] = decision.create
    assert job["metadata"]["name"] == dataset.profile_job_name(body())
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert job["metadata"]["labels"]["mlops.dev/dataset"] == "iris"
    assert ready(decision) == ("False", "Profiling")
    assert dataset.profile_job_name(body()) == dataset.profile_job_name(body())


def test_running_job_waits() -> None:
    decision = dataset.decide(body(), JobOutcome("Running"), None, NOW, CONFIG)
    assert not decision.create and not decision.done
    assert decision.status["phase"] == "Profiling"


def test_success_records_version_and_history() -> None:
    decision = dataset.decide(body(), JobOutcome("Succeeded"), result(), NOW, CONFIG)
    assert ready(decision) == ("True", "Profiled")
    assert decision.status["version"] == SHA
    assert decision.status["history"][0]["version"] == SHA
    assert decision.status["completedRun"] == "1/0"
    assert decision.done


def test_success_records_the_rows_each_source_gave() -> None:
    sources = [{"uri": "sklearn://iris", "rows": 150}, {"uri": "file:///w.parquet", "rows": 9}]
    with_sources = {**result(), "sources": sources}
    ok = dataset.decide(body(), JobOutcome("Succeeded"), with_sources, NOW, CONFIG)
    assert ok.status["sources"] == sources
    older = dataset.decide(body(), JobOutcome("Succeeded"), result(), NOW, CONFIG)
    assert older.status["sources"] == []  # a result from an older image lists none


def test_unchanged_content_adds_no_history_entry() -> None:
    entry = {"version": SHA, "rows": 150, "createdAt": "t", "snapshotUri": "s", "profileUri": "p"}
    decision = dataset.decide(
        body(version=SHA, history=[entry], profileRun=1, completedRun="1/0"),
        JobOutcome("Succeeded"), result(), NOW, CONFIG,
    )  # fmt: skip
    assert decision.status["history"] == [entry]
    assert not [e for e in decision.events if e.reason == "Profiled"]


def test_new_content_prepends_a_version() -> None:
    entry = {"version": SHA, "rows": 150, "createdAt": "t", "snapshotUri": "s", "profileUri": "p"}
    decision = dataset.decide(
        body(version=SHA, history=[entry], profileRun=1, completedRun="1/0"),
        JobOutcome("Succeeded"), result(version="b" * 64), NOW, CONFIG,
    )  # fmt: skip
    assert [h["version"] for h in decision.status["history"]] == ["b" * 64, SHA]


def test_invalid_data_names_the_failed_rules() -> None:
    decision = dataset.decide(body(), JobOutcome("Succeeded"), result(passed=False), NOW, CONFIG)
    assert ready(decision) == ("False", "ValidationFailed")
    assert "x:notNull" in decision.conditions[0].message
    assert decision.events[0].type == "Warning"
    assert "version" not in decision.status


def test_unreadable_source_reports_the_pod_reason() -> None:
    failure = {"ok": False, "reason": "SourceUnreadable", "error": "no such file: /data/x.csv"}
    decision = dataset.decide(
        body(), JobOutcome("Failed", "BackoffLimitExceeded"), failure, NOW, CONFIG
    )
    assert ready(decision) == ("False", "SourceUnreadable")
    assert decision.status["phase"] == "Failed"
    assert "no such file" in decision.events[0].message


def test_succeeded_job_without_result_is_an_error_not_a_hang() -> None:
    decision = dataset.decide(body(), JobOutcome("Succeeded"), None, NOW, CONFIG)
    assert ready(decision) == ("False", "ResultMissing")


def test_refresh_bumps_the_run_when_due() -> None:
    done = body(completedRun="1/0", lastProfiledAt="2026-01-01T11:00:00Z")
    done["spec"]["refreshIntervalSeconds"] = 600
    decision = dataset.decide(done, JobOutcome("Missing"), None, NOW, CONFIG)
    assert decision.status == {"profileRun": 1}
    later = dataset.decide(done, JobOutcome("Missing"), None, NOW - timedelta(minutes=55), CONFIG)
    assert later.done and not later.status
    # not due yet: the refresh itself is the next trigger, 5 minutes on
    assert later.requeue_after == 300


def test_a_finished_run_with_a_refresh_interval_looks_again_when_it_is_due() -> None:
    decision = dataset.decide(body(), JobOutcome("Succeeded"), result(), NOW, CONFIG)
    assert decision.requeue_after is None  # no refresh: only a change wakes it
    refreshing = body()
    refreshing["spec"]["refreshIntervalSeconds"] = 900
    decision = dataset.decide(refreshing, JobOutcome("Succeeded"), result(), NOW, CONFIG)
    assert decision.requeue_after == 900


def test_version_entry_resolves_unique_prefixes() -> None:
    history = [{"version": "ab" + "0" * 62}, {"version": "ac" + "0" * 62}]
    ds = body(version=history[0]["version"], history=history)
    assert dataset.version_entry(ds, None) == history[0]
    assert dataset.version_entry(ds, "ac00000000000") == history[1]
    assert dataset.version_entry(ds, "a") is None
