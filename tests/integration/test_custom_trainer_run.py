"""A TrainingJob with the user's own training container, on the real control plane.

No kubelet here: the pod's two containers are run in-process in their order, as the kubelet
would run them, from the Job the operator created. The trainer (the init container) is the
example's own train.py (manifests/examples/custom-trainer) started with this interpreter and
the container's environment; the main container is `mlops-operator train --custom-output`.
The trainer's emptyDir is a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.integration.test_training_flow import get_job, ready, ready_iris
from tests.support.cluster import Objects, wait_for
from tests.support.kubelet import finish_pod

from mlops_operator.cli import main as cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "manifests" / "examples" / "custom-trainer" / "train.py"
IMAGE = "iris-trainer:test"


def custom_job(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "datasetRef": {"name": "iris"},
            "model": name,
            "target": "target",
            "container": {"image": IMAGE, "command": command, "task": "classification",
                          "env": [{"name": "OMP_NUM_THREADS", "value": "1"}]},
            "hyperparameters": {"n_estimators": 20},
            "acceptance": [{"metric": "accuracy", "min": 0.8}],
            **spec,
        },
    }  # fmt: skip


def run_pod(job: Any, tmp_path: Path) -> tuple[int, int]:
    """The trainer container, then the collecting main container: their exit codes."""
    pod = job.spec.template.spec
    (trainer,) = pod.init_containers
    output = tmp_path / job.metadata.name / "output"
    env = {**os.environ, **{e.name: e.value for e in trainer.env if e.value is not None}}
    env["MLOPS_OUTPUT_DIR"] = str(output)
    ran = subprocess.run(
        [*trainer.command, *(trainer.args or [])], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    args = list(pod.containers[0].args)
    args[args.index("--custom-output") + 1] = str(output)
    log = tmp_path / f"{job.metadata.name}.log"
    return ran.returncode, cli([*args, "--termination-log", str(log)])


def test_a_custom_container_trains_is_verified_and_registered(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        objects.create(custom_job("iris-voting", [sys.executable, str(EXAMPLE)]))
        job = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-voting"), 60,
            what="custom training Job",
        )  # fmt: skip
        pod = job.spec.template.spec
        assert [c.name for c in pod.init_containers] == ["trainer"]
        assert pod.init_containers[0].image == IMAGE
        assert pod.init_containers[0].security_context.run_as_non_root is True
        assert pod.containers[0].args[0] == "train"

        assert run_pod(job, tmp_path) == (0, 0)
        finish_pod(kube_api, namespace, job.metadata.name)

        wait_for(lambda: ready(objects, "TrainingJob", "iris-voting"), 60, what="Ready")
        status = objects.get("TrainingJob", "iris-voting")["status"]
        assert status["phase"] == "Succeeded" and status["modelVersion"] == "iris-voting-v1"
        assert status["metrics"]["accuracy"] >= 0.8 and "f1" in status["metrics"]
        # the operator's own verification of the artifact: exists, sha256, loads
        verified = wait_for(
            lambda: ready(objects, "ModelVersion", "iris-voting-v1"), 60, what="MV Ready"
        )
        assert verified["reason"] == "Verified"
        mv = objects.get("ModelVersion", "iris-voting-v1")["spec"]
        assert mv["estimator"] == f"container:{IMAGE}" and mv["task"] == "classification"
        assert mv["lineage"]["image"] == IMAGE and mv["lineage"]["trainingJob"] == "iris-voting"
        assert mv["artifact"]["format"] == "onnx"
        assert mv["signature"]["classLabels"] == ["setosa", "versicolor", "virginica"]
        assert [t["name"] for t in mv["signature"]["inputs"]] == [
            "sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]  # fmt: skip


def test_a_trainer_that_saves_no_model_fails_naming_it(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    script = tmp_path / "forgetful.py"
    script.write_text(
        "from mlops_operator.training import sdk\n"
        "x, y = sdk.load_dataset()\n"
        "sdk.log_metrics({'accuracy': 1.0})\n"
    )
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        objects.create(custom_job("iris-forgetful", [sys.executable, str(script)], backoffLimit=0))
        job = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=iris-forgetful"), 60
        )
        assert run_pod(job, tmp_path) == (0, 1)
        finish_pod(kube_api, namespace, job.metadata.name, exit_code=1, reason="Error")
        failed = wait_for(
            lambda: objects.get("TrainingJob", "iris-forgetful")["status"].get("phase") == "Failed"
            and objects.get("TrainingJob", "iris-forgetful")["status"],
            60, what="TrainingJob Failed",
        )  # fmt: skip
        assert failed["failureReason"] == "ModelMissing"
        assert "the trainer left no model in MLOPS_OUTPUT_DIR" in failed["failureMessage"]
        assert "model.onnx or model.skops" in failed["failureMessage"]
