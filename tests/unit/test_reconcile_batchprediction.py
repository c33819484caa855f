"""BatchPrediction decisions as tables: what is missing, the Indexed Job, progress, the end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import batchprediction as bp
from mlops_operator.reconcile.dependencies import dependents
from mlops_operator.reconcile.indexed import parse_indexes
from mlops_operator.reconcile.jobs import JobOutcome

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHA = "b" * 64
VERSION = "d" * 64
CONFIG = OperatorConfig()


def body(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "BatchPrediction",
        "metadata": {"name": "nightly", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": spec
        or {
            "model": {"modelVersionRef": {"name": "iris-v1"}},
            "input": {"datasetRef": {"name": "iris"}},
            "partitions": 3,
            "idColumns": ["customer"],
        },
        "status": status,
    }


def model_version(phase: str = "Ready", name: str = "iris-v1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ml"},
        "spec": {
            "model": "iris", "version": 1, "task": "classification",
            "artifact": {"uri": "file:///s/model.onnx", "format": "onnx", "sha256": SHA},
            "signature": {"inputs": [{"name": "x", "datatype": "FP32"}]},
        },
        "status": {"phase": phase},
    }  # fmt: skip


def dataset(version: str | None = VERSION) -> dict[str, Any]:
    history = [{"version": version, "rows": 150, "createdAt": "t",
                "snapshotUri": "file:///s/data.parquet", "profileUri": "p"}] if version else []  # fmt: skip
    return {"metadata": {"name": "iris"}, "status": {"version": version, "history": history}}


def deployment(serving: str | None) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "status": {"servingVersion": serving}}


def job(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "j"}, "status": status}


def ready(decision: Any) -> tuple[str, str]:
    cond = next(c for c in decision.conditions if c.type == "Ready")
    return cond.status, cond.reason


FROM_DEPLOYMENT = {
    "model": {"deploymentRef": {"name": "web"}},
    "input": {"source": {"uri": "s3://b/day=1/", "format": "parquet"}},
}


@pytest.mark.parametrize(
    ("spec", "world", "reason"),
    [
        (None, bp.BatchWorld(None, None, dataset()), "ModelVersionNotFound"),
        (None, bp.BatchWorld(model_version("Pending"), None, dataset()), "ModelVersionNotReady"),
        (None, bp.BatchWorld(model_version(), None, None), "DatasetNotFound"),
        (None, bp.BatchWorld(model_version(), None, dataset(None)), "DatasetNotReady"),
        (FROM_DEPLOYMENT, bp.BatchWorld(model_version(), None), "DeploymentNotFound"),
        (FROM_DEPLOYMENT, bp.BatchWorld(None, deployment(None)), "NotServing"),
    ],
)
def test_waits_with_a_reason_and_one_event(
    spec: dict[str, Any] | None, world: bp.BatchWorld, reason: str
) -> None:
    decision = bp.decide(body(spec), world, NOW, CONFIG)
    assert not decision.create
    assert ready(decision) == ("False", reason)
    assert decision.status["phase"] == "Pending"
    assert [e.reason for e in decision.events] == [reason]
    # The same reason again: no second Event.
    again = body(spec, conditions=[{"type": "Ready", "status": "False", "reason": reason}])
    assert bp.decide(again, world, NOW, CONFIG).events == []


def test_pinned_dataset_version_missing_names_it() -> None:
    spec = body()["spec"] | {"input": {"datasetRef": {"name": "iris", "version": "e" * 12}}}
    decision = bp.decide(body(spec), bp.BatchWorld(model_version(), None, dataset()), NOW, CONFIG)
    assert ready(decision) == ("False", "DatasetVersionNotFound")
    assert "e" * 12 in decision.conditions[0].message


def test_start_creates_one_indexed_job_and_pins_the_lineage() -> None:
    world = bp.BatchWorld(model_version(), None, dataset())
    decision = bp.decide(body(), world, NOW, CONFIG)
    [manifest] = decision.create
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == bp.job_name(body())
    assert manifest["metadata"]["labels"]["mlops.dev/batchprediction"] == "nightly"
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimitPerIndex"] == 2 and "backoffLimit" not in spec
    args = spec["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "predict"
    assert args[args.index("--model") + 1] == f"iris-v1=file:///s/model.onnx@{SHA}"
    assert args[args.index("--input") + 1] == "file:///s/data.parquet"
    assert args[args.index("--id-column") + 1] == "customer"
    status = decision.status
    assert status["lineage"] == {
        "modelVersion": "iris-v1",
        "modelSha256": SHA,
        "dataset": {"name": "iris", "version": VERSION},
    }
    assert status["progress"] == "0/3" and status["runGeneration"] == 1
    assert status["outputUri"] == f"{CONFIG.store_uri}/predictions/ml/nightly/{status['run']}"
    assert ready(decision) == ("False", "Predicting")
    assert [e.reason for e in decision.events] == ["JobCreated"]
    # Deterministic: the same inputs give the same Job and output.
    assert bp.decide(body(), world, NOW, CONFIG).create == decision.create


def test_run_key_changes_with_the_model_and_the_input() -> None:
    keys = set()
    for mv_sha, version in ((SHA, VERSION), ("c" * 64, VERSION), (SHA, "f" * 64)):
        mv, ds = model_version(), dataset(version)
        mv["spec"]["artifact"]["sha256"] = mv_sha
        decision = bp.decide(body(), bp.BatchWorld(mv, None, ds), NOW, CONFIG)
        keys.add(decision.status["run"])
    assert len(keys) == 3


def test_deployment_is_resolved_once_then_pinned() -> None:
    assert bp.wanted_model_version(body(FROM_DEPLOYMENT), deployment("iris-v4")) == "iris-v4"
    pinned = body(FROM_DEPLOYMENT, runGeneration=1, lineage={"modelVersion": "iris-v4"})
    # A rollout to v5 during the run changes nothing.
    assert bp.wanted_model_version(pinned, deployment("iris-v5")) == "iris-v4"
    world = bp.BatchWorld(model_version(name="iris-v4"), deployment("iris-v4"))
    decision = bp.decide(body(FROM_DEPLOYMENT), world, NOW, CONFIG)
    assert decision.status["lineage"] == {
        "modelVersion": "iris-v4", "modelSha256": SHA, "sourceUri": "s3://b/day=1/"
    }  # fmt: skip


def started(**extra: Any) -> dict[str, Any]:
    first = bp.decide(body(), bp.BatchWorld(model_version(), None, dataset()), NOW, CONFIG)
    return body(**{**first.status, **extra})


@pytest.mark.parametrize(
    ("job_status", "outcome", "phase", "progress", "events"),
    [
        ({}, "Pending", "Pending", "0/3", []),
        ({"active": 3}, "Running", "Running", "0/3", []),
        ({"active": 2, "completedIndexes": "0"}, "Running", "Running", "1/3", []),
        ({"active": 2, "completedIndexes": "0,2", "failed": 1}, "Running", "Running", "2/3",
         ["PartitionRetried"]),
    ],
)  # fmt: skip
def test_progress_while_running(
    job_status: dict[str, Any], outcome: str, phase: str, progress: str, events: list[str]
) -> None:
    world = bp.BatchWorld(model_version(), None, dataset(), job(**job_status), JobOutcome(outcome))  # type: ignore[arg-type]
    decision = bp.decide(started(), world, NOW, CONFIG)
    assert not decision.create and not decision.done
    assert (decision.status["phase"], decision.status["progress"]) == (phase, progress)
    assert [e.reason for e in decision.events] == events
    assert ready(decision) == ("False", "Predicting")


def result(index: int, rows: int, ok: bool = True) -> dict[str, Any]:
    if not ok:
        return {"ok": False, "reason": "InvalidInput", "error": "spec.idColumns: customer"}
    return {"ok": True, "index": index, "rows": rows, "seconds": 1.5}


def test_success_sums_rows_and_computes_rows_per_second() -> None:
    outcome = JobOutcome(
        "Succeeded", start_time="2026-01-01T11:59:50Z", completion_time="2026-01-01T12:00:00Z"
    )  # type: ignore[arg-type]
    results: list[dict[str, Any] | None] = [result(0, 50), result(1, 50), result(2, 50)]
    world = bp.BatchWorld(
        model_version(), None, dataset(), job(succeeded=3, completedIndexes="0-2"), outcome, results
    )
    decision = bp.decide(started(), world, NOW, CONFIG)
    assert decision.done
    assert decision.status["phase"] == "Succeeded"
    assert (decision.status["rows"], decision.status["rowsPerSecond"]) == (150, 15.0)
    assert decision.status["progress"] == "3/3"
    assert ready(decision) == ("True", "Predicted")
    assert [e.reason for e in decision.events] == ["Predicted"]


def test_success_without_every_result_is_a_failure() -> None:
    world = bp.BatchWorld(
        model_version(), None, dataset(), job(completedIndexes="0-2"),
        JobOutcome("Succeeded"), [result(0, 1), None, result(2, 1)],  # type: ignore[arg-type]
    )  # fmt: skip
    decision = bp.decide(started(), world, NOW, CONFIG)
    assert ready(decision) == ("False", "ResultMissing")
    assert "1" in decision.conditions[0].message


def test_failed_partition_names_the_index_and_the_partition_reason() -> None:
    world = bp.BatchWorld(
        model_version(), None, dataset(),
        job(completedIndexes="0,2", failedIndexes="1", failed=3),
        JobOutcome("Failed", "FailedIndexes"),  # type: ignore[arg-type]
        [result(0, 1), result(1, 0, ok=False), result(2, 1)],
    )  # fmt: skip
    decision = bp.decide(started(), world, NOW, CONFIG)
    assert decision.done and decision.status["phase"] == "Failed"
    status, reason = ready(decision)
    assert (status, reason) == ("False", "InvalidInput")
    message = decision.conditions[0].message
    assert "partition(s) 1 of 3 failed after 3 attempt(s)" in message
    assert "spec.idColumns" in message
    assert decision.status["partitionsFailed"] == 1


def test_finished_run_is_not_redone_until_the_spec_changes() -> None:
    done = started(phase="Succeeded")
    assert bp.finished(done)
    assert bp.decide(done, bp.BatchWorld(), NOW, CONFIG).done
    changed = {**done, "metadata": {**done["metadata"], "generation": 2}}
    assert not bp.finished(changed)
    assert bp.job_name(changed) != bp.job_name(done)


@pytest.mark.parametrize(
    ("text", "indexes"), [(None, set()), ("", set()), ("3", {3}), ("0-2,5", {0, 1, 2, 5})]
)
def test_parse_indexes(text: str | None, indexes: set[int]) -> None:
    assert parse_indexes(text) == indexes


def test_a_change_of_what_it_reads_wakes_it() -> None:
    batches = [started(), body(FROM_DEPLOYMENT)]
    batches[1]["metadata"] = {**batches[1]["metadata"], "name": "daily"}

    def lookup(kind: str, namespace: str) -> list[dict[str, Any]]:
        return batches if kind == "BatchPrediction" else []

    def changed(kind: str, name: str) -> set[tuple[str, str, str]]:
        obj = {"kind": kind, "metadata": {"name": name, "namespace": "ml"}, "spec": {}}
        return dependents(obj, lookup)

    assert changed("Dataset", "iris") == {("BatchPrediction", "ml", "nightly")}
    assert changed("Dataset", "other") == set()
    assert changed("ModelDeployment", "web") == {("BatchPrediction", "ml", "daily")}
    assert ("BatchPrediction", "ml", "nightly") in changed("ModelVersion", "iris-v1")


def test_a_failed_attempt_counted_after_the_end_is_still_recorded() -> None:
    done = started(phase="Succeeded", podFailures=0)
    late = bp.BatchWorld(job=job(completedIndexes="0-2", failed=1))
    decision = bp.decide(done, late, NOW, CONFIG)
    assert decision.done and not decision.create
    assert decision.status == {"podFailures": 1}
    assert [e.reason for e in decision.events] == ["PartitionRetried"]
    # Uncounted failures (the Job controller's first step) count too.
    pending = job(uncountedTerminatedPods={"failed": ["uid-1"]}, failed=1)
    world = bp.BatchWorld(model_version(), None, dataset(), pending, JobOutcome("Running"))  # type: ignore[arg-type]
    assert bp.decide(started(), world, NOW, CONFIG).status["podFailures"] == 2
