"""An S3 store whose endpoint cannot be reached, under a running operator process: conditions
and Events, not crash loops; and convergence once the store is back.

MinIO (built by `make tools`) holds a model; a Dataset's profile Job runs (in-process, as its
pod would) and writes its result to the bucket; then MinIO is stopped. The profile Job is
reported Succeeded and a ModelVersion of the model is created: the operator can read neither
the profile result nor the artifact. Each ends Ready=False, reason StoreUnavailable, with a
message naming the endpoint and one Warning Event; the operator process stays up (one start)
and no handler raises. MinIO is started again on the same port with the same data: both
become Ready without anyone touching them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import s3fs
from tests.integration.test_faults_store import _dataset, _job, _run, _warnings
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.kubelet import finish_pod
from tests.support.minio import BINARY, _healthy, available, free_port
from tests.support.operator_process import OperatorProcess
from tests.unit.test_serving_fixtures import iris_onnx

from mlops_operator.artifacts import paths
from mlops_operator.artifacts.store import Store

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not available(), reason="bin/minio is missing: run `make tools`"),
]
TIMEOUT = 180
BUCKET = "mlops"


class RestartableMinio:
    """One MinIO server at a fixed port and data directory, stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.access_key = f"mlops{secrets.token_hex(6)}"
        self.secret_key = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "MLOPS_S3_ENDPOINT": self.endpoint,
        }

    def storage_options(self) -> dict[str, Any]:
        return {"key": self.access_key, "secret": self.secret_key, "endpoint_url": self.endpoint}

    def start(self) -> None:
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",
        }
        self.starts += 1
        with (self.workdir / f"minio-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [str(BINARY), "server", "--quiet", "--address", f"127.0.0.1:{self.port}",
                 str(self.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        process = self.process

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"MinIO exited: see {self.workdir}")
            return _healthy(self.endpoint)

        wait_for(healthy, TIMEOUT, interval=0.2, what=f"MinIO start {self.starts}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@contextlib.contextmanager
def restartable_minio(workdir: Path) -> Iterator[RestartableMinio]:
    server = RestartableMinio(workdir)
    try:
        server.start()
        s3fs.S3FileSystem(**server.storage_options(), skip_instance_cache=True).mkdir(BUCKET)
        yield server
    finally:
        server.stop()


def _ready(objects: Objects, kind: str, name: str, reason: str | None, status: str) -> Any:
    """The Ready condition once it has this status (and reason) at the object's generation."""
    body = objects.get(kind, name)
    found = objects.condition(kind, name, "Ready")
    if not found or found["status"] != status or reason not in {None, found["reason"]}:
        return None
    if (body.get("status") or {}).get("observedGeneration") != body["metadata"]["generation"]:
        return None
    return found


def _wait_unavailable(
    api: kubernetes.client.ApiClient,
    objects: Objects,
    operator: OperatorProcess,
    kind: str,
    name: str,
) -> Any:
    """Ready=False StoreUnavailable at the generation, and a Warning Event for the object."""

    def unavailable() -> Any:
        found = _ready(objects, kind, name, "StoreUnavailable", "False")
        return found if found and _warnings(api, objects.namespace, kind, name) else None

    try:
        down = wait_for(unavailable, TIMEOUT, what=f"{kind} {name} StoreUnavailable")
    except TimeoutError as error:
        seen = objects.condition(kind, name, "Ready")
        raise AssertionError(f"{error}: Ready {seen}; {operator.log()[-3000:]}") from None
    print(f"store down: {kind} {name} Ready=False {down['reason']}: {down['message']}")
    return down


def test_unreachable_s3_store_then_back(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = iris_onnx("logistic")
    logs = control_plane.workdir / f"operator-{namespace}"  # kept when a test fails
    logs.mkdir()
    with restartable_minio(tmp_path / "minio") as minio:
        root = f"s3://{BUCKET}/faults-{uuid.uuid4().hex[:10]}"
        env = {**minio.env(), "MLOPS_STORE": root}
        for name, value in env.items():  # the Job commands run here, as their pods would
            monkeypatch.setenv(name, value)
        store = Store(root, storage_options=minio.storage_options())
        uri, digest = store.write_bytes(
            paths.model_file(namespace, "iris", served.sha256, "onnx"), served.path.read_bytes()
        )
        assert digest == served.sha256

        with OperatorProcess(control_plane.kubeconfig, namespace, logs, env=env) as operator:
            objects.create(_dataset("ds-ref"))  # a DriftMonitor's reference, later
            reference = _job(kube_api, namespace, "mlops.dev/dataset=ds-ref")
            assert _run(reference, tmp_path)[0] == 0
            finish_pod(kube_api, namespace, reference.metadata.name)
            wait_for(lambda: _ready(objects, "Dataset", "ds-ref", None, "True"), TIMEOUT,
                     what="ds-ref Ready")  # fmt: skip
            objects.create(_dataset("ds-s3"))
            profile = _job(kube_api, namespace, "mlops.dev/dataset=ds-s3")
            assert _run(profile, tmp_path)[0] == 0  # its result is in the bucket

            minio.stop()  # unreachable from here on: a closed port
            finish_pod(kube_api, namespace, profile.metadata.name)
            objects.create({
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "iris-v1"},
                "spec": {
                    "model": "iris", "version": 1, "task": "classification",
                    "artifact": {"uri": uri, "format": "onnx", "sha256": served.sha256},
                    "signature": served.signature.wire(),
                },
            })  # fmt: skip

            for kind, name in (("Dataset", "ds-s3"), ("ModelVersion", "iris-v1")):
                down = _wait_unavailable(kube_api, objects, operator, kind, name)
                assert minio.endpoint in down["message"], down
                phase = objects.get(kind, name)["status"].get("phase")
                assert phase not in {"Invalid", "Failed"}, phase  # nothing is known to be wrong
            assert operator.process is not None and operator.process.poll() is None

            minio.start()  # the same port, the same data
            for kind, name in (("Dataset", "ds-s3"), ("ModelVersion", "iris-v1")):
                reason = "Verified" if kind == "ModelVersion" else "Profiled"
                up = wait_for(
                    lambda kind=kind, name=name, reason=reason: _ready(
                        objects, kind, name, reason, "True"
                    ),
                    TIMEOUT,
                    what=f"{kind} {name} Ready after the store came back",
                )
                print(f"store back: {kind} {name} Ready=True {up['reason']}: {up['message']}")
                warnings = _warnings(kube_api, namespace, kind, name)
                same = [e for e in warnings if e.reason == "StoreUnavailable"]
                assert len(same) == 1 and (same[0].count or 1) == 1, [
                    (e.reason, e.count, e.message) for e in warnings
                ]  # one Warning for the outage, not one per attempt
            assert objects.get("ModelVersion", "iris-v1")["status"]["verifiedSha256"] == digest
            assert objects.get("Dataset", "ds-s3")["status"]["version"]

            minio.stop()  # down again, under a running operator: a DriftMonitor's check
            objects.create({
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "DriftMonitor",
                "metadata": {"name": "dm-s3"},
                "spec": {"target": {"datasetRef": {"name": "ds-s3"}},
                         "reference": {"name": "ds-ref"}, "minSamples": 10, "intervalSeconds": 10},
            })  # fmt: skip
            down = _wait_unavailable(kube_api, objects, operator, "DriftMonitor", "dm-s3")
            assert minio.endpoint in down["message"], down
            minio.start()
            up = wait_for(
                lambda: _ready(objects, "DriftMonitor", "dm-s3", None, "True"),
                TIMEOUT,
                what="DriftMonitor dm-s3 Ready after the store came back",
            )
            print(f"store back: DriftMonitor dm-s3 Ready=True {up['reason']}: {up['message']}")
            warnings = _warnings(kube_api, namespace, "DriftMonitor", "dm-s3")
            assert [e.reason for e in warnings].count("StoreUnavailable") == 1, warnings
            assert operator.process is not None and operator.process.poll() is None
            assert operator.starts == 1
        log = operator.log()
        assert "failed with an exception" not in log, log[-3000:]
