"""The training SDK and the container contract, end to end without a cluster: the Job the
operator builds for spec.container, its trainer's environment, the SDK's three lines, the
collect step (the Job's main container) and the decision that registers the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from mlops_operator.api.modelversion import Signature
from mlops_operator.artifacts import Store, verify_model
from mlops_operator.config import OperatorConfig
from mlops_operator.handlers.results import _read as read_result
from mlops_operator.reconcile import custom_trainer as contract
from mlops_operator.reconcile import trainingjob as tj
from mlops_operator.reconcile.jobs import JobOutcome
from mlops_operator.training import profile_cli, sdk, train_cli

IMAGE = "example.org/team/iris-trainer:1"


class Lab:
    """A file:// store with iris and diabetes profiled into it, the Jobs the operator would
    create for a custom trainer, and their two containers run here as the kubelet would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = OperatorConfig(store_uri=(root / "store").as_uri())
        self.entries: dict[str, dict[str, Any]] = {}
        for name, source in (("iris", "iris"), ("diabetes", "diabetes")):
            log = root / f"profile-{name}.log"
            code = profile_cli.main(
                ["--namespace", "ml", "--name", name, "--spec",
                 json.dumps({"source": {"uri": f"sklearn://{source}"}}),
                 "--store", self.config.store_uri, "--termination-log", str(log)]
            )  # fmt: skip
            assert code == 0
            self.entries[name] = json.loads(log.read_text())

    def body(self, dataset: str = "iris", uid: str = "uid-1", **spec: Any) -> dict[str, Any]:
        container = {"image": IMAGE, "command": ["python", "/app/train.py"],
                     "task": "classification" if dataset == "iris" else "regression"}  # fmt: skip
        return {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": f"{dataset}-custom", "namespace": "ml", "uid": uid,
                         "generation": 1},
            "spec": {"datasetRef": {"name": dataset}, "model": dataset, "target": "target",
                     "container": container, **spec},
            "status": {},
        }  # fmt: skip

    def job(self, body: dict[str, Any]) -> dict[str, Any]:
        entry = self.entries[body["spec"]["datasetRef"]["name"]]
        return tj.train_job(body, entry, self.config)

    def trainer_env(self, job: dict[str, Any], output: Path, mp: pytest.MonkeyPatch) -> None:
        """The init container's environment here; its output emptyDir is `output`."""
        trainer = job["spec"]["template"]["spec"]["initContainers"][0]
        for var in trainer["env"]:
            mp.setenv(var["name"], var["value"])
        mp.setenv(contract.ENV_OUTPUT_DIR, str(output))

    def collect(self, job: dict[str, Any], output: Path) -> tuple[int, dict[str, Any]]:
        """The Job's main container: `mlops-operator train ... --custom-output`."""
        args = list(job["spec"]["template"]["spec"]["containers"][0]["args"])
        args[args.index("--custom-output") + 1] = str(output)
        log = output.parent / f"{output.name}.log"
        code = train_cli.main([*args[1:], "--termination-log", str(log)])
        return code, json.loads(log.read_text())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("sdk"))


def three_lines_classifier() -> Any:
    x, y = sdk.load_dataset()
    model = LogisticRegression(**{"max_iter": 500, **sdk.hyperparameters()}).fit(x, y)
    sdk.log_metrics({"accuracy": float((model.predict(x) == y).mean()), "f1": [0.9, 0.96]})
    sdk.save_model(model, x)
    return model, x


