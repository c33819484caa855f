"""The whole iris pipeline with the chart's `store.type: s3`, on a real MinIO: train, serve,
sample, drift, retrain — every artifact, sample and label an S3 object, no store volume.

It has its own release and namespace (watching only that namespace), MinIO listening on the
node's address so pods reach it, the store Secret created before `helm install`, and pauses the
other releases' operators while it runs (as test_experiments does).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pyarrow.parquet as pq
import pytest
import s3fs
import yaml
from tests.e2e.test_experiments import pause_other_operators, restore_operators
from tests.support.cluster import Objects, wait_for
from tests.support.load import ROWS, v2_body
from tests.support.local_cluster import LocalCluster
from tests.support.minio import MinioServer, minio_server
from tests.support.release import ROOT, build_image, helm, install, kubectl, remove_leftovers

from mlops_operator.artifacts.errors import ChecksumMismatch
from mlops_operator.artifacts.store import Store

pytestmark = pytest.mark.e2e

NAMESPACE = "mlops-e2e-s3"
RELEASE = "e2e-s3"
SECRET = "mlops-s3"
BUCKET = "mlops-e2e"
EXAMPLE = ROOT / "manifests" / "examples" / "iris"


def node_address(api: kubernetes.client.ApiClient, node: str) -> str:
    """The node's InternalIP: the host address the pods on its bridge reach it by."""
    found = kubernetes.client.CoreV1Api(api).read_node(node)
    for address in found.status.addresses or []:
        if address.type == "InternalIP":
            return str(address.address)
    raise AssertionError(f"node {node} has no InternalIP: {found.status.addresses}")


@dataclass
class S3Pipeline:
    cluster: LocalCluster
    api: kubernetes.client.ApiClient
    objects: Objects
    minio: MinioServer
    store: Store
    url: str = ""

    @property
    def fs(self) -> s3fs.S3FileSystem:
        return s3fs.S3FileSystem(**self.minio.storage_options(), skip_instance_cache=True)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return self.objects.get(kind, name).get("status") or {}

    def wait_status(self, kind: str, name: str, timeout: float, **fields: Any) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(kind, name)
            if status.get("phase") == "Failed" and fields.get("phase") != "Failed":
                raise AssertionError(f"{kind} {name} failed: {status}")
            return status if all(status.get(k) == v for k, v in fields.items()) else None

        try:
            return wait_for(reached, timeout=timeout, interval=2, what=f"{kind} {name} {fields}")
        except TimeoutError as error:
            raise AssertionError(f"{error}\nstatus: {self.status(kind, name)}") from None

    def wait_condition(self, kind: str, name: str, type_: str, status: str, timeout: float) -> None:
        def reached() -> bool:
            found = self.objects.condition(kind, name, type_)
            return bool(found and found["status"] == status)

        wait_for(reached, timeout=timeout, interval=2, what=f"{kind} {name} {type_}={status}")

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def objects_under(self, prefix: str) -> list[str]:
        return list(self.fs.find(f"{self.store.root.removeprefix('s3://')}/{prefix}"))


