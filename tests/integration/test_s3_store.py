"""The artifact store on a real S3 server (MinIO, built by `make tools`), and the operator's
Dataset -> TrainingJob -> ModelVersion flow with its store on S3.

Job pods have no kubelet here (as in test_training_flow): the pod's own command runs
in-process with the S3 endpoint and credentials a pod gets from the store Secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from tests.integration.operator import running_operator
from tests.integration.test_training_flow import (
    complete,
    create_iris,
    get_job,
    ready,
    training_job,
)
from tests.support.cluster import Objects, wait_for
from tests.support.minio import MinioServer, minio_server

import mlops_operator.handlers
from mlops_operator.artifacts.errors import ArtifactMissing, ChecksumMismatch, ReadOnlySource
from mlops_operator.artifacts.store import PART_SIZE_ENV, Store, part_size_from_env
from mlops_operator.serving.writer import BatchWriter, WriterCounters

pytestmark = pytest.mark.integration

MIB = 2**20
SECRET = "store-s3"


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    with minio_server(tmp_path_factory.mktemp("minio")) as server:
        yield server


@pytest.fixture
def raw(minio: MinioServer) -> s3fs.S3FileSystem:
    """A client of its own, as someone with write access to the bucket would have."""
    return s3fs.S3FileSystem(**minio.storage_options(), skip_instance_cache=True)


@pytest.fixture
def store(minio: MinioServer) -> Store:
    root = f"s3://{minio.bucket}/t-{uuid.uuid4().hex[:10]}"
    return Store(root, storage_options=minio.storage_options(), part_size=5 * MIB)


def test_write_read_list_delete(store: Store, raw: s3fs.S3FileSystem) -> None:
    uri, digest = store.write_bytes("datasets/ns/iris/a.bin", b"alpha")
    assert uri == f"{store.root}/datasets/ns/iris/a.bin"
    assert digest == hashlib.sha256(b"alpha").hexdigest()
    store.write_json("datasets/ns/iris/b.json", {"z": 1, "a": [1, 2]})
    store.write_bytes("datasets/ns/iris/sub/c.bin", b"gamma")

    assert store.exists("datasets/ns/iris/a.bin")
    assert not store.exists("datasets/ns/iris/missing.bin")
    assert store.read_bytes(uri) == b"alpha"
    assert store.read_verified("datasets/ns/iris/a.bin", digest.upper()) == b"alpha"
    assert store.read_json("datasets/ns/iris/b.json") == {"z": 1, "a": [1, 2]}
    assert store.stored_sha256("datasets/ns/iris/a.bin") == digest

    assert store.list("datasets/ns/iris") == [
        f"{store.root}/datasets/ns/iris/a.bin",
        f"{store.root}/datasets/ns/iris/b.json",
    ]
    files, dirs = store.list_detail("datasets/ns/iris")
    assert [(f.name, f.size) for f in files] == [("a.bin", 5), ("b.json", files[1].size)]
    assert dirs == ["sub"]
    assert all(f.modified is not None for f in files)
    assert [f.name for f in store.find("datasets/ns")] == [
        "iris/a.bin",
        "iris/b.json",
        "iris/sub/c.bin",
    ]
    assert store.list("datasets/none") == [] and store.find("datasets/none") == []

    store.delete("datasets/ns/iris/a.bin")
    assert not store.exists("datasets/ns/iris/a.bin")
    store.delete("datasets/ns/iris")  # a "directory": every object under the prefix
    assert store.find("datasets/ns") == []
    assert raw.find(store.root.removeprefix("s3://")) == []
    store.delete("datasets/ns/iris/a.bin")  # already gone: fine

    with pytest.raises(ArtifactMissing, match="does not exist"):
        store.read_bytes("datasets/ns/iris/a.bin")
    with pytest.raises(ReadOnlySource, match="outside the store root"):
        store.write_bytes(f"s3://{store.root.split('/')[2]}/elsewhere/x.bin", b"x")


def test_tampered_object_is_refused(store: Store, raw: s3fs.S3FileSystem) -> None:
    uri, digest = store.write_bytes("models/ns/iris/1/model.onnx", b"the model")
    raw.pipe_file(uri.removeprefix("s3://"), b"another model")  # replaced behind our back
    tampered = hashlib.sha256(b"another model").hexdigest()

    with pytest.raises(ChecksumMismatch) as refused:
        store.read_verified(uri, digest)
    message = str(refused.value)
    assert uri in message and digest in message and tampered in message
    assert refused.value.reason == "ChecksumMismatch"
    # The replacement did not carry the digest the store wrote with the original.
    assert store.stored_sha256(uri) is None


def test_large_object_goes_up_in_parts(store: Store, raw: s3fs.S3FileSystem) -> None:
    data = np.random.default_rng(14).bytes(12 * MIB + 123)  # parts of 5, 5 and 2 MiB
    uri, digest = store.write_bytes("datasets/ns/big/data.parquet", data)

    info = raw.info(uri.removeprefix("s3://"))
    assert info["size"] == len(data)
    # S3's ETag of a multipart object is "<md5 of the parts' md5s>-<number of parts>".
    assert info["ETag"].strip('"').endswith("-3"), info["ETag"]
    assert store.stored_sha256(uri) == digest
    assert store.read_verified(uri, digest) == data

    small_uri, _ = store.write_bytes("datasets/ns/big/small.bin", data[: 9 * MIB])
    assert "-" not in raw.info(small_uri.removeprefix("s3://"))["ETag"]  # one PUT
    assert raw.ls(f"{store.root.split('/')[2]}", detail=False)  # the bucket is readable
    uploads = raw.call_s3("list_multipart_uploads", Bucket=store.root.split("/")[2])
    assert not uploads.get("Uploads")  # nothing left half-uploaded


def test_part_size_setting(monkeypatch: pytest.MonkeyPatch, minio: MinioServer) -> None:
    assert part_size_from_env({}) == 64 * MIB
    assert part_size_from_env({PART_SIZE_ENV: "16"}) == 16 * MIB
    for bad in ("4", "lots"):
        with pytest.raises(ValueError, match=PART_SIZE_ENV):
            part_size_from_env({PART_SIZE_ENV: bad})
    monkeypatch.setenv(PART_SIZE_ENV, "8")
    assert Store(f"s3://{minio.bucket}/x", minio.storage_options()).part_size == 8 * MIB


class Count:
    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


def test_model_server_writes_samples_to_s3(
    monkeypatch: pytest.MonkeyPatch, minio: MinioServer, store: Store
) -> None:
    """The model server's sample and label writer reaches the store's S3 endpoint from the
    environment a serving pod gets (MLOPS_S3_ENDPOINT, AWS_*), not fsspec's AWS default."""
    for name, value in minio.env().items():
        monkeypatch.setenv(name, value)
    counters = WriterCounters(Count(), Count(), Count(), Count(), None)
    uri = f"{store.root}/samples/ns/iris/iris-v1"
    writer: BatchWriter[int] = BatchWriter(
        uri, lambda entries: pa.table({"x": entries}), name="samples", batch_size=1000,
        flush_seconds=3600, max_entries=100, max_rows=None, counters=counters,
    )  # fmt: skip
    writer.start()
    assert all(writer.put(i, 1) for i in range(5))
    writer.close(timeout=120)  # writes what is pending, then stops
    assert counters.write_errors.value == 0 and counters.files.value == 1
    (written,) = store.find("samples/ns/iris/iris-v1")
    assert written.name.startswith("dt=") and written.name.endswith(".parquet")
    assert pq.read_table(io.BytesIO(store.read_bytes(written.uri)))["x"].to_pylist() == [
        0,
        1,
        2,
        3,
        4,
    ]


