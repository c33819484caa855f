"""`mlops-operator train` in-process on real data: fits, metrics, artifacts and round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_operator.api.modelversion import Signature
from mlops_operator.api.trainingjob import TrainingJobSpec
from mlops_operator.artifacts import Store, load_onnx, load_skops, verify_model
from mlops_operator.training import profile_cli, train_cli
from mlops_operator.training.estimators import build_pipeline
from mlops_operator.training.export import onnx_feeds
from mlops_operator.training.snapshot import read_parquet


class Lab:
    """A file:// store with Datasets profiled into it, and the train command run on them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Store((root / "store").as_uri())
        self.datasets: dict[str, dict[str, Any]] = {}

    def profile(self, name: str, source: dict[str, Any]) -> dict[str, Any]:
        log = self.root / f"profile-{name}.log"
        args = ["--namespace", "ml", "--name", name, "--spec", json.dumps({"source": source})]
        code = profile_cli.main([*args, "--store", self.store.root, "--termination-log", str(log)])
        message = json.loads(log.read_text())
        assert code == 0 and message["passed"], message
        self.datasets[name] = message
        return message

    def train(
        self, dataset: str, spec: dict[str, Any], uid: str, *extra: str
    ) -> tuple[int, dict[str, Any]]:
        data = self.datasets[dataset]
        full = {"datasetRef": {"name": dataset}, "model": dataset, "target": "target", **spec}
        log = self.root / f"train-{uid}.log"
        code = train_cli.main(
            [
                "--namespace", "ml", "--name", f"tj-{dataset}", "--uid", uid,
                "--spec", json.dumps(full),
                "--dataset-name", dataset, "--dataset-version", data["version"],
                "--snapshot-uri", data["snapshotUri"], "--profile-uri", data["profileUri"],
                "--store", self.store.root, "--termination-log", str(log), *extra,
            ]
        )  # fmt: skip
        raw = log.read_bytes()
        assert len(raw) < 4096
        return code, json.loads(raw)

    def result(self, message: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.store.read_json(message["resultUri"], message["resultSha256"])
        return result

    def refit(self, result: dict[str, Any], spec: dict[str, Any]) -> tuple[Any, pd.DataFrame]:
        """Fit the same pipeline again, independently of the artifact, on the same data."""
        dataset = result["dataset"]
        snapshot_uri = self.datasets[dataset["name"]]["snapshotUri"]
        frame = read_parquet(self.store.read_verified(snapshot_uri, dataset["version"]))
        full = {"datasetRef": {"name": "d"}, "model": "m", "target": "target", **spec}
        job = TrainingJobSpec.model_validate(full)
        x, y, features, numeric = train_cli.prepare(frame, job, dataset["name"])
        categorical = [f for f in features if f not in numeric]
        return build_pipeline(job, numeric, categorical).fit(x, y), x


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    for name in ("iris", "wine", "breast_cancer", "diabetes"):
        lab.profile(name.replace("_", "-"), {"uri": f"sklearn://{name}"})
    return lab


CASES = [
    ("iris", "LogisticRegression", "accuracy", 0.9),
    ("wine", "LogisticRegression", "accuracy", 0.9),
    ("breast-cancer", "LogisticRegression", "roc_auc", 0.95),
    ("diabetes", "Ridge", "r2", 0.3),
]


@pytest.mark.parametrize(("dataset", "estimator", "metric", "floor"), CASES)
def test_bundled_dataset_trains_and_the_onnx_model_matches(
    lab: Lab, dataset: str, estimator: str, metric: str, floor: float
) -> None:
    spec = {
        "estimator": estimator,
        "preprocessing": {"scaling": "standard"},
        "acceptance": [{"metric": metric, "min": floor}],
    }
    code, message = lab.train(dataset, spec, uid=f"u-{dataset}")
    assert code == 0 and message["ok"], message
    assert message["accepted"] is True and message["failures"] == []
    assert message["metrics"][metric] > floor
    result = lab.result(message)
    assert result["dataset"] == {"name": dataset, "version": lab.datasets[dataset]["version"]}
    assert result["profileUri"] == lab.datasets[dataset]["profileUri"]
    assert result["params"]["random_state"] == 42  # the split seed, set by the trainer
    classification = dataset != "diabetes"
    expected_metrics = (
        {"accuracy", "f1", "roc_auc", "precision", "recall"}
        if classification
        else {"rmse", "mae", "r2"}
    )
    assert set(result["metrics"]) == expected_metrics
    if not classification:
        assert 40 < result["metrics"]["rmse"] < 70 and result["metrics"]["mae"] < 60

    artifact = result["artifact"]
    assert artifact["format"] == "onnx"
    assert artifact["uri"].endswith(f"models/ml/{dataset}/{artifact['sha256']}/model.onnx")
    signature = Signature.model_validate(result["signature"])
    verify_model(artifact["uri"], "onnx", artifact["sha256"], signature=signature, store=lab.store)
    card = lab.store.read_json(artifact["uri"].replace("model.onnx", "card.json"))
    assert card["sha256"] == artifact["sha256"] and card["metrics"] == result["metrics"]
    assert set(card["trainer"]) == {"sklearn", "skl2onnx", "onnx"}

    fitted, x = lab.refit(result, spec)
    session = load_onnx(lab.store.read_verified(artifact["uri"], artifact["sha256"]))
    outputs = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, onnx_feeds(x, list(x.columns))),
            strict=True,
        )
    )
    assert [i.name for i in session.get_inputs()] == [t.name for t in signature.inputs]
    if classification:
        assert signature.class_labels == [str(c) for c in fitted.classes_]
        assert (outputs["label"].astype(str) == fitted.predict(x)).all()
        np.testing.assert_allclose(outputs["probabilities"], fitted.predict_proba(x), atol=1e-4)
    else:
        np.testing.assert_allclose(outputs["variable"].ravel(), fitted.predict(x), rtol=1e-4)


