"""Who a change wakes: children wake their owners, our kinds wake the objects that read them."""

from __future__ import annotations

from typing import Any

from mlops_operator.reconcile.dependencies import dependents, owners


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ml", **meta},
        "spec": spec or {},
    }


CLUSTER = {
    "TrainingJob": [
        obj("TrainingJob", "iris-lr", {"datasetRef": {"name": "iris"}}),
        obj("TrainingJob", "wine-rf", {"datasetRef": {"name": "wine"}}),
    ],
    "DriftMonitor": [
        obj("DriftMonitor", "on-iris-data", {"target": {"datasetRef": {"name": "iris"}}}),
        obj(
            "DriftMonitor",
            "vs-iris",
            {"target": {"datasetRef": {"name": "x"}}, "reference": {"name": "iris"}},
        ),
        obj("DriftMonitor", "on-serving", {"target": {"deploymentRef": {"name": "iris"}}}),
    ],
    "ModelDeployment": [
        obj("ModelDeployment", "iris", {"model": {"name": "iris"}}),
        obj("ModelDeployment", "pinned", {"modelVersionRef": {"name": "iris-v1"}}),
        obj("ModelDeployment", "wine", {"model": {"name": "wine"}}),
    ],
}


def lookup(kind: str, namespace: str) -> list[dict[str, Any]]:
    assert namespace == "ml"
    return CLUSTER.get(kind, [])


def test_a_child_wakes_its_owner_by_label_and_by_owner_reference() -> None:
    pod = {"metadata": {"name": "iris-abc", "namespace": "ml",
                        "labels": {"mlops.dev/modeldeployment": "iris", "app": "x"}}}  # fmt: skip
    assert owners(pod) == {("ModelDeployment", "ml", "iris")}
    retrain = obj("TrainingJob", "mon-retrain-1", ownerReferences=[
        {"apiVersion": "mlops.dev/v1alpha1", "kind": "DriftMonitor", "name": "mon", "uid": "u"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "v"},
    ])  # fmt: skip
    assert owners(retrain) == {("DriftMonitor", "ml", "mon")}
    assert owners({"metadata": {"name": "other", "namespace": "ml", "labels": {"a": "b"}}}) == set()


def test_a_dataset_wakes_its_trainers_and_monitors_only() -> None:
    woken = dependents(obj("Dataset", "iris"), lookup)
    assert woken == {
        ("TrainingJob", "ml", "iris-lr"),
        ("DriftMonitor", "ml", "on-iris-data"),
        ("DriftMonitor", "ml", "vs-iris"),
    }


def test_a_model_version_wakes_deployments_that_pin_it_or_follow_its_model() -> None:
    woken = dependents(obj("ModelVersion", "iris-v1", {"model": "iris"}), lookup)
    assert ("ModelDeployment", "ml", "iris") in woken
    assert ("ModelDeployment", "ml", "pinned") in woken
    assert ("ModelDeployment", "ml", "wine") not in woken
    assert ("DriftMonitor", "ml", "on-serving") in woken  # its reference follows the version


def test_a_model_deployment_wakes_the_monitors_watching_it() -> None:
    assert dependents(obj("ModelDeployment", "iris"), lookup) == {
        ("DriftMonitor", "ml", "on-serving")
    }
    assert dependents(obj("TrainingJob", "iris-lr"), lookup) == set()
