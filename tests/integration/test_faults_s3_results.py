"""A TrainingJob's and a BatchPrediction's results while the S3 store cannot be reached, under
a running operator process: the runs stay open (not Failed, their Jobs kept), Ready=False
StoreUnavailable naming the endpoint with one Warning Event each, however often the result is
read again; once MinIO is back, each finishes on its own with exactly one ModelVersion and
one output.

MinIO (built by `make tools`) holds a Dataset's snapshot and a model. The training Job's and
the BatchPrediction's Indexed Job's commands run in-process (as their pods would) and write
their results to the bucket; then MinIO is stopped, and only then are the pods reported
finished, so the operator learns that the Jobs are done while it cannot read what they left.
"""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.test_batch_prediction import index_pod, run_index, terminate
from tests.integration.test_faults_s3_unreachable import (
    BUCKET,
    TIMEOUT,
    _ready,
    _wait_unavailable,
    restartable_minio,
)
from tests.integration.test_faults_store import _dataset, _job, _run, _warnings
from tests.integration.test_training_flow import training_job
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.kubelet import finish_pod
from tests.support.minio import available, free_port
from tests.support.operator_process import OperatorProcess
from tests.unit.test_compare_cli import Model

from mlops_operator.artifacts.store import Store
from mlops_operator.training.snapshot import read_parquet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not available(), reason="bin/minio is missing: run `make tools`"),
]
PARTITIONS = 2


