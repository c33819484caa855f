"""BatchPrediction on the real control plane: an Indexed Job of several partitions, one of which
fails once and is retried alone; the output holds every input row exactly once.

Job pods have no kubelet here: the test runs each index's own command in-process on the same
artifact store (with that index, as the pod would get it from the Job), then reports the pod
terminated as a kubelet would; the real Job controller counts indexes, replaces the failed
index's pod, and writes the Job's status, which wakes the operator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import kubernetes
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from tests.integration.operator import running_operator
from tests.support.cluster import Objects, wait_for
from tests.support.kubelet import now
from tests.unit.test_compare_cli import Model, iris

from mlops_operator.artifacts import Store, records
from mlops_operator.cli import main as cli

pytestmark = pytest.mark.integration

INDEX = "batch.kubernetes.io/job-completion-index"


def index_pod(api: kubernetes.client.ApiClient, namespace: str, job: str, index: int) -> Any:
    """The pending pod of one index of an Indexed Job, once the Job controller made it."""
    core = kubernetes.client.CoreV1Api(api)

    def pending() -> Any:
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
        found = [
            p for p in pods
            if (p.metadata.annotations or {}).get(INDEX) == str(index)
            and p.status.phase in (None, "Pending")
        ]  # fmt: skip
        return found[0] if found else None

    return wait_for(pending, 60, what=f"a pod of index {index} of Job {job}")


def terminate(api: kubernetes.client.ApiClient, namespace: str, pod: Any, exit_code: int) -> None:
    started = now()
    terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                  "startedAt": started, "finishedAt": now()}  # fmt: skip
    status = {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "startTime": started,
        "containerStatuses": [{
            "name": "main", "image": pod.spec.containers[0].image, "imageID": "",
            "ready": False, "restartCount": 0, "state": {"terminated": terminated},
        }],
    }  # fmt: skip
    kubernetes.client.CoreV1Api(api).patch_namespaced_pod_status(
        pod.metadata.name, namespace, {"status": status}
    )


def run_index(pod: Any, tmp_path: Path) -> dict[str, Any]:
    """The pod's command with its index, here; returns what it reported."""
    index = pod.metadata.annotations[INDEX]
    log = tmp_path / f"{pod.metadata.name}.log"
    args = list(pod.spec.containers[0].args)
    assert cli([*args, "--index", index, "--termination-log", str(log)]) == 0
    report: dict[str, Any] = json.loads(log.read_text())
    return report


def events(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[str]:
    core = kubernetes.client.CoreV1Api(api)
    found = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return [e.reason for e in found.items]


def register_model(objects: Objects, store_uri: str) -> Model:
    train, _ = train_test_split(iris(), test_size=0.3, random_state=0)
    # In the namespace's part of the store: a ModelVersion may name nothing else.
    model = Model(
        Store(store_uri), "iris", "LogisticRegression", train, "target", namespace=objects.namespace
    )
    objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
        "metadata": {"name": "iris-v1"},
        "spec": {"model": "iris", "version": 1, "task": "classification",
                 "artifact": {"uri": model.uri, "format": model.format, "sha256": model.sha},
                 "signature": model.signature},
    })  # fmt: skip
    return model


