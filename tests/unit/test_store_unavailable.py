"""A store that cannot be reached is not a bad artifact or a failed Job: a ModelVersion stays
due and a Dataset's run stays open, both look again soon and warn once per outage; the store
maps connection errors to StoreUnavailable naming the URI and the endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.artifacts import Store, StoreUnavailable
from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import dataset
from mlops_operator.reconcile import modelversion as mv
from mlops_operator.reconcile.jobs import JobOutcome

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DOWN = ("StoreUnavailable", "the store cannot be reached for s3://b/m.onnx: refused")


def body(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "iris-v1", "namespace": "ml", "generation": 1},
        "spec": {"model": "iris", "version": 1,
                 "artifact": {"uri": "s3://b/m.onnx", "format": "onnx", "sha256": "e" * 64}},
        "status": status,
    }  # fmt: skip


def test_an_unreachable_store_is_retried_soon_and_warned_once() -> None:
    first = mv.decide(body(), DOWN, NOW)
    assert first.status["phase"] == "Pending" and "verifiedAt" not in first.status
    assert (first.conditions[0].status, first.conditions[0].reason) == ("False", DOWN[0])
    assert [(e.type, e.reason) for e in first.events] == [("Warning", DOWN[0])]
    assert first.requeue_after == mv.STORE_RETRY_AFTER.total_seconds()
    assert not first.done

    ready_down = {"type": "Ready", "status": "False", "reason": DOWN[0], "message": DOWN[1]}
    again = body(observedGeneration=1, phase="Pending", conditions=[ready_down])
    assert mv.needs_verification(again, NOW)  # still due: no verifiedAt was written
    second = mv.decide(again, DOWN, NOW)
    assert second.events == [] and second.requeue_after == first.requeue_after

    back = mv.decide(again, None, NOW)
    assert back.status["phase"] == "Ready" and back.conditions[0].reason == "Verified"


def test_a_refused_connection_becomes_store_unavailable() -> None:
    store = Store(
        "s3://b/root",
        storage_options={"key": "k", "secret": "s", "endpoint_url": "http://127.0.0.1:1",
                         "config_kwargs": {"retries": {"max_attempts": 1}}},
    )  # fmt: skip
    with pytest.raises(StoreUnavailable, match=r"s3://b/root/m\.onnx.*127\.0\.0\.1:1"):
        store.read_bytes("m.onnx")


def test_a_profile_result_the_store_cannot_give_keeps_the_run_open() -> None:
    plain = {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": {"source": {"uri": "sklearn://iris"}}, "status": {},
    }  # fmt: skip
    down = {"ok": False, "reason": DOWN[0], "error": DOWN[1], "unread": True}  # the reader's
    first = dataset.decide(plain, JobOutcome("Succeeded"), down, NOW, OperatorConfig())
    assert "completedRun" not in first.status and first.status["phase"] == "Profiling"
    assert [(c.status, c.reason, c.message) for c in first.conditions] == [("False", *DOWN)]
    assert [(e.type, e.reason) for e in first.events] == [("Warning", DOWN[0])]
    assert first.requeue_after == dataset.STORE_RETRY_SECONDS

    ready_down = {"type": "Ready", "status": "False", "reason": DOWN[0], "message": DOWN[1]}
    plain["status"] = {"phase": "Profiling", "conditions": [ready_down]}
    again = dataset.decide(plain, JobOutcome("Succeeded"), down, NOW, OperatorConfig())
    assert again.events == [] and "completedRun" not in again.status
