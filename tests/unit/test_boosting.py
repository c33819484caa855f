"""XGBoost and LightGBM: hyperparameters checked without the libraries, trained by the real
trainer, exported to ONNX that reproduces their predictions, and served by the model server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from test_serving_fixtures import Served, wait_ready
from test_train_cli import Lab

from mlops_operator.api.modelversion import Signature
from mlops_operator.api.trainingjob import BOOSTING, CLASSIFIERS
from mlops_operator.artifacts import load_onnx, verify_model
from mlops_operator.serving.app import create_app
from mlops_operator.training import boosting, boosting_params
from mlops_operator.training.estimators import validate_hyperparameters
from mlops_operator.training.export import onnx_feeds


@pytest.mark.parametrize("name", sorted(BOOSTING))
def test_every_name_in_the_table_is_a_parameter_of_the_real_class(name: str) -> None:
    real = set(boosting.library_class(name)().get_params(deep=False))
    table = set(boosting_params.TABLES[name])
    assert table <= real, sorted(table - real)


def test_valid_boosting_hyperparameters_have_no_errors() -> None:
    assert validate_hyperparameters("XGBClassifier", {}) == []
    params = {"n_estimators": 50, "max_depth": 4, "learning_rate": 0.1, "subsample": 1.0}
    assert validate_hyperparameters("XGBRegressor", params) == []
    lgbm = {"num_leaves": 31, "max_depth": -1, "boosting_type": "dart", "class_weight": None}
    assert validate_hyperparameters("LGBMClassifier", lgbm) == []


@pytest.mark.parametrize(
    ("estimator", "params", "message"),
    [
        (
            "XGBClassifier",
            {"max_dept": 3},
            "'max_dept' is not a parameter of XGBClassifier; did you mean 'max_depth'?",
        ),
        (
            "XGBClassifier",
            {"learning_rate": 0},
            "'learning_rate' parameter of XGBClassifier must be in (0, 1]. Got 0",
        ),
        (
            "XGBRegressor",
            {"subsample": 1.5},
            "'subsample' parameter of XGBRegressor must be in (0, 1]",
        ),
        (
            "LGBMRegressor",
            {"num_leaves": 2.5},
            "'num_leaves' parameter of LGBMRegressor must be an integer",
        ),
        ("LGBMClassifier", {"boosting_type": "goss2"}, "must be one of ['gbdt', 'dart']"),
        (
            "LGBMClassifier",
            {"n_estimators": "ten"},
            "'n_estimators' parameter of LGBMClassifier must be an integer. Got 'ten'",
        ),
        (
            "XGBClassifier",
            {"max_depth": True},
            "'max_depth' parameter of XGBClassifier must be an integer",
        ),
    ],
)
def test_bad_boosting_hyperparameters_name_the_parameter(
    estimator: str, params: dict[str, Any], message: str
) -> None:
    errors = validate_hyperparameters(estimator, params)
    assert len(errors) == 1 and message in errors[0], errors


def test_validation_does_not_import_the_libraries() -> None:
    for module in [m for m in sys.modules if m.split(".")[0] in ("xgboost", "lightgbm")]:
        del sys.modules[module]
    assert validate_hyperparameters("XGBClassifier", {"max_depth": 3}) == []
    assert validate_hyperparameters("LGBMRegressor", {"num_leaves": 8}) == []
    assert "xgboost" not in sys.modules and "lightgbm" not in sys.modules


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    lab = Lab(tmp_path_factory.mktemp("boosting"))
    for name in ("iris", "breast_cancer", "diabetes"):
        lab.profile(name.replace("_", "-"), {"uri": f"sklearn://{name}"})
    return lab


CASES = [
    ("iris", "XGBClassifier", {"n_estimators": 20, "max_depth": 3}, "accuracy", 0.85),
    ("iris", "LGBMClassifier", {"n_estimators": 20, "num_leaves": 8}, "accuracy", 0.85),
    ("breast-cancer", "XGBClassifier", {"n_estimators": 20}, "roc_auc", 0.95),
    ("breast-cancer", "LGBMClassifier", {"n_estimators": 20}, "roc_auc", 0.95),
    ("diabetes", "XGBRegressor", {"n_estimators": 30, "max_depth": 2}, "r2", 0.2),
    ("diabetes", "LGBMRegressor", {"n_estimators": 30, "num_leaves": 4}, "r2", 0.2),
]


def _served(result: dict[str, Any], fitted: Any, x: Any) -> Served:
    artifact = result["artifact"]
    return Served(
        estimator=fitted,
        X=x,
        path=Path(artifact["uri"].removeprefix("file://")),
        sha256=artifact["sha256"],
        format=artifact["format"],
        signature=Signature.model_validate(result["signature"]),
    )


@pytest.mark.parametrize(("dataset", "estimator", "params", "metric", "floor"), CASES)
def test_boosting_trains_exports_onnx_and_is_served(
    lab: Lab, dataset: str, estimator: str, params: dict[str, Any], metric: str, floor: float
) -> None:
    spec = {"estimator": estimator, "hyperparameters": params}
    code, message = lab.train(dataset, spec, uid=f"b-{dataset}-{estimator}")
    assert code == 0 and message["ok"], message
    assert message["metrics"][metric] > floor
    result = lab.result(message)
    artifact = result["artifact"]
    assert artifact["format"] == "onnx", result
    assert result["estimator"] == estimator and result["params"]["random_state"] == 42
    signature = Signature.model_validate(result["signature"])
    verify_model(artifact["uri"], "onnx", artifact["sha256"], signature=signature, store=lab.store)
    card = lab.store.read_json(artifact["uri"].replace("model.onnx", "card.json"))
    library = "xgboost" if estimator.startswith("XGB") else "lightgbm"
    assert library in card["trainer"] and "onnxmltools" in card["trainer"]

    # The ONNX graph reproduces an independent refit of the same pipeline.
    fitted, x = lab.refit(result, spec)
    session = load_onnx(lab.store.read_verified(artifact["uri"], artifact["sha256"]))
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, onnx_feeds(x, list(x.columns))), strict=True))
    classification = estimator in CLASSIFIERS
    if classification:
        assert signature.class_labels == [str(c) for c in fitted.classes_]
        assert (outputs["label"].astype(str) == fitted.predict(x)).all()
        np.testing.assert_allclose(outputs["probabilities"], fitted.predict_proba(x), atol=1e-4)
    else:
        np.testing.assert_allclose(outputs["variable"].ravel(), fitted.predict(x), rtol=1e-4)

    # The model server serves it as any other ONNX model.
    served = _served(result, fitted, x)
    rows = x.iloc[:5]
    with TestClient(create_app(served.config(model_name=dataset))) as client:
        wait_ready(client)
        response = client.post(f"/v1/models/{dataset}/records", json=rows.to_dict("records"))
        assert response.status_code == 200, response.text
        body = response.json()
    if classification:
        assert [r["label"] for r in body] == list(fitted.predict(rows))
        assert set(body[0]["probabilities"]) == set(signature.class_labels or [])
    else:
        np.testing.assert_allclose([r["value"] for r in body], fitted.predict(rows), rtol=1e-4)