@pytest.fixture(scope="module")
def s3_pipeline(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Pipeline]:
    kubeconfig = local_cluster.kubeconfig
    build_image()
    api = kubernetes.client.ApiClient(local_cluster.config)
    paused = pause_other_operators(api)
    host = node_address(api, local_cluster.node)
    try:
        with minio_server(tmp_path_factory.mktemp("minio"), host=host, bucket=BUCKET) as minio:
            root = f"s3://{BUCKET}/prod"
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": SECRET},
                "stringData": minio.secret_data(),
            }
            remove_leftovers(kubeconfig, RELEASE, NAMESPACE)  # of an interrupted earlier run
            kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)
            kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-f", "-", stdin=yaml.safe_dump(secret))
            install(kubeconfig, RELEASE, NAMESPACE, {
                "watchNamespaces": [NAMESPACE],
                "store": {"type": "s3", "uri": root, "s3": {"existingSecret": SECRET}},
            })  # fmt: skip
            objects = Objects(api, NAMESPACE)
            store = Store(root, storage_options=minio.storage_options())
            pipeline = S3Pipeline(local_cluster, api, objects, minio, store)
            kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-k", str(EXAMPLE))
            pipeline.wait_status("ModelDeployment", "iris", 600, servingVersion="iris-v1")
            service = kubernetes.client.CoreV1Api(api).read_namespaced_service("iris", NAMESPACE)
            pipeline.url = f"http://{service.spec.cluster_ip}"
            wait_for(
                lambda: pipeline.post("/v1/models/iris:predict", {"instances": ROWS[:1]}),
                timeout=60, interval=0.5, what="a prediction through Service iris",
            )  # fmt: skip
            try:
                yield pipeline
            finally:
                if os.environ.get("MLOPS_E2E_KEEP") != "1":
                    helm(kubeconfig, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
                    kubectl(kubeconfig, "delete", "namespace", NAMESPACE, "--ignore-not-found",
                            "--wait=true", "--timeout=240s", timeout=300, check=False)  # fmt: skip
    finally:
        restore_operators(api, paused)
        api.close()


def test_no_store_volume_anywhere(s3_pipeline: S3Pipeline) -> None:
    core = kubernetes.client.CoreV1Api(s3_pipeline.api)
    assert core.list_namespaced_persistent_volume_claim(NAMESPACE).items == []
    for pod in core.list_namespaced_pod(NAMESPACE).items:
        assert not any(v.persistent_volume_claim for v in pod.spec.volumes or []), pod.metadata.name
        env = {e.name: e for c in pod.spec.containers for e in c.env or []}
        if "MLOPS_STORE" in env:
            assert env["MLOPS_STORE"].value == s3_pipeline.store.root
            assert env["AWS_ACCESS_KEY_ID"].value_from.secret_key_ref.name == SECRET


def test_train_and_serve_from_s3(s3_pipeline: S3Pipeline) -> None:
    p = s3_pipeline
    dataset = p.wait_status("Dataset", "iris", 60, phase="Ready")
    version = p.objects.get("ModelVersion", "iris-v1")
    artifact = version["spec"]["artifact"]
    for uri, digest in ((dataset["snapshotUri"], dataset["version"]),
                        (artifact["uri"], artifact["sha256"])):  # fmt: skip
        assert uri.startswith(p.store.root + "/"), uri
        assert p.store.stored_sha256(uri) == digest
        assert hashlib.sha256(p.store.read_verified(uri, digest)).hexdigest() == digest
    snapshot = pq.read_table(io.BytesIO(p.store.read_bytes(dataset["snapshotUri"])))
    assert snapshot.num_rows == 150
    assert p.post("/v1/models/iris:predict", {"instances": ROWS[:2]})["predictions"] == [
        "setosa",
        "virginica",
    ]
    assert p.post("/v2/models/iris/infer", v2_body(ROWS[0]))["model_version"] == "1"


def send_labeled(p: S3Pipeline, rows: list[list[float]], species: list[str]) -> None:
    for start in range(0, len(rows), 10):
        answer = p.post("/v1/models/iris:predict", {"instances": rows[start : start + 10]})
        labels = [{"id": i, "label": t}
                  for i, t in zip(answer["ids"], species[start : start + 10], strict=True)]  # fmt: skip
        assert p.post("/v2/models/iris/feedback", {"labels": labels}) == {"accepted": len(labels)}


def test_samples_drift_and_retrain_on_s3(s3_pipeline: S3Pipeline) -> None:
    from sklearn.datasets import load_iris

    p = s3_pipeline
    bunch = load_iris()
    flowers = bunch.data.tolist()
    species = [str(bunch.target_names[t]) for t in bunch.target]
    send_labeled(p, flowers[::-1] + flowers[:50], species[::-1] + species[:50])

    # Sampled predictions and labels land in the bucket as Parquet (the sampler's writer).
    samples = wait_for(lambda: [o for o in p.objects_under("") if "/samples/" in o
                                and o.endswith(".parquet")], 120, 2, "samples in S3")  # fmt: skip
    assert samples
    wait_for(lambda: [o for o in p.objects_under("") if "/labels/" in o], 120, 2, "labels in S3")

    shifted = [[a, b, c + 3.0, d + 3.0] for a, b, c, d in flowers]
    send_labeled(p, (shifted * 3)[:450], (species * 3)[:450])
    p.wait_condition("DriftMonitor", "iris", "PerformanceDegraded", "True", timeout=300)
    monitor = p.status("DriftMonitor", "iris")
    assert monitor["retrainsTriggered"] == 1
    # The shifted petals are data drift too (the sampled features against the training profile).
    p.wait_condition("DriftMonitor", "iris", "Drifted", "True", timeout=180)
    retrain = monitor["lastRetrain"]["trainingJob"]
    new_dataset = p.objects.get("Dataset", monitor["lastRetrain"]["dataset"])
    assert new_dataset["spec"]["source"]["uri"].startswith(p.store.root + "/")

    trained = p.wait_status("TrainingJob", retrain, 600, phase="Succeeded")
    assert trained["modelVersion"] == "iris-v2"
    p.wait_status("ModelDeployment", "iris", 600, servingVersion="iris-v2", phase="Healthy")
    assert p.post("/v2/models/iris/infer", v2_body(shifted[120]))["model_version"] == "2"
    v2 = p.objects.get("ModelVersion", "iris-v2")["spec"]["artifact"]
    assert p.store.stored_sha256(v2["uri"]) == v2["sha256"]
    stored = p.objects_under("")
    print(
        f"\nS3 pipeline: {len(stored)} objects in the bucket "
        f"({sum('/samples/' in o for o in stored)} sample files, "
        f"{sum('/labels/' in o for o in stored)} label files); {retrain} retrained on "
        f"{new_dataset['metadata']['name']} -> iris-v2, served"
    )


def test_a_replaced_model_object_is_refused(s3_pipeline: S3Pipeline) -> None:
    p = s3_pipeline
    spec = p.objects.get("ModelVersion", "iris-v2")["spec"]
    artifact = spec["artifact"]
    copy = f"{artifact['uri'].rsplit('/', 1)[0]}/replaced-{artifact['uri'].rsplit('/', 1)[1]}"
    p.fs.pipe_file(copy.removeprefix("s3://"), b"not the model")
    with pytest.raises(ChecksumMismatch):
        p.store.read_verified(copy, artifact["sha256"])
    p.objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelVersion",
        "metadata": {"name": "iris-replaced"},
        "spec": {**spec, "version": 99, "artifact": {**artifact, "uri": copy}},
    })  # fmt: skip

    def refused() -> dict[str, Any] | None:
        c = p.objects.condition("ModelVersion", "iris-replaced", "Ready")
        return c if c and c["reason"] == "ChecksumMismatch" else None

    condition = wait_for(refused, 120, 2, "iris-replaced refused")
    assert artifact["sha256"] in condition["message"] and copy in condition["message"]