def test_the_job_hands_the_contract_to_the_users_container(lab: Lab) -> None:
    body = lab.body(hyperparameters={"C": 0.5}, acceptance=[{"metric": "accuracy", "min": 0.9}])
    job = lab.job(body)
    pod = job["spec"]["template"]["spec"]
    trainer, main = pod["initContainers"][0], pod["containers"][0]
    env = {e["name"]: e["value"] for e in trainer["env"]}
    entry = lab.entries["iris"]
    assert trainer["image"] == IMAGE and trainer["command"] == ["python", "/app/train.py"]
    assert env[contract.ENV_DATASET_URI] == entry["snapshotUri"]
    assert env[contract.ENV_DATASET_SHA256] == entry["version"]
    assert env[contract.ENV_TARGET] == "target" and env[contract.ENV_TASK] == "classification"
    assert json.loads(env[contract.ENV_HYPERPARAMETERS]) == {"C": 0.5}
    assert json.loads(env[contract.ENV_METRICS]) == ["accuracy"]
    assert env[contract.ENV_OUTPUT_DIR] == contract.OUTPUT_DIR
    assert contract.ENV_TRIAL not in env
    assert env["MLOPS_STORE"] == lab.config.store_uri
    # the user's container runs under the same restricted security as every pod
    assert trainer["securityContext"]["runAsNonRoot"] is True
    assert trainer["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # the project image collects, reading the same emptyDir (read-only)
    assert main["image"] == lab.config.image and main["args"][0] == "train"
    assert main["args"][-2:] == ["--custom-output", contract.OUTPUT_DIR]
    assert main["args"][main["args"].index("--image") + 1] == IMAGE
    mounts = {m["name"]: m for m in main["volumeMounts"]}
    assert mounts[contract.OUTPUT_VOLUME] == {
        "name": contract.OUTPUT_VOLUME, "mountPath": contract.OUTPUT_DIR, "readOnly": True}  # fmt: skip
    assert {"name": contract.OUTPUT_VOLUME, "emptyDir": {}} in pod["volumes"]
    assert contract.trainer_image(job) == IMAGE


def test_sdk_output_is_collected_recorded_and_registered(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = lab.body(acceptance=[{"metric": "accuracy", "min": 0.9}])
    job = lab.job(body)
    output = tmp_path / "output"
    lab.trainer_env(job, output, monkeypatch)
    model, x = three_lines_classifier()

    written = sorted(p.name for p in output.iterdir())
    assert written == ["metrics.json", "model.onnx", "signature.json", "trainer.json"]
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["folds"] == {"f1": [0.9, 0.96]}
    assert metrics["metrics"]["f1"] == pytest.approx(0.93)

    code, message = lab.collect(job, output)
    assert code == 0 and message["ok"] and message["accepted"], message
    result = read_result(tj.result_uri(lab.config, body))
    assert result is not None
    assert result["estimator"] == f"container:{IMAGE}" and result["task"] == "classification"
    assert result["image"] == IMAGE and result["outcome"] == "accepted"
    assert result["folds"] == {"f1": [0.9, 0.96]}
    assert result["metricsStd"]["f1"] == pytest.approx(0.03)
    assert result["fitSeconds"] is not None and result["fitSeconds"] >= 0
    sig = Signature.model_validate(result["signature"])
    assert [t.name for t in sig.inputs] == list(x.columns)
    assert sig.class_labels == [str(c) for c in model.classes_]
    artifact = result["artifact"]
    assert artifact["format"] == "onnx"
    verify_model(artifact["uri"], "onnx", artifact["sha256"], signature=sig,
                 store=Store(lab.config.store_uri))  # fmt: skip

    world = tj.TrainingWorld(
        {"metadata": {"name": "iris"}, "spec": {},
         "status": {"version": lab.entries["iris"]["version"], "history": [
             {k: lab.entries["iris"][k] for k in ("version", "snapshotUri", "profileUri")}],
             "conditions": [{"type": "Ready", "status": "True"}]}},
        JobOutcome("Succeeded"), result, [],
    )  # fmt: skip
    decision = tj.decide(body, world, lambda e, p: [], lab.config)
    (mv,) = decision.create
    assert mv["kind"] == "ModelVersion" and mv["metadata"]["name"] == "iris-v1"
    assert mv["spec"]["artifact"] == artifact and mv["spec"]["estimator"] == f"container:{IMAGE}"
    assert mv["spec"]["lineage"]["image"] == IMAGE
    assert mv["spec"]["metrics"]["accuracy"] == result["metrics"]["accuracy"]


def test_a_regressor_through_the_sdk_and_a_failed_threshold(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = lab.body("diabetes", acceptance=[{"metric": "r2", "min": 0.99}])
    job = lab.job(body)
    output = tmp_path / "output"
    lab.trainer_env(job, output, monkeypatch)
    x, y = sdk.load_dataset()
    assert sdk.task() == "regression" and y.dtype.kind == "f"
    model = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0).fit(x, y)
    sdk.log_metrics({"r2": 0.41, "rmse": 58.0})
    sdk.save_model(model, x)
    code, message = lab.collect(job, output)
    assert code == 0 and message["ok"]
    assert message["accepted"] is False and message["failures"] == ["r2 0.41 < min 0.99"]


def test_the_sdk_outside_a_container_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(contract.ENV_TASK, raising=False)
    with pytest.raises(sdk.ContractMissing, match="MLOPS_TASK is not set"):
        sdk.task()


def test_an_onnx_model_as_bytes_needs_its_classes(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = lab.job(lab.body())
    lab.trainer_env(job, tmp_path / "out", monkeypatch)
    x = pd.DataFrame({"a": np.arange(4.0)})
    with pytest.raises(ValueError, match="needs classes"):
        sdk.save_model(b"\x08\x07", x)


def test_log_metrics_refuses_what_is_not_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(contract.ENV_OUTPUT_DIR, str(tmp_path))
    assert sdk.log_metrics({"accuracy": 0.5}) == {"accuracy": 0.5}
    assert sdk.log_metrics({"accuracy": 0.75, "f1": [0.5, 1.0]}) == {"accuracy": 0.75, "f1": 0.75}
    with pytest.raises(ValueError, match="'rmse' is nan"):
        sdk.log_metrics({"rmse": float("nan")})
