"""spec.container: what the collect step refuses (each failure names what is missing), the
decisions around a custom trainer (no estimator checks, search trials get their parameters)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression
from tests.unit.test_sdk import Lab
from tests.unit.test_search import trial_job

from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.reconcile import custom_trainer as contract
from mlops_operator.reconcile import trainingjob as tj
from mlops_operator.reconcile.jobs import job_outcome
from mlops_operator.reconcile.search import trials as tr
from mlops_operator.reconcile.search.space import space_errors
from mlops_operator.training import sdk


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("custom"))


@pytest.fixture(scope="module")
def good(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete trainer output made with the SDK, copied and broken by each test."""
    output = tmp_path_factory.mktemp("good") / "output"
    with pytest.MonkeyPatch.context() as mp:
        lab.trainer_env(lab.job(lab.body()), output, mp)
        x, y = sdk.load_dataset()
        model = LogisticRegression(max_iter=500).fit(x, y)
        sdk.log_metrics({"accuracy": 0.96})
        sdk.save_model(model, x)
    return output


def broken(good: Path, tmp_path: Path, change: Any) -> Path:
    output = tmp_path / "output"
    shutil.copytree(good, output)
    change(output)
    return output


def edit_json(name: str, edit: Any) -> Any:
    def change(output: Path) -> None:
        path = output / name
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))

    return change


def rename_input(sig: dict[str, Any]) -> dict[str, Any]:
    sig["inputs"][0]["name"] = "petal colour"
    return sig


def drop_class_labels(sig: dict[str, Any]) -> dict[str, Any]:
    sig.pop("classLabels")
    return sig


def bad_datatype(sig: dict[str, Any]) -> dict[str, Any]:
    sig["inputs"][0]["datatype"] = "FLOAT"
    return sig


def rewrite_model(output: Path) -> None:
    (output / "model.onnx").write_bytes(b"not an onnx model")


CASES = [
    ("no model", lambda o: (o / "model.onnx").unlink(), "ModelMissing",
     "the trainer left no model in MLOPS_OUTPUT_DIR"),
    ("two models", lambda o: (o / "model.skops").write_bytes(b"x"), "ModelMissing",
     "both model.onnx and model.skops"),
    ("no signature", lambda o: (o / "signature.json").unlink(), "SignatureInvalid",
     "no signature.json"),
    ("signature not JSON", lambda o: (o / "signature.json").write_text("{"), "SignatureInvalid",
     "signature.json is not JSON"),
    ("bad datatype", edit_json("signature.json", bad_datatype), "SignatureInvalid",
     "signature.json: inputs.0.datatype"),
    ("input not a column", edit_json("signature.json", rename_input), "SignatureInvalid",
     "inputs petal colour are not columns of Dataset iris"),
    ("classifier without labels", edit_json("signature.json", drop_class_labels),
     "SignatureInvalid", "a classifier needs classLabels"),
    ("no metrics file", lambda o: (o / "metrics.json").unlink(), "MetricsMissing",
     "no metrics.json"),
    ("empty metrics", edit_json("metrics.json", lambda m: {"metrics": {}}), "MetricsMissing",
     "metrics.json has no metrics"),
    ("metric not a number", edit_json("metrics.json", lambda m: {"metrics": {"accuracy": "hi"}}),
     "MetricsMissing", "metrics accuracy are not numbers"),
    ("model changed after the SDK wrote it", rewrite_model, "ChecksumMismatch",
     "model.onnx has sha256"),
    ("model does not load", lambda o: (rewrite_model(o), (o / "trainer.json").unlink()),
     "LoadFailed", "onnxruntime cannot load the model"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "reason", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_trainer_output_fails_naming_what_is_missing(
    lab: Lab, good: Path, tmp_path: Path, what: str, change: Any, reason: str, message: str
) -> None:
    output = broken(good, tmp_path, change)
    code, answer = lab.collect(lab.job(lab.body()), output)
    assert code == 1 and answer["ok"] is False
    assert answer["reason"] == reason, answer
    assert message in answer["error"], answer["error"]


def test_inputs_other_than_spec_features_are_refused(lab: Lab, good: Path, tmp_path: Path) -> None:
    output = broken(good, tmp_path, lambda o: None)
    body = lab.body(features=["petal length (cm)", "petal width (cm)"])
    code, answer = lab.collect(lab.job(body), output)
    assert code == 1 and answer["reason"] == "SignatureInvalid"
    assert "are not spec.features ['petal length (cm)', 'petal width (cm)']" in answer["error"]


def test_the_good_output_is_accepted(lab: Lab, good: Path, tmp_path: Path) -> None:
    output = broken(good, tmp_path, lambda o: None)
    code, answer = lab.collect(lab.job(lab.body()), output)
    assert code == 0 and answer["ok"] and answer["metrics"] == {"accuracy": 0.96}


def test_a_containers_hyperparameters_are_not_checked_against_an_estimator(lab: Lab) -> None:
    def refuse_all(estimator: str, params: dict[str, Any]) -> list[str]:
        raise AssertionError(f"validated {estimator} for a container")

    body = lab.body(hyperparameters={"anything": [1, 2], "depth": 3})
    spec = TrainingJob.model_validate({"spec": body["spec"]}).spec
    assert tj.spec_errors(spec, None, refuse_all) is None


def search_body(lab: Lab, **search: Any) -> dict[str, Any]:
    return lab.body(
        hyperparameters={"max_iter": 300},
        search={"algorithm": "random", "objective": {"metric": "accuracy"}, "maxTrials": 4,
                "parallelism": 2,
                "parameters": [{"name": "C", "type": "float", "min": 0.01, "max": 10,
                                "log": True}], **search},
    )  # fmt: skip


def test_a_search_over_a_container_hands_each_trial_its_parameters(lab: Lab) -> None:
    body = search_body(lab)
    job = trial_job(body, 2, {"C": 0.37})
    env = {
        e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["initContainers"][0]["env"]
    }
    assert json.loads(env[contract.ENV_HYPERPARAMETERS]) == {"C": 0.37, "max_iter": 300}
    assert env[contract.ENV_TRIAL] == "2"
    assert json.loads(env[contract.ENV_METRICS]) == ["accuracy"]
    assert job["metadata"]["name"] == tr.trial_job_name(body, 2)
    assert job["metadata"]["labels"][tr.TRIAL_LABEL] == "2"


def test_a_containers_search_objective_must_fit_its_task(lab: Lab) -> None:
    body = search_body(lab, objective={"metric": "rmse"})
    spec = TrainingJob.model_validate({"spec": body["spec"]}).spec
    problem = space_errors(spec, lambda e, p: [])
    assert problem == (
        "spec.search.objective.metric 'rmse' does not apply to "
        f"container:{spec.container.image} (classification); "  # type: ignore[union-attr]
        "use one of accuracy, f1, roc_auc, precision, recall"
    )


def test_a_failed_trainer_container_explains_the_failed_job() -> None:
    job = {
        "status": {
            "failed": 1,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
        }
    }
    pod = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {
        "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}],
        "initContainerStatuses": [{"name": "trainer", "state": {"terminated": {
            "exitCode": 2, "reason": "Error",
            "message": "KeyError: 'petal colour'"}}}]}}  # fmt: skip
    outcome = job_outcome(job, [pod])
    assert outcome.state == "Failed" and outcome.reason == "BackoffLimitExceeded"
    assert outcome.message == "KeyError: 'petal colour'"
