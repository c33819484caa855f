"""The controller core reacts to events: a child's change reaches its owner without a timer,
an unchanged world costs no request, and deleting an owner is not held up by the operator.

The operator runs with a resync period of an hour (conftest), so anything that happens here
within seconds was driven by a watch event.
"""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import pytest
from prometheus_client import REGISTRY
from tests.integration.operator import running_operator
from tests.integration.test_training_flow import complete, create_iris, get_job, ready
from tests.support.cluster import Objects, wait_for

pytestmark = pytest.mark.integration


def requests_sent() -> float:
    """The in-process operator's own requests to the API server (watch streams excluded)."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "mlops_operator_api_requests":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def quiet_for(seconds: float) -> bool:
    before = requests_sent()
    time.sleep(seconds)
    return requests_sent() == before


def test_a_finished_job_reaches_the_dataset_status_through_its_watch_event(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Any,
) -> None:
    with running_operator(namespace):
        job = create_iris(kube_api, namespace, objects, 30)
        # The Job controller has started the Job's pod (no kubelet runs it): nothing moves now.
        wait_for(
            lambda: (
                "running"
                in (objects.condition("Dataset", "iris", "Ready") or {}).get("message", "")
            ),
            30,
            what="the Dataset to report its Job running",
        )
        # Settled: nothing changes, so the operator asks the API server for nothing.
        wait_for(lambda: quiet_for(3), 30, what="the operator to settle")
        assert quiet_for(5), "the operator sent requests while nothing changed (polling)"

        complete(kube_api, namespace, job, tmp_path)  # the pod ends; the Job controller reports
        status = wait_for(lambda: ready(objects, "Dataset", "iris"), 30, what="Dataset Ready")
        assert status["reason"] == "Profiled"
        assert objects.get("Dataset", "iris")["status"]["rows"] == 150


def test_deleting_an_owner_is_not_held_by_a_finalizer_and_its_children_go(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
) -> None:
    with running_operator(namespace):
        create_iris(kube_api, namespace, objects, 30)
        assert not objects.get("Dataset", "iris")["metadata"].get("finalizers")
        objects.delete("Dataset", "iris")
        wait_for(lambda: not objects.list("Dataset"), 30, what="the Dataset to be gone")
        wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/dataset=iris") is None,
            60,
            what="the garbage collector to remove the profile Job",
        )


def test_an_owner_deleted_with_orphan_propagation_leaves_its_children(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
) -> None:
    """The operator deletes a deleted owner's children itself (faster than the garbage
    collector's request rate), but never the children a user asked to keep."""
    with running_operator(namespace):
        create_iris(kube_api, namespace, objects, 30)
        objects.custom.delete_namespaced_custom_object(
            "mlops.dev", "v1alpha1", namespace, "datasets", "iris",
            body={"propagationPolicy": "Orphan"},
        )  # fmt: skip
        wait_for(lambda: not objects.list("Dataset"), 30, what="the Dataset to be gone")
        time.sleep(3)  # time for a wrongful delete to land
        job = get_job(kube_api, namespace, "mlops.dev/dataset=iris")
        assert job is not None and job.metadata.deletion_timestamp is None
        assert not job.metadata.owner_references
