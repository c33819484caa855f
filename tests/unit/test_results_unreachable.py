"""A finished Job whose result the store cannot give (the endpoint is unreachable) keeps its
run open, for every kind that reads one: Ready=False StoreUnavailable with the reader's
message, one Warning per outage, read again in 30 s, nothing registered or recorded as failed;
once the result is read the run ends as it would have. A result the pod itself wrote with
reason StoreUnavailable is the Job's outcome, not an outage of the operator's read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tests.unit import test_reconcile_batchprediction as bpt
from tests.unit import test_reconcile_trainingjob as tjt
from tests.unit import test_search as tst

from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import batchprediction as bp
from mlops_operator.reconcile import dataset, outage
from mlops_operator.reconcile import trainingjob as tj
from mlops_operator.reconcile.jobs import JobOutcome
from mlops_operator.reconcile.search import decide as search
from mlops_operator.reconcile.search import trials

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MESSAGE = ('the store cannot be reached for s3://b/results/r.json: Could not connect to the '
           'endpoint URL: "http://127.0.0.1:9000/b/results/r.json"')  # fmt: skip
UNREAD = outage.unread_result(MESSAGE)
READY_DOWN = {"type": "Ready", "status": "False", "reason": "StoreUnavailable", "message": MESSAGE}


def ready(decision: Any) -> tuple[str, str, str]:
    cond = next(c for c in decision.conditions if c.type == "Ready")
    return cond.status, cond.reason, cond.message


def warnings(decision: Any) -> list[str]:
    return [e.reason for e in decision.events if e.type == "Warning"]


def test_only_the_readers_mark_is_an_outage() -> None:
    assert outage.unread(UNREAD) == MESSAGE
    pod_said = {"ok": False, "reason": "StoreUnavailable", "error": MESSAGE}
    assert outage.unread(pod_said) is None
    assert outage.unread(None) is None and outage.unread({"ok": True}) is None


# --- TrainingJob ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["Succeeded", "Failed"])
def test_a_training_result_the_store_cannot_give_keeps_the_run_open(state: str) -> None:
    world = tj.TrainingWorld(tjt.dataset(), JobOutcome(state), UNREAD, [])  # type: ignore[arg-type]
    first = tj.decide(tjt.body(), world, tjt.no_errors, OperatorConfig())
    assert not first.done and not first.create  # no ModelVersion from an unread result
    assert first.status["phase"] == "Running" and "failureReason" not in first.status
    assert ready(first) == ("False", "StoreUnavailable", MESSAGE)
    assert warnings(first) == ["StoreUnavailable"]
    assert first.requeue_after == outage.STORE_RETRY_SECONDS

    still_down = tjt.body()
    still_down["status"] = {**first.status, "conditions": [READY_DOWN]}
    again = tj.decide(still_down, world, tjt.no_errors, OperatorConfig())
    assert warnings(again) == [] and not again.done and not again.create
    assert again.requeue_after == outage.STORE_RETRY_SECONDS


def test_a_training_result_read_after_the_outage_registers_one_model_version() -> None:
    held = tjt.body()
    held["status"] = {"phase": "Running", "conditions": [READY_DOWN]}
    world = tj.TrainingWorld(tjt.dataset(), JobOutcome("Succeeded"), tjt.ACCEPTED, [])
    claim = tj.decide(held, world, tjt.no_errors, OperatorConfig())
    [mv] = claim.create
    assert mv["kind"] == "ModelVersion" and mv["metadata"]["name"] == "iris-v1"
    assert warnings(claim) == []


def test_a_training_pod_that_reported_store_unavailable_failed() -> None:
    """The pod could not use the store while it ran and said so: that run failed."""
    pod_said = {"ok": False, "reason": "StoreUnavailable", "error": MESSAGE}
    world = tj.TrainingWorld(tjt.dataset(), JobOutcome("Failed"), pod_said, [])  # type: ignore[arg-type]
    decision = tj.decide(tjt.body(), world, tjt.no_errors, OperatorConfig())
    assert decision.done and decision.status["phase"] == "Failed"
    assert ready(decision)[:2] == ("False", "StoreUnavailable")
    assert decision.requeue_after is None


# --- a search's trials ---------------------------------------------------------------------


def test_a_trial_result_the_store_cannot_give_is_not_a_failed_trial() -> None:
    trial = trials.trial_state(0, "t0", {}, JobOutcome("Succeeded"), UNREAD, "accuracy")  # type: ignore[arg-type]
    assert trial.state == "Running" and not trial.finished and trial.reason == "StoreUnavailable"

    plain = tst.body({"maxTrials": 1, "parallelism": 1}, {"search": {"created": 1}})
    world = search.SearchWorld([trial], 1)

    def never(*args: Any) -> Any:
        raise AssertionError("nothing is built or registered while a result is unread")

    decision = search.decide_search(plain, world, never, never)
    assert not decision.done and decision.status["phase"] == "Running"
    assert ready(decision) == ("False", "StoreUnavailable", MESSAGE)
    assert warnings(decision) == ["StoreUnavailable"]
    assert decision.requeue_after == outage.STORE_RETRY_SECONDS


# --- BatchPrediction -----------------------------------------------------------------------


def _batch_world(state: str, results: list[dict[str, Any] | None]) -> bp.BatchWorld:
    job = bpt.job(succeeded=3, completedIndexes="0-2") if state == "Succeeded" else bpt.job(
        completedIndexes="0,2", failedIndexes="1", failed=3
    )  # fmt: skip
    return bp.BatchWorld(
        bpt.model_version(),
        None,
        bpt.dataset(),
        job,
        JobOutcome(state),
        results,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("state", ["Succeeded", "Failed"])
def test_a_partition_result_the_store_cannot_give_keeps_the_run_open(state: str) -> None:
    # The reader stops at the first result it cannot read: the rest are read again with it.
    world = _batch_world(state, [bpt.result(0, 50), UNREAD])
    first = bp.decide(bpt.started(), world, NOW, bp_config())
    assert not first.done and first.status["phase"] == "Running"
    assert "completedAt" not in first.status and "failureReason" not in first.status
    assert ready(first) == ("False", "StoreUnavailable", MESSAGE)
    assert warnings(first).count("StoreUnavailable") == 1  # (and PartitionRetried if it failed)
    assert first.requeue_after == outage.STORE_RETRY_SECONDS

    still_down = bpt.started(**{**first.status, "conditions": [READY_DOWN]})
    again = bp.decide(still_down, world, NOW, bp_config())
    assert "StoreUnavailable" not in warnings(again)
    assert not again.done and again.status["phase"] == "Running"

    # The store is back: the run ends as it would have (the failed partition's own reason).
    read = [bpt.result(0, 50), bpt.result(1, 50, ok=state == "Succeeded"), bpt.result(2, 50)]
    done = bp.decide(still_down, _batch_world(state, read), NOW, bp_config())
    assert done.done and done.status["phase"] == state and not done.create
    assert ready(done)[1] == ("Predicted" if state == "Succeeded" else "InvalidInput")
    assert "StoreUnavailable" not in warnings(done)


def bp_config() -> OperatorConfig:
    return OperatorConfig()


# --- Dataset: a pod's own StoreUnavailable is its outcome -----------------------------------


def test_a_profile_pod_that_reported_store_unavailable_failed() -> None:
    plain = {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": {"source": {"uri": "sklearn://iris"}}, "status": {},
    }  # fmt: skip
    pod_said = {"ok": False, "reason": "StoreUnavailable", "error": MESSAGE}
    decision = dataset.decide(plain, JobOutcome("Failed"), pod_said, NOW, OperatorConfig())
    assert decision.status["phase"] == "Failed" and decision.status["completedRun"] == "1/0"
    assert ready(decision)[:2] == ("False", "StoreUnavailable")
    assert warnings(decision) == ["StoreUnavailable"]


# --- ModelDeployment: a champion/challenger comparison ---------------------------------------


def test_a_compare_result_the_store_cannot_give_is_not_a_lost_challenger() -> None:
    from tests.unit.test_reconcile_modeldeployment import CONFIG, PARENT
    from tests.unit.test_rollout_challenge import Row, job, observed, result

    from mlops_operator.reconcile.modeldeployment import Comparison, comparison_due, decide
    from mlops_operator.reconcile.rollout.challenge import UNREADABLE

    row = Row("down", comparison=Comparison("iris-v2", job(True), UNREAD))
    resource, world = observed(row)
    assert comparison_due(resource, world, NOW) == "iris-v2"
    first = decide(resource, world, CONFIG, NOW, PARENT).decision
    challenge = first.status["challenge"]
    assert challenge["verdict"] == "Comparing" and UNREADABLE in challenge["message"]
    assert MESSAGE in challenge["message"]
    assert not first.status.get("lostChallengers") and not first.delete  # Job kept, not lost
    assert warnings(first) == ["StoreUnavailable"]
    assert first.requeue_after == outage.STORE_RETRY_SECONDS
    progressing = next(c for c in first.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "StoreUnavailable")

    # Still down: no second Warning. Back: the verdict as it would have been.
    resource["status"] = {**resource["status"], "challenge": challenge}
    assert comparison_due(resource, world, NOW) == "iris-v2"  # its result is read again
    again = decide(resource, world, CONFIG, NOW, PARENT).decision
    assert warnings(again) == [] and again.status["challenge"]["verdict"] == "Comparing"
    back = Comparison("iris-v2", job(True), result(0.90, 0.95))
    _, world_back = observed(Row("back", comparison=back))
    won = decide(resource, world_back, CONFIG, NOW, PARENT).decision
    assert won.status["challenge"]["verdict"] == "Won" and warnings(won) == []
