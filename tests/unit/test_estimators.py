"""The estimator allow-list, hyperparameter validation and the preprocessing pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from mlops_operator.api.trainingjob import BOOSTING, CLASSIFIERS, ESTIMATORS, TrainingJobSpec
from mlops_operator.training.estimators import (
    build_pipeline,
    estimator_class,
    validate_hyperparameters,
)

# XGBoost and LightGBM have tests of their own (test_boosting.py).
SKLEARN = [name for name in ESTIMATORS if name not in BOOSTING]


def spec(estimator: str = "LogisticRegression", **fields: object) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate(
        {"datasetRef": {"name": "d"}, "model": "m", "estimator": estimator, "target": "y", **fields}
    )


@pytest.mark.parametrize("name", SKLEARN)
def test_every_allowed_estimator_maps_to_its_scikit_learn_class(name: str) -> None:
    cls = estimator_class(name)
    assert cls.__name__ == name and cls.__module__.startswith("sklearn.")
    assert is_classifier(cls()) == (name in CLASSIFIERS)
    assert is_regressor(cls()) == (name not in CLASSIFIERS)


def test_valid_hyperparameters_have_no_errors() -> None:
    assert validate_hyperparameters("RandomForestClassifier", {}) == []
    assert (
        validate_hyperparameters(
            "RandomForestClassifier",
            {
                "n_estimators": 50,
                "max_depth": None,
                "criterion": "entropy",
                "class_weight": "balanced",
            },
        )
        == []
    )
    assert validate_hyperparameters("Ridge", {"alpha": 0.5, "fit_intercept": False}) == []


def test_unknown_name_gets_a_close_match_hint() -> None:
    errors = validate_hyperparameters("RandomForestClassifier", {"max_dept": 3})
    assert errors == [
        "hyperparameter 'max_dept' is not a parameter of RandomForestClassifier; "
        "did you mean 'max_depth'?"
    ]
    (error,) = validate_hyperparameters("Ridge", {"zzz": 1})
    assert "'zzz' is not a parameter of Ridge; known: alpha, " in error


def test_wrong_type_and_out_of_range_name_the_parameter() -> None:
    errors = validate_hyperparameters(
        "LogisticRegression", {"C": -1, "solver": "adam", "max_iter": "lots"}
    )
    assert len(errors) == 3
    assert errors[0].startswith("The 'C' parameter of LogisticRegression must be a float")
    assert errors[0].endswith("Got -1 instead.")
    assert "'solver' parameter" in errors[1] and "'adam'" in errors[1]
    assert "'max_iter' parameter" in errors[2] and "'lots'" in errors[2]
    (error,) = validate_hyperparameters("KNeighborsClassifier", {"n_neighbors": 0})
    assert "'n_neighbors' parameter" in error and "range [1, inf)" in error


def test_object_parameters_and_unknown_estimators_are_refused() -> None:
    (error,) = validate_hyperparameters("GradientBoostingClassifier", {"init": "zero"})
    assert "'init'" in error and "object" in error
    (error,) = validate_hyperparameters("CatBoostClassifier", {})
    assert error.startswith("unknown estimator 'CatBoostClassifier'; allowed: ")
    assert "XGBClassifier" in error and "LGBMRegressor" in error


@pytest.mark.parametrize(
    ("scaling", "scaler"), [("standard", StandardScaler), ("minmax", MinMaxScaler)]
)
def test_pipeline_preprocessing(scaling: str, scaler: type) -> None:
    pipe = build_pipeline(spec(preprocessing={"scaling": scaling}), ["a", "b"], ["c"])
    pre = pipe.named_steps["preprocess"]
    assert isinstance(pre, ColumnTransformer)
    numeric, categorical = pre.transformers[0], pre.transformers[1]
    assert numeric[2] == ["a", "b"] and isinstance(numeric[1].steps[-1][1], scaler)
    assert categorical[2] == ["c"] and isinstance(categorical[1], OneHotEncoder)
    assert pipe.named_steps["model"].get_params()["random_state"] == 42

    frame = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0], "c": ["x", "y", "x", "z"]}
    )
    transformed = pre.fit_transform(frame)
    assert transformed.shape == (4, 2 + 3)  # two scaled columns, three one-hot columns
    if scaling == "minmax":
        assert transformed[:, 0].min() == 0.0 and transformed[:, 0].max() == 1.0
    else:
        assert np.isclose(transformed[:, 0].mean(), 0.0)


def test_no_scaling_and_ordinal_categoricals() -> None:
    preprocessing = {"scaling": "none", "oneHotCategoricals": False}
    job = spec(
        "DecisionTreeRegressor", preprocessing=preprocessing, hyperparameters={"max_depth": 3}
    )
    pipe = build_pipeline(job, ["a"], ["c"])
    pre = pipe.named_steps["preprocess"]
    assert [name for name, _ in pre.transformers[0][1].steps] == ["impute"]
    assert isinstance(pre.transformers[1][1], OrdinalEncoder)
    assert pipe.named_steps["model"].max_depth == 3


def test_user_hyperparameters_override_trainer_defaults() -> None:
    model = build_pipeline(spec(hyperparameters={"random_state": 7}), ["a"], []).named_steps[
        "model"
    ]
    assert model.random_state == 7 and model.max_iter == 1000


SMALL = {
    "RandomForestClassifier": {"n_estimators": 3},
    "RandomForestRegressor": {"n_estimators": 3},
    "GradientBoostingClassifier": {"n_estimators": 3},
    "GradientBoostingRegressor": {"n_estimators": 3},
    "HistGradientBoostingClassifier": {"max_iter": 3},
    "HistGradientBoostingRegressor": {"max_iter": 3},
}


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
@pytest.mark.parametrize("name", SKLEARN)
def test_every_allowed_pipeline_loads_with_the_skops_trust_list(name: str) -> None:
    import skops.io as sio

    from mlops_operator.artifacts import load_skops

    rng = np.random.default_rng(1)
    x = pd.DataFrame(
        {"a": rng.normal(size=40), "b": rng.normal(size=40), "c": rng.choice(["p", "q"], 40)}
    )
    y = pd.Series(np.where(x["a"] > 0, "hi", "lo")) if name in CLASSIFIERS else x["a"] * 2
    job = spec(name, hyperparameters=SMALL.get(name, {}), preprocessing={"scaling": "standard"})
    fitted = build_pipeline(job, ["a", "b"], ["c"]).fit(x, y)
    loaded = load_skops(sio.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))
