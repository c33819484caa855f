"""TrainingJob decisions: waiting, bad input, every Job outcome, version numbering."""

from typing import Any

import pytest

from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import trainingjob as tj
from mlops_operator.reconcile.jobs import JobOutcome

SHA = "c" * 64
ENTRY = {"version": SHA, "snapshotUri": "file:///s/d.parquet", "profileUri": "file:///s/p.json"}


def body(generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "iris-lr", "namespace": "ml", "uid": "uid-1", "generation": generation},
        "spec": {"datasetRef": {"name": "iris"}, "model": "iris", "estimator": "LogisticRegression",
                 "target": "target", **spec},
        "status": {},
    }  # fmt: skip


def dataset(ready: bool = True, columns: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": {"uri": "sklearn://iris"}}
    if columns:
        spec["schema"] = {"columns": [{"name": c, "type": "numeric"} for c in columns]}
    return {
        "metadata": {"name": "iris"},
        "spec": spec,
        "status": {"version": SHA, "history": [ENTRY],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def no_errors(estimator: str, params: dict[str, Any]) -> list[str]:
    return []


def reason_of(decision: Any) -> str:
    return str(next(c.reason for c in decision.conditions if c.type == "Ready"))


@pytest.mark.parametrize(
    ("ds", "reason"),
    [(None, "DatasetNotFound"), (dataset(ready=False), "DatasetNotReady")],
)
def test_waits_for_the_dataset(ds: Any, reason: str) -> None:
    waiting, entry = tj.decide_before_job(body(), ds, no_errors)
    assert entry is None and waiting is not None
    assert reason_of(waiting) == reason and waiting.status["phase"] == "Pending"
    assert not waiting.done and not waiting.create


def test_bad_hyperparameters_fail_before_any_job() -> None:
    def errors(estimator: str, params: dict[str, Any]) -> list[str]:
        return ["max_iterz: unknown parameter of LogisticRegression (did you mean max_iter?)"]

    failed, entry = tj.decide_before_job(body(), dataset(), errors)
    assert entry is None and failed is not None and failed.done
    assert reason_of(failed) == "InvalidHyperparameters"
    assert "max_iterz" in failed.status["failureMessage"]
    assert failed.events[0].type == "Warning"


def test_target_not_in_schema_is_named() -> None:
    failed, _ = tj.decide_before_job(body(), dataset(columns=["a", "b"]), no_errors)
    assert failed is not None and reason_of(failed) == "TargetNotInSchema"
    assert "'target'" in failed.status["failureMessage"]


def test_pinned_version_that_does_not_exist() -> None:
    pinned = body(datasetRef={"name": "iris", "version": "d" * 12})
    failed, _ = tj.decide_before_job(pinned, dataset(), no_errors)
    assert failed is not None and reason_of(failed) == "DatasetVersionNotFound"


def test_ready_dataset_gives_the_version_to_train_on() -> None:
    waiting, entry = tj.decide_before_job(body(), dataset(), no_errors)
    assert waiting is None and entry == ENTRY


def test_missing_job_is_created() -> None:
    job = {"metadata": {"name": tj.train_job_name(body())}}
    decision = tj.decide_job(body(), ENTRY, JobOutcome("Missing"), None, job)
    assert decision.create == [job] and decision.status["datasetVersion"] == SHA


@pytest.mark.parametrize(
    ("outcome", "result", "reason"),
    [
        (JobOutcome("Failed", "OOMKilled"), None, "OOMKilled"),
        (JobOutcome("Failed", "DeadlineExceeded"), None, "DeadlineExceeded"),
        (JobOutcome("Failed", "BackoffLimitExceeded"), None, "BackoffLimitExceeded"),
        (JobOutcome("Failed", "BackoffLimitExceeded"),
         {"ok": False, "reason": "InvalidInput", "error": "target 'y' is not a column"}, "InvalidInput"),
        (JobOutcome("Succeeded"), {"ok": True, "metrics": {"accuracy": 0.5}, "accepted": False,
                                   "failures": ["accuracy 0.5000 < min 0.9"]}, "AcceptanceFailed"),
        (JobOutcome("Succeeded"), None, "ResultMissing"),
    ],
)  # fmt: skip
def test_job_outcomes(outcome: JobOutcome, result: Any, reason: str) -> None:
    decision = tj.decide_job(body(), ENTRY, outcome, result, {})
    assert decision.done and decision.status["phase"] == "Failed"
    assert decision.status["failureReason"] == reason == reason_of(decision)


def test_acceptance_failure_names_metric_and_threshold() -> None:
    result = {"ok": True, "metrics": {"accuracy": 0.5}, "accepted": False,
              "failures": ["accuracy 0.5000 < min 0.9"]}  # fmt: skip
    decision = tj.decide_job(body(), ENTRY, JobOutcome("Succeeded"), result, {})
    assert "accuracy 0.5000 < min 0.9" in decision.status["failureMessage"]


def test_accepted_result_leaves_registration_to_the_caller() -> None:
    result = {"ok": True, "metrics": {"accuracy": 0.97}, "accepted": True}
    decision = tj.decide_job(body(), ENTRY, JobOutcome("Succeeded"), result, {})
    assert not decision.done and decision.status["metrics"] == {"accuracy": 0.97}
    tj.succeeded(decision, "iris-v3")
    assert (
        decision.status["phase"] == "Succeeded" and reason_of(decision) == "ModelVersionRegistered"
    )


def test_versions_increase_per_model() -> None:
    existing = [{"spec": {"model": "iris", "version": 1}}, {"spec": {"model": "iris", "version": 4}},
                {"spec": {"model": "wine", "version": 9}}]  # fmt: skip
    assert tj.next_version(existing, "iris") == 5
    assert tj.next_version(existing, "new") == 1


def test_registration_is_found_again_after_a_restart() -> None:
    result = {"task": "classification", "artifact": {}, "signature": {}, "metrics": {},
              "dataset": {"name": "iris", "version": SHA}}  # fmt: skip
    mv = tj.model_version_manifest(body(), result, 2, {}, "img")
    assert tj.registered_by([mv], body()) is mv
    assert tj.registered_by([mv], body(generation=2)) is None
    assert mv["metadata"]["name"] == "iris-v2" and "ownerReferences" not in mv["metadata"]


def test_job_name_changes_with_generation_only() -> None:
    assert tj.train_job_name(body()) == tj.train_job_name(body())
    assert tj.train_job_name(body()) != tj.train_job_name(body(generation=2))
    assert len(tj.train_job_name({"metadata": {"name": "x" * 63, "generation": 1}})) <= 63


ACCEPTED = {"ok": True, "task": "classification", "artifact": {"uri": "u", "format": "onnx",
            "sha256": "d" * 64}, "signature": {}, "metrics": {"accuracy": 0.97}, "accepted": True,
            "dataset": {"name": "iris", "version": SHA}}  # fmt: skip


def test_the_whole_plan_creates_the_training_job_when_none_exists() -> None:
    world = tj.TrainingWorld(dataset(), JobOutcome("Missing"))
    decision = tj.decide(body(), world, no_errors, OperatorConfig())
    [job] = decision.create
    assert job["kind"] == "Job" and job["metadata"]["name"] == tj.train_job_name(body())
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert job["metadata"]["labels"]["mlops.dev/trainingjob"] == "iris-lr"
    assert decision.requeue_after is None  # the Job's own changes wake the TrainingJob


def test_an_accepted_result_claims_the_next_version_then_succeeds_once_it_exists() -> None:
    others = [{"metadata": {"name": "iris-v4"}, "spec": {"model": "iris", "version": 4}}]
    world = tj.TrainingWorld(dataset(), JobOutcome("Succeeded"), ACCEPTED, others)
    claim = tj.decide(body(), world, no_errors, OperatorConfig())
    [mv] = claim.create
    assert mv["kind"] == "ModelVersion" and mv["metadata"]["name"] == "iris-v5"
    assert mv["spec"]["lineage"]["image"] == OperatorConfig().image
    assert not claim.done and claim.status.get("phase") != "Succeeded"
    # nothing else may wake it if the number was taken meanwhile: look again soon
    assert claim.requeue_after == tj.REGISTER_RETRY_SECONDS

    registered = tj.TrainingWorld(dataset(), JobOutcome("Succeeded"), ACCEPTED, [*others, mv])
    done = tj.decide(body(), registered, no_errors, OperatorConfig())
    assert not done.create and done.done
    assert done.status["phase"] == "Succeeded" and done.status["modelVersion"] == "iris-v5"
    assert [e.reason for e in done.events] == ["ModelVersionRegistered"]


def test_a_finished_generation_observes_nothing_more() -> None:
    finished = body()
    finished["status"] = {"phase": "Succeeded", "observedGeneration": 1}
    assert tj.finished(finished) and not tj.finished(body())
    decision = tj.decide(finished, tj.TrainingWorld(dataset()), no_errors, OperatorConfig())
    assert decision.done and not decision.create and decision.requeue_after is None