def test_skops_round_trip(lab: Lab) -> None:
    spec = {"estimator": "RandomForestClassifier", "hyperparameters": {"n_estimators": 15}}
    code, message = lab.train("wine", spec, "u-skops", "--model-format", "skops")
    assert code == 0, message
    result = lab.result(message)
    artifact = result["artifact"]
    assert artifact["format"] == "skops" and artifact["uri"].endswith("/model.skops")
    assert result["metrics"]["accuracy"] > 0.85
    verify_model(artifact["uri"], "skops", artifact["sha256"], store=lab.store)
    loaded = load_skops(lab.store.read_verified(artifact["uri"], artifact["sha256"]))
    fitted, x = lab.refit(result, spec)
    assert (loaded.predict(x) == fitted.predict(x)).all()
    np.testing.assert_array_equal(loaded.predict_proba(x), fitted.predict_proba(x))


def test_categorical_feature_goes_through_one_hot(lab: Lab) -> None:
    rng = np.random.default_rng(3)
    n = 300
    plan = rng.choice(["basic", "pro", "enterprise"], n)
    usage = rng.normal(50, 15, n).round(1)
    churn = np.where((plan == "basic") & (usage < 55), "yes", "no")
    path = lab.root / "churn.csv"
    pd.DataFrame({"plan": plan, "usage": usage, "target": churn}).to_csv(path, index=False)
    lab.profile("churn", {"uri": path.as_uri()})

    spec = {"estimator": "DecisionTreeClassifier", "hyperparameters": {"max_depth": 4},
            "split": {"method": "kfold", "folds": 4}}  # fmt: skip
    code, message = lab.train("churn", spec, "u-churn")
    assert code == 0, message
    assert message["metrics"]["accuracy"] > 0.95
    result = lab.result(message)
    assert result["signature"]["inputs"] == [
        {"name": "plan", "datatype": "BYTES", "shape": [-1]},
        {"name": "usage", "datatype": "FP32", "shape": [-1]},
    ]
    assert result["signature"]["classLabels"] == ["no", "yes"]
    artifact = result["artifact"]
    assert artifact["format"] == "onnx"
    session = load_onnx(lab.store.read_verified(artifact["uri"], artifact["sha256"]))
    fitted, x = lab.refit(result, spec)
    label, proba = session.run(None, onnx_feeds(x, ["usage"]))
    assert (label == fitted.predict(x)).all()
    np.testing.assert_allclose(proba, fitted.predict_proba(x), atol=1e-4)
    unseen = {
        "plan": np.array([["startup"]], dtype=object),
        "usage": np.array([[10.0]], np.float32),
    }
    assert (
        session.run(None, unseen)[0][0]
        == fitted.predict(pd.DataFrame({"plan": ["startup"], "usage": [10.0]}))[0]
    )


def test_failed_acceptance_is_a_result_not_a_crash(lab: Lab) -> None:
    spec = {
        "estimator": "DecisionTreeClassifier",
        "hyperparameters": {"max_depth": 1},
        "metrics": ["accuracy", "f1"],
        "acceptance": [{"metric": "accuracy", "min": 0.9}, {"metric": "f1", "max": 0.99}],
    }
    code, message = lab.train("iris", spec, "u-stump")
    assert code == 0 and message["ok"] is True and message["accepted"] is False
    accuracy = message["metrics"]["accuracy"]
    assert 0.5 < accuracy < 0.9 and set(message["metrics"]) == {"accuracy", "f1"}
    assert message["failures"] == [f"accuracy {accuracy:.4g} < min 0.9"]
    assert lab.result(message)["accepted"] is False


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"estimator": "LogisticRegression", "target": "species"},
         "target 'species' is not a column of Dataset iris; columns: sepal_length_cm"),
        ({"estimator": "LogisticRegression", "hyperparameters": {"C": -1, "max_iters": 5}},
         "The 'C' parameter of LogisticRegression must be a float"),
        ({"estimator": "LogisticRegression", "hyperparameters": {"max_iters": 5}},
         "did you mean 'max_iter'?"),
        ({"estimator": "Ridge"}, "Ridge is a regressor and needs a numeric target"),
        ({"estimator": "LogisticRegression", "metrics": ["rmse"]},
         "do not apply to classification"),
        ({"estimator": "LogisticRegression", "features": ["petal_width_cm", "colour"]},
         "feature(s) not in Dataset iris: colour"),
        ({"estimator": "SGDClassifier"}, "invalid TrainingJob spec"),
    ],
)  # fmt: skip
def test_invalid_input_is_reported_before_training(
    lab: Lab, spec: dict[str, Any], error: str
) -> None:
    code, message = lab.train("iris", spec, "u-bad")
    assert code == 1 and message["ok"] is False and message["reason"] == "InvalidInput"
    assert error in message["error"]
    assert not (lab.root / "store/runs/ml/tj-iris/u-bad").exists()


def test_tampered_snapshot_is_refused(lab: Lab, tmp_path: Path) -> None:
    iris = lab.datasets["iris"]
    copy = Lab(tmp_path)
    data = bytearray(lab.store.read_bytes(iris["snapshotUri"]))
    data[100] ^= 0xFF
    uri, _ = copy.store.write_bytes("datasets/ml/iris/snap/data.parquet", bytes(data))
    copy.datasets["iris"] = {**iris, "snapshotUri": uri}
    code, message = copy.train("iris", {"estimator": "GaussianNB"}, "u-tampered")
    assert code == 1 and message["reason"] == "TrainerError"
    assert (
        "dataset snapshot" in message["error"] and "expected " + iris["version"] in message["error"]
    )
