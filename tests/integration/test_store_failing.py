"""A failing store seen by the operator on the real control plane: the newest sample file of a
deployment is truncated (what a server killed in the middle of a write, or a volume that filled
up under an older server, leaves behind). The DriftMonitor says so in its conditions and one
Warning Event, its reconcile does not raise, the check is tried again at its interval, and
once the file is gone the next check judges the window again."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client import REGISTRY
from tests.integration.operator import running_operator
from tests.integration.test_drift_monitor import (
    drifted,
    drifted_requests,
    monitor,
    serve,
    train_served_model,
    write_samples,
)
from tests.support.cluster import Objects, wait_for

from mlops_operator.artifacts import paths

pytestmark = pytest.mark.integration


def _events(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[Any]:
    core = kubernetes.client.CoreV1Api(api)
    selector = f"involvedObject.kind=DriftMonitor,involvedObject.name={name}"
    return list(core.list_namespaced_event(namespace, field_selector=selector).items)


def _count(name: str, **labels: str) -> float:
    """A series of the in-process operator's own registry (what its /metrics exports)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_unreadable_samples_set_conditions_and_the_check_recovers(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    with running_operator(namespace):
        mv = train_served_model(kube_api, namespace, objects, tmp_path)
        version = mv["metadata"]["name"]
        serve(kube_api, objects, version)
        write_samples(store, namespace, version, drifted_requests(mv, store))
        # The newest file: the first half of a valid Parquet file.
        whole = io.BytesIO()
        pq.write_table(pa.table({"x": [1.0] * 100}), whole)
        directory = Path(store.removeprefix("file://")) / paths.samples_dir(
            namespace, "iris", version
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        truncated = directory / f"{stamp}-deadbeef.parquet"
        truncated.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
        errors_before = _count("mlops_reconcile_total", kind="DriftMonitor", outcome="error")

        objects.create(monitor("m"))  # a check every 10 s
        checks = {"namespace": namespace, "monitor": "m", "result": "error"}
        wait_for(
            lambda: _count("mlops_drift_checks_total", **checks) >= 2,
            90,
            what="two failed checks, one interval apart",
        )
        ready = objects.condition("DriftMonitor", "m", "Ready")
        assert ready and (ready["status"], ready["reason"]) == ("False", "SamplesUnreadable")
        assert truncated.name in ready["message"], ready["message"]
        verdict = drifted(objects, "m", "Unknown")
        assert verdict and verdict["reason"] == "SamplesUnreadable", verdict
        status = objects.get("DriftMonitor", "m")["status"]
        assert (
            status["observedGeneration"]
            == objects.get("DriftMonitor", "m")["metadata"]["generation"]
        )
        # One Warning for the reason, not one per failed check; the reconcile never raised.
        warnings = [e for e in _events(kube_api, namespace, "m") if e.reason == "SamplesUnreadable"]
        assert [(e.type, e.count or 1) for e in warnings] == [("Warning", 1)], warnings
        assert truncated.name in warnings[0].message
        after = _count("mlops_reconcile_total", kind="DriftMonitor", outcome="error")
        assert after == errors_before

        # The file is gone (deleted, or moved aside by an operator): the next check judges.
        truncated.unlink()
        wait_for(lambda: drifted(objects, "m", "True"), 60, what="Drifted=True")
        ready = objects.condition("DriftMonitor", "m", "Ready")
        assert ready and ready["status"] == "True", ready
        status = objects.get("DriftMonitor", "m")["status"]
        assert status["samples"] == 600 and status["driftShare"] >= 0.5, status