def test_partitions_with_one_failing_once_give_every_row_exactly_once(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    frame = iris()
    frame["customer"] = [f"c{i:03d}" for i in range(len(frame))]
    folder = Path(store.removeprefix("file://")) / "inputs" / namespace
    folder.mkdir(parents=True)
    for i, (lo, hi) in enumerate(((0, 70), (70, 150))):
        frame.iloc[lo:hi].to_parquet(folder / f"part-{i}.parquet", row_group_size=32)
    with running_operator(namespace):
        model = register_model(objects, os.environ["MLOPS_STORE"])
        objects.create({
            "apiVersion": "mlops.dev/v1alpha1", "kind": "BatchPrediction",
            "metadata": {"name": "nightly"},
            "spec": {"model": {"modelVersionRef": {"name": "iris-v1"}},
                     "input": {"source": {"uri": folder.as_uri() + "/", "format": "parquet"}},
                     "partitions": 3, "idColumns": ["customer"], "batchRows": 20},
        })  # fmt: skip
        job_name = wait_for(
            lambda: objects.get("BatchPrediction", "nightly")["status"].get("jobName"),
            60, what="the BatchPrediction's Job",
        )  # fmt: skip
        batch = kubernetes.client.BatchV1Api(kube_api)
        job = batch.read_namespaced_job(job_name, namespace)
        assert (job.spec.completion_mode, job.spec.completions) == ("Indexed", 3)
        assert job.spec.backoff_limit_per_index == 2
        assert job.metadata.owner_references[0].kind == "BatchPrediction"

        # Index 1 writes its file, then its pod dies (as if evicted before reporting).
        first = index_pod(kube_api, namespace, job_name, 1)
        written = run_index(first, tmp_path)
        terminate(kube_api, namespace, first, exit_code=1)
        for index in (0, 2):
            pod = index_pod(kube_api, namespace, job_name, index)
            run_index(pod, tmp_path)
            terminate(kube_api, namespace, pod, 0)
        progress = wait_for(
            lambda: objects.get("BatchPrediction", "nightly")["status"].get("progress") == "2/3",
            60, what="2 of 3 partitions done",
        )  # fmt: skip
        assert progress
        # The Job controller replaces only index 1's pod; its retry writes the same file.
        retry = index_pod(kube_api, namespace, job_name, 1)
        assert retry.metadata.name != first.metadata.name
        again = run_index(retry, tmp_path)
        assert again["sha256"] == written["sha256"] and again["rows"] == written["rows"]
        terminate(kube_api, namespace, retry, 0)

        status = wait_for(
            lambda: (s := objects.get("BatchPrediction", "nightly")["status"]).get("phase")
            == "Succeeded" and s,
            60, what="BatchPrediction Succeeded",
        )  # fmt: skip
        ready = objects.condition("BatchPrediction", "nightly", "Ready")
        assert ready and (ready["status"], ready["reason"]) == ("True", "Predicted")
        assert (status["progress"], status["rows"]) == ("3/3", 150)
        # The Job controller may count the failed attempt after the Job finished.
        wait_for(
            lambda: objects.get("BatchPrediction", "nightly")["status"].get("podFailures") == 1,
            30, what="the failed attempt counted",
        )  # fmt: skip
        assert status["rowsPerSecond"] > 0
        assert status["lineage"] == {
            "modelVersion": "iris-v1", "modelSha256": model.sha,
            "sourceUri": folder.as_uri() + "/",
        }  # fmt: skip
        # Events are posted after the status patch that says Succeeded: wait for the last one
        reasons = wait_for(
            lambda: (r := events(kube_api, namespace, "nightly")) and "Predicted" in r and r,
            30, what="the Predicted event",
        )  # fmt: skip
        assert "JobCreated" in reasons and "PartitionRetried" in reasons

        output = Path(status["outputUri"].removeprefix("file://"))
        assert sorted(p.name for p in output.glob("*.parquet")) == [
            f"part-{i:05d}.parquet" for i in range(3)
        ]
        scored = pd.read_parquet(output)
        assert len(scored) == 150 and scored[records.ID].is_unique
        assert sorted(scored["customer"]) == sorted(frame["customer"])
        labels, _ = model.predict(frame.set_index("customer").loc[scored["customer"]])
        assert list(scored[records.PREDICTION]) == [str(v) for v in labels]


def test_a_dataset_of_many_files_is_one_version(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    from tests.integration.test_training_flow import complete, get_job, ready

    frame = iris()
    folder = Path(store.removeprefix("file://")) / "inputs" / namespace / "daily"
    (folder / "day=2").mkdir(parents=True)
    frame.iloc[:100].to_parquet(folder / "day=1.parquet", index=False)
    frame.iloc[100:].to_parquet(folder / "day=2" / "part-0.parquet", index=False)
    with running_operator(namespace):
        objects.create({
            "apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset",
            "metadata": {"name": "daily"},
            "spec": {"source": {"uri": folder.as_uri() + "/", "format": "parquet"}},
        })  # fmt: skip
        job = wait_for(lambda: get_job(kube_api, namespace, "mlops.dev/dataset=daily"), 30)
        complete(kube_api, namespace, job, tmp_path)
        wait_for(lambda: ready(objects, "Dataset", "daily"), 60, what="Dataset Ready")
        status = objects.get("Dataset", "daily")["status"]
        assert (status["rows"], status["columns"]) == (150, 6)
        snapshot = pd.read_parquet(status["snapshotUri"].removeprefix("file://"))
        assert list(snapshot["sl"]) == list(frame["sl"])  # both files, in sorted order
