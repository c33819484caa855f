"""An S3 endpoint that accepts connections and never answers, under a running operator process:
a ModelVersion whose artifact cannot be verified ends Ready=False StoreUnavailable naming the
endpoint, with one Warning Event, instead of a handler waiting on the socket forever; the
operator process stays up and no handler raises.

The endpoint is a listening socket in this process (tests/unit/test_s3_timeouts.py); the
operator gets short bounds (1 s to connect, 1 s for an answer, one attempt) so the test does
not wait out the defaults; what is checked is the outcome, never how long it took.
"""

from __future__ import annotations

import uuid

import kubernetes
import pytest
from tests.integration.test_faults_s3_unreachable import _wait_unavailable
from tests.support.cluster import Objects
from tests.support.control_plane import ControlPlane
from tests.support.operator_process import OperatorProcess
from tests.unit.test_s3_timeouts import SilentServer

from mlops_operator.artifacts import paths, s3_client

pytestmark = pytest.mark.integration
SHA = "e" * 64


@pytest.mark.timeout(600)
def test_a_hanging_s3_endpoint_is_store_unavailable(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
) -> None:
    logs = control_plane.workdir / f"operator-{namespace}"  # kept when a test fails
    logs.mkdir()
    silent = SilentServer()
    try:
        root = f"s3://mlops/hanging-{uuid.uuid4().hex[:10]}"
        env = {
            "MLOPS_STORE": root,
            "MLOPS_S3_ENDPOINT": silent.endpoint,
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            s3_client.CONNECT_TIMEOUT_ENV: "1",
            s3_client.READ_TIMEOUT_ENV: "1",
            s3_client.MAX_ATTEMPTS_ENV: "1",
            "MLOPS_STORE_SWEEP_SECONDS": "0",
        }
        uri = f"{root}/{paths.model_file(namespace, 'iris', SHA, 'onnx')}"
        with OperatorProcess(control_plane.kubeconfig, namespace, logs, env=env) as operator:
            objects.create({
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "iris-v1"},
                "spec": {
                    "model": "iris", "version": 1, "task": "classification",
                    "artifact": {"uri": uri, "format": "onnx", "sha256": SHA},
                    "signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]},
                },
            })  # fmt: skip
            down = _wait_unavailable(kube_api, objects, operator, "ModelVersion", "iris-v1")
            assert silent.endpoint in down["message"], down
            assert uri in down["message"], down
            assert silent.held  # it was reached and accepted: hanging, not refused
            phase = objects.get("ModelVersion", "iris-v1")["status"].get("phase")
            assert phase not in {"Invalid", "Failed"}, phase  # nothing is known to be wrong
            assert operator.process is not None and operator.process.poll() is None
            assert operator.starts == 1
        log = operator.log()
        assert "failed with an exception" not in log, log[-3000:]
    finally:
        silent.close()
