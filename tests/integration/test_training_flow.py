"""Dataset -> profile Job -> TrainingJob -> training Job -> ModelVersion, on the real control plane.

Job pods have no kubelet here: the test runs the pod's own command in-process on the same
artifact store, then reports the pod terminated as a kubelet would; the real Job controller
turns that into the Job's status, which the operator reads.
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.support.cluster import Objects, wait_for
from tests.support.kubelet import finish_pod

from mlops_operator.cli import main as cli

pytestmark = pytest.mark.integration

IRIS = {
    "apiVersion": "mlops.dev/v1alpha1",
    "kind": "Dataset",
    "metadata": {"name": "iris"},
    "spec": {
        "source": {"uri": "sklearn://iris"},
        "validation": {
            "minRows": 100,
            "rules": [{"column": "sepal_length_cm", "check": "range", "min": 0, "max": 20}],
        },
    },
}


def training_job(name: str = "iris-lr", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "datasetRef": {"name": "iris"},
            "model": "iris",
            "estimator": "LogisticRegression",
            "hyperparameters": {"max_iter": 500},
            "target": "target",
            "acceptance": [{"metric": "accuracy", "min": 0.8}],
            **spec,
        },
    }


def get_job(api: kubernetes.client.ApiClient, namespace: str, label: str) -> Any:
    batch = kubernetes.client.BatchV1Api(api)
    jobs = batch.list_namespaced_job(namespace, label_selector=label).items
    return jobs[0] if len(jobs) == 1 else None


def run_job_in_process(job: Any, namespace: str, tmp_path: Any) -> None:
    """Run the Job's container command here, as its pod would."""
    args = list(job.spec.template.spec.containers[0].args)
    assert cli([*args, "--termination-log", str(tmp_path / f"{job.metadata.name}.log")]) == 0


def complete(api: kubernetes.client.ApiClient, namespace: str, job: Any, tmp_path: Any) -> None:
    run_job_in_process(job, namespace, tmp_path)
    finish_pod(api, namespace, job.metadata.name)


def ready(objects: Objects, kind: str, name: str) -> dict[str, Any] | None:
    condition = objects.condition(kind, name, "Ready")
    return condition if condition and condition["status"] == "True" else None


def create_iris(
    api: kubernetes.client.ApiClient, namespace: str, objects: Objects, timeout: float = 60
) -> Any:
    """Create the iris Dataset and return its profile Job once the operator made it."""
    objects.create(IRIS)
    return wait_for(
        lambda: get_job(api, namespace, "mlops.dev/dataset=iris"), timeout, what="profile Job"
    )


def ready_iris(
    api: kubernetes.client.ApiClient, namespace: str, objects: Objects, tmp_path: Any
) -> None:
    """Create the iris Dataset, run its profile Job as a pod would, wait until it is Ready."""
    profile = create_iris(api, namespace, objects)
    complete(api, namespace, profile, tmp_path)
    wait_for(lambda: ready(objects, "Dataset", "iris"), 60, what="Dataset Ready")


def test_dataset_profile_job_spec_and_ready(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Any,
) -> None:
    with running_operator(namespace):
        job = create_iris(kube_api, namespace, objects, 30)

        pod = job.spec.template.spec
        container = pod.containers[0]
        assert job.metadata.owner_references[0].kind == "Dataset"
        assert job.metadata.labels["app.kubernetes.io/managed-by"] == "mlops-operator"
        assert container.args[0] == "profile" and "--result-uri" in container.args
        assert pod.security_context.run_as_non_root is True
        assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
        assert container.security_context.allow_privilege_escalation is False
        assert container.security_context.capabilities.drop == ["ALL"]
        assert pod.restart_policy == "Never"

        complete(kube_api, namespace, job, tmp_path)
        wait_for(lambda: ready(objects, "Dataset", "iris"), 60, what="Dataset Ready")
        status = objects.get("Dataset", "iris")["status"]
        assert status["rows"] == 150 and status["columns"] == 5
        assert len(status["version"]) == 64
        assert status["history"][0]["version"] == status["version"]
        assert status["observedGeneration"] == 1
        assert all(rule["passed"] for rule in status["validation"])


def test_training_job_registers_model_version(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Any,
) -> None:
    with running_operator(namespace):
        objects.create(training_job())
        waiting = wait_for(
            lambda: objects.condition("TrainingJob", "iris-lr", "Ready"), 30, what="Ready condition"
        )
        assert waiting["reason"] == "DatasetNotFound"
        assert get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-lr") is None

        profile = create_iris(kube_api, namespace, objects, 30)
        complete(kube_api, namespace, profile, tmp_path)

        train = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-lr"),
            60,
            what="train Job",
        )
        assert train.spec.backoff_limit == 1
        complete(kube_api, namespace, train, tmp_path)

        wait_for(lambda: ready(objects, "TrainingJob", "iris-lr"), 60, what="TrainingJob Ready")
        status = objects.get("TrainingJob", "iris-lr")["status"]
        assert status["phase"] == "Succeeded"
        assert status["metrics"]["accuracy"] > 0.8
        mv_name = status["modelVersion"]
        assert mv_name == "iris-v1"

        wait_for(lambda: ready(objects, "ModelVersion", mv_name), 60, what="ModelVersion Ready")
        mv = objects.get("ModelVersion", mv_name)
        dataset = objects.get("Dataset", "iris")
        assert mv["spec"]["version"] == 1
        assert mv["spec"]["lineage"]["trainingJob"] == "iris-lr"
        assert mv["spec"]["lineage"]["dataset"] == {
            "name": "iris",
            "version": dataset["status"]["version"],
        }
        assert mv["spec"]["artifact"]["format"] in ("onnx", "skops")
        assert "ownerReferences" not in mv["metadata"]


def test_failed_job_sets_reason(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Any,
) -> None:
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)

        objects.create(training_job("oom", backoffLimit=0))
        job = wait_for(lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=oom"), 30)
        finish_pod(kube_api, namespace, job.metadata.name, exit_code=137, reason="OOMKilled")
        failed = wait_for(
            lambda: (
                objects.get("TrainingJob", "oom")["status"].get("phase") == "Failed"
                and objects.get("TrainingJob", "oom")["status"]
            ),
            60,
            what="TrainingJob Failed",
        )
        assert failed["failureReason"] == "OOMKilled"
        ready_condition = objects.condition("TrainingJob", "oom", "Ready")
        assert ready_condition and ready_condition["status"] == "False"