def _reconciles(port: int, kind: str) -> float:
    """How many reconciles of `kind` the operator process has run (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mlops_reconcile_total" and sample.labels.get("kind") == kind
    )


def _children(api: kubernetes.client.ApiClient, namespace: str, label: str) -> list[str]:
    batch = kubernetes.client.BatchV1Api(api)
    return [
        j.metadata.name for j in batch.list_namespaced_job(namespace, label_selector=label).items
    ]


def _model_versions(objects: Objects, api: kubernetes.client.ApiClient, label: str) -> list[str]:
    custom = kubernetes.client.CustomObjectsApi(api)
    found = custom.list_namespaced_custom_object(
        "mlops.dev", "v1alpha1", objects.namespace, "modelversions", label_selector=label
    )
    return [item["metadata"]["name"] for item in found["items"]]


def test_training_and_batch_results_wait_out_an_s3_outage(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = control_plane.workdir / f"operator-{namespace}"  # kept when a test fails
    logs.mkdir()
    metrics_port = free_port()
    with restartable_minio(tmp_path / "minio") as minio:
        root = f"s3://{BUCKET}/faults-{uuid.uuid4().hex[:10]}"
        env = {**minio.env(), "MLOPS_STORE": root}
        for name, value in env.items():  # the Job commands run here, as their pods would
            monkeypatch.setenv(name, value)
        store = Store(root, storage_options=minio.storage_options())
        operator_env = {**env, "MLOPS_METRICS_PORT": str(metrics_port)}
        with OperatorProcess(control_plane.kubeconfig, namespace, logs, env=operator_env) as op:
            objects.create(_dataset("ds-s3"))
            profile = _job(kube_api, namespace, "mlops.dev/dataset=ds-s3")
            assert _run(profile, tmp_path)[0] == 0
            finish_pod(kube_api, namespace, profile.metadata.name)
            wait_for(lambda: _ready(objects, "Dataset", "ds-s3", None, "True"), TIMEOUT,
                     what="ds-s3 Ready")  # fmt: skip

            # A model fitted on the snapshot's own columns, for the BatchPrediction.
            snapshot = objects.get("Dataset", "ds-s3")["status"]["snapshotUri"]
            frame = read_parquet(store.read_bytes(snapshot))
            model = Model(store, "scorer", "LogisticRegression", frame, "target",
                          namespace=namespace, max_iter=500)  # fmt: skip
            objects.create({
                "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
                "metadata": {"name": "scorer-v1"},
                "spec": {"model": "scorer", "version": 1, "task": "classification",
                         "artifact": {"uri": model.uri, "format": model.format, "sha256": model.sha},
                         "signature": model.signature},
            })  # fmt: skip
            wait_for(lambda: _ready(objects, "ModelVersion", "scorer-v1", "Verified", "True"),
                     TIMEOUT, what="scorer-v1 Verified")  # fmt: skip

            objects.create(training_job("tj-s3", datasetRef={"name": "ds-s3"}, model="trained"))
            objects.create({
                "apiVersion": "mlops.dev/v1alpha1", "kind": "BatchPrediction",
                "metadata": {"name": "bp-s3"},
                "spec": {"model": {"modelVersionRef": {"name": "scorer-v1"}},
                         "input": {"datasetRef": {"name": "ds-s3"}}, "partitions": PARTITIONS},
            })  # fmt: skip
            train = _job(kube_api, namespace, "mlops.dev/trainingjob=tj-s3")
            assert _run(train, tmp_path)[0] == 0  # its model and result are in the bucket
            predict = wait_for(
                lambda: objects.get("BatchPrediction", "bp-s3")["status"].get("jobName"),
                TIMEOUT, what="the BatchPrediction's Job",
            )  # fmt: skip
            pods = [index_pod(kube_api, namespace, predict, i) for i in range(PARTITIONS)]
            for pod in pods:
                assert run_index(pod, tmp_path)["ok"]  # each partition's result is in the bucket

            minio.stop()  # unreachable from here on: a closed port
            finish_pod(kube_api, namespace, train.metadata.name)
            for pod in pods:
                terminate(kube_api, namespace, pod, 0)

            held = {"TrainingJob": "tj-s3", "BatchPrediction": "bp-s3"}
            seen: dict[str, float] = {}
            for kind, name in held.items():
                down = _wait_unavailable(kube_api, objects, op, kind, name)
                assert minio.endpoint in down["message"], down
                seen[kind] = _reconciles(metrics_port, kind)
            # Read again while still down (the 30 s retry, at least): still one Warning each.
            for kind, name in held.items():
                wait_for(lambda kind=kind: _reconciles(metrics_port, kind) >= seen[kind] + 2,
                         TIMEOUT, what=f"{kind} read again while the store is down")  # fmt: skip
                status = objects.get(kind, name)["status"]
                assert status.get("phase") == "Running", status
                assert objects.condition(kind, name, "Ready")["reason"] == "StoreUnavailable"
                reasons = [e.reason for e in _warnings(kube_api, namespace, kind, name)]
                assert reasons == ["StoreUnavailable"], reasons
            # The Jobs are kept, and nothing was registered from a result not read.
            assert _children(kube_api, namespace, "mlops.dev/trainingjob=tj-s3") == [
                train.metadata.name
            ]
            assert _children(kube_api, namespace, "mlops.dev/batchprediction=bp-s3") == [predict]
            assert _model_versions(objects, kube_api, "mlops.dev/trainingjob=tj-s3") == []
            assert op.process is not None and op.process.poll() is None

            minio.start()  # the same port, the same data
            for kind, name, reason in (("TrainingJob", "tj-s3", "ModelVersionRegistered"),
                                       ("BatchPrediction", "bp-s3", "Predicted")):  # fmt: skip
                up = wait_for(
                    lambda kind=kind, name=name, reason=reason: _ready(
                        objects, kind, name, reason, "True"
                    ),
                    TIMEOUT,
                    what=f"{kind} {name} Ready after the store came back",
                )
                print(f"store back: {kind} {name} Ready=True {up['reason']}: {up['message']}")
                warnings = _warnings(kube_api, namespace, kind, name)
                assert [(e.reason, e.count or 1) for e in warnings] == [("StoreUnavailable", 1)], [
                    (e.reason, e.count, e.message) for e in warnings
                ]  # one for the outage

            tj_status = objects.get("TrainingJob", "tj-s3")["status"]
            registered = _model_versions(objects, kube_api, "mlops.dev/trainingjob=tj-s3")
            assert registered == ["trained-v1"] == [tj_status["modelVersion"]], registered
            assert tj_status["phase"] == "Succeeded"
            bp_status = objects.get("BatchPrediction", "bp-s3")["status"]
            assert (bp_status["phase"], bp_status["progress"]) == ("Succeeded", "2/2")
            assert bp_status["rows"] == len(frame)
            output = bp_status["outputUri"]
            parts = [uri for uri in store.list(output) if uri.endswith(".parquet")]
            assert [p.rsplit("/", 1)[-1] for p in parts] == [
                f"part-{i:05d}.parquet" for i in range(PARTITIONS)
            ]
            assert _children(kube_api, namespace, "mlops.dev/batchprediction=bp-s3") == [predict]
            assert op.process.poll() is None and op.starts == 1
        log = op.log()
        assert "failed with an exception" not in log, log[-3000:]