# --- the operator's flow with store.type s3 --------------------------------------------------


@pytest.fixture
def s3_operator(monkeypatch: pytest.MonkeyPatch, minio: MinioServer) -> Store:
    """Point the in-process operator, and the pod commands it runs here, at a fresh prefix
    of the MinIO bucket: what the chart's store.type s3 with store.s3.existingSecret sets."""
    root = f"s3://{minio.bucket}/flow-{uuid.uuid4().hex[:10]}"
    for name, value in {**minio.env(), "MLOPS_STORE": root, "MLOPS_S3_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    for info in pkgutil.iter_modules(mlops_operator.handlers.__path__):
        module = importlib.import_module(f"mlops_operator.handlers.{info.name}")
        config = getattr(module, "CONFIG", None)
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            monkeypatch.setattr(
                module, "CONFIG", dataclasses.replace(config, store_uri=root, s3_secret=SECRET)
            )
    return Store(root, minio.storage_options())


def _secret_env(container: Any) -> dict[str, tuple[str, str]]:
    return {
        e.name: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
        for e in container.env or []
        if e.value_from and e.value_from.secret_key_ref
    }


def test_dataset_training_model_version_on_s3(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    s3_operator: Store,
    raw: s3fs.S3FileSystem,
    tmp_path: Path,
) -> None:
    store = s3_operator
    with running_operator(namespace):
        profile = create_iris(kube_api, namespace, objects, 60)
        container = profile.spec.template.spec.containers[0]
        assert store.root in container.args
        assert _secret_env(container) == {
            "AWS_ACCESS_KEY_ID": (SECRET, "accessKeyId"),
            "AWS_SECRET_ACCESS_KEY": (SECRET, "secretAccessKey"),
            "MLOPS_S3_ENDPOINT": (SECRET, "endpoint"),
        }
        assert {e.name: e.value for e in container.env}["MLOPS_S3_PART_SIZE_MIB"] == "64"
        assert not any(v.persistent_volume_claim for v in profile.spec.template.spec.volumes)
        complete(kube_api, namespace, profile, tmp_path)
        wait_for(lambda: ready(objects, "Dataset", "iris"), 120, what="Dataset Ready")

        objects.create(training_job())
        train = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-lr"),
            120,
            what="train Job",
        )
        complete(kube_api, namespace, train, tmp_path)
        wait_for(lambda: ready(objects, "TrainingJob", "iris-lr"), 120, what="TrainingJob Ready")
        mv_name = objects.get("TrainingJob", "iris-lr")["status"]["modelVersion"]
        wait_for(lambda: ready(objects, "ModelVersion", mv_name), 120, what="ModelVersion Ready")

        dataset = objects.get("Dataset", "iris")["status"]
        mv = objects.get("ModelVersion", mv_name)
        artifact = mv["spec"]["artifact"]
        for uri in (dataset["snapshotUri"], artifact["uri"]):
            assert uri.startswith(store.root + "/"), uri
            assert raw.exists(uri.removeprefix("s3://"))
        # The snapshot and the model are S3 objects carrying the digests the operator recorded.
        assert store.stored_sha256(dataset["snapshotUri"]) == dataset["version"]
        assert store.stored_sha256(artifact["uri"]) == artifact["sha256"]
        data = store.read_verified(dataset["snapshotUri"], dataset["version"])
        assert pq.read_table(io.BytesIO(data)).num_rows == 150

        # A ModelVersion whose object was replaced in the bucket is refused, not served.
        name = artifact["uri"].rsplit("/", 1)[-1]
        copy = f"{artifact['uri'].rsplit('/', 1)[0]}/replaced-{name}"
        raw.pipe_file(copy.removeprefix("s3://"), b"not the model")
        objects.create({
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "ModelVersion",
            "metadata": {"name": "iris-replaced"},
            "spec": {**mv["spec"], "version": 99, "artifact": {**artifact, "uri": copy}},
        })  # fmt: skip
        refused = wait_for(
            lambda: (
                (c := objects.condition("ModelVersion", "iris-replaced", "Ready"))
                and c["reason"] == "ChecksumMismatch"
                and c
            ),
            120,
            what="ModelVersion refused with ChecksumMismatch",
        )
        assert refused["status"] == "False"
        assert copy in refused["message"] and artifact["sha256"] in refused["message"]
        assert hashlib.sha256(b"not the model").hexdigest() in refused["message"]
