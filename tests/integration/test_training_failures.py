"""Bad input and crashes around training: clear status, Events, nothing created twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.integration.test_training_flow import (
    IRIS,
    complete,
    get_job,
    ready,
    ready_iris,
    training_job,
)
from tests.support.cluster import Objects, wait_for

pytestmark = pytest.mark.integration


def events_for(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[Any]:
    core = kubernetes.client.CoreV1Api(api)
    selector = f"involvedObject.name={name}"
    return list(core.list_namespaced_event(namespace, field_selector=selector).items)


def failed_status(objects: Objects, kind: str, name: str) -> dict[str, Any] | None:
    status = objects.get(kind, name).get("status") or {}
    return status if status.get("phase") in ("Failed", "Invalid") else None


def test_unknown_hyperparameter_fails_before_any_job(
    kube_api: kubernetes.client.ApiClient, namespace: str, objects: Objects, store: str
) -> None:
    with running_operator(namespace):
        objects.create(training_job("typo", hyperparameters={"max_iterz": 10}))
        status = wait_for(lambda: failed_status(objects, "TrainingJob", "typo"), 30)
        assert status["failureReason"] == "InvalidHyperparameters"
        assert "max_iterz" in status["failureMessage"]
        warnings = wait_for(
            lambda: [e for e in events_for(kube_api, namespace, "typo") if e.type == "Warning"], 30
        )
        assert warnings[0].reason == "InvalidHyperparameters"
        assert get_job(kube_api, namespace, "mlops.dev/trainingjob=typo") is None


def test_unreadable_source_is_a_clear_dataset_failure(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    missing = {**IRIS, "metadata": {"name": "gone"}}
    missing["spec"] = {"source": {"uri": f"{store}/inputs/{namespace}/no-such.csv"}}
    with running_operator(namespace):
        objects.create(missing)
        job = wait_for(lambda: get_job(kube_api, namespace, "mlops.dev/dataset=gone"), 30)
        args = list(job.spec.template.spec.containers[0].args)
        from mlops_operator.cli import main as cli

        assert cli([*args, "--termination-log", str(tmp_path / "t.log")]) == 1
        from tests.support.kubelet import finish_pod

        finish_pod(kube_api, namespace, job.metadata.name, exit_code=1, reason="Error")
        status = wait_for(lambda: failed_status(objects, "Dataset", "gone"), 60)
        assert status["failureReason"] == "SourceUnreadable"
        condition = objects.condition("Dataset", "gone", "Ready")
        assert condition is not None and "no-such.csv" in condition["message"]


def test_operator_restart_mid_training_creates_nothing_twice(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        objects.create(training_job())
        train = wait_for(lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-lr"), 30)

    # The operator is gone while the training pod runs; a new one resumes.
    complete(kube_api, namespace, train, tmp_path)
    with running_operator(namespace):
        wait_for(lambda: ready(objects, "TrainingJob", "iris-lr"), 60, what="TrainingJob Ready")
    with running_operator(namespace):
        wait_for(lambda: ready(objects, "ModelVersion", "iris-v1"), 60)

    batch = kubernetes.client.BatchV1Api(kube_api)
    assert len(batch.list_namespaced_job(namespace).items) == 2  # one profile, one training
    versions = objects.list("ModelVersion")
    assert [mv["metadata"]["name"] for mv in versions] == ["iris-v1"]


def test_tampered_artifact_makes_model_version_not_ready(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        objects.create(training_job())
        train = wait_for(lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-lr"), 30)
        complete(kube_api, namespace, train, tmp_path)
        wait_for(lambda: ready(objects, "ModelVersion", "iris-v1"), 60)
        good = objects.get("ModelVersion", "iris-v1")["spec"]

        # Registered by hand: same artifact, wrong checksum; and one whose file is missing.
        for name, artifact in (
            ("tampered", {**good["artifact"], "sha256": "0" * 64}),
            ("missing", {**good["artifact"], "uri": good["artifact"]["uri"] + ".gone"}),
        ):
            objects.create({
                "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
                "metadata": {"name": name},
                "spec": {**good, "version": 7 if name == "tampered" else 8, "artifact": artifact},
            })  # fmt: skip
        tampered = wait_for(lambda: failed_status(objects, "ModelVersion", "tampered"), 30)
        missing = wait_for(lambda: failed_status(objects, "ModelVersion", "missing"), 30)
        assert (
            objects.condition("ModelVersion", "tampered", "Ready")["reason"] == "ChecksumMismatch"
        )  # type: ignore[index]
        assert objects.condition("ModelVersion", "missing", "Ready")["reason"] == "ArtifactMissing"  # type: ignore[index]
        assert tampered["phase"] == missing["phase"] == "Invalid"


def test_deadline_exceeded_is_reported(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        # The pod never finishes; the real Job controller enforces activeDeadlineSeconds.
        objects.create(training_job("slow", activeDeadlineSeconds=2))
        status = wait_for(lambda: failed_status(objects, "TrainingJob", "slow"), 90)
        assert status["failureReason"] == "DeadlineExceeded"
        assert objects.condition("TrainingJob", "slow", "Ready")["status"] == "False"  # type: ignore[index]
