"""The estimator allow-list, hyperparameter checks, and the preprocessing + estimator pipeline."""

from __future__ import annotations

import difflib
import importlib
import warnings
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from ..api.trainingjob import (
    BOOSTING,
    CLASSIFIERS,
    REGRESSORS,
    TrainingJobSpec,
    spec_task,
)
from . import boosting_params

_MODULES = {**CLASSIFIERS, **REGRESSORS}

# Estimator parameters that hold objects or callables: they cannot come from a JSON spec.
_OBJECT_PARAMS = frozenset({"estimator", "base_estimator", "init", "metric_params", "memory"})


def estimator_class(name: str) -> type[BaseEstimator]:
    if name not in _MODULES:
        raise ValueError(f"unknown estimator {name!r}; allowed: {', '.join(sorted(_MODULES))}")
    cls: type[BaseEstimator] = getattr(importlib.import_module(_MODULES[name]), name)
    return cls


def validate_hyperparameters(estimator: str, params: dict[str, Any]) -> list[str]:
    """Every problem with `params` for `estimator`, each naming the parameter; [] when valid.

    Uses the estimator's own get_params() for names and its `_parameter_constraints` for
    types and ranges, without fitting anything.
    """
    if estimator in BOOSTING:  # a table of our own: the operator never imports xgboost
        return boosting_params.validate(estimator, params)
    try:
        cls = estimator_class(estimator)
    except ValueError as err:
        return [str(err)]
    known = sorted(cls().get_params(deep=False))
    constraints: dict[str, Any] = getattr(cls, "_parameter_constraints", {})
    errors: list[str] = []
    for name, value in params.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            errors.append(f"hyperparameter {name!r} is not a parameter of {estimator}{hint}")
            continue
        if name in _OBJECT_PARAMS:
            errors.append(f"hyperparameter {name!r} of {estimator} takes an object; not settable")
            continue
        problem = _constraint_error(estimator, name, value, constraints)
        if problem:
            errors.append(problem)
    return errors


def _constraint_error(estimator: str, name: str, value: Any, constraints: dict[str, Any]) -> str:
    if name not in constraints:
        return ""
    try:
        from sklearn.utils._param_validation import (
            InvalidParameterError,
            validate_parameter_constraints,
        )
    except ImportError:  # private API moved: names are still checked, fit reports the rest
        return ""
    try:
        validate_parameter_constraints(
            {name: constraints[name]}, {name: value}, caller_name=estimator
        )
    except InvalidParameterError as err:
        return str(err)  # "The 'C' parameter of LogisticRegression must be ... Got -1 instead."
    return ""


def default_params(estimator: str, seed: int) -> dict[str, Any]:
    """What the trainer sets unless the user did: a seed, and probabilities for SVC."""
    if estimator in BOOSTING:
        return {"random_state": seed}
    cls = estimator_class(estimator)
    names = cls().get_params(deep=False)
    defaults: dict[str, Any] = {}
    if "random_state" in names:
        defaults["random_state"] = seed
    if estimator == "SVC" and "probability" in names:
        # The model contract has a `probabilities` output. (Deprecated in scikit-learn 1.9;
        # where it is gone, SVC models give labels and no probabilities.)
        defaults["probability"] = True
    if estimator == "LogisticRegression":
        defaults["max_iter"] = 1000
    return defaults


def estimator_of(spec: TrainingJobSpec) -> str:
    """The built-in estimator (a spec.container has none: it trains itself)."""
    if spec.estimator is None:
        raise ValueError("spec.container trains itself: no built-in estimator to build")
    return str(spec.estimator)


def effective_params(spec: TrainingJobSpec) -> dict[str, Any]:
    if spec.estimator is None:
        return dict(spec.hyperparameters)
    return {**default_params(estimator_of(spec), spec.split.seed), **spec.hyperparameters}


def build_pipeline(spec: TrainingJobSpec, numeric: list[str], categorical: list[str]) -> Pipeline:
    """Impute + scale numeric columns, encode categoricals, then the estimator."""
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        scaling = spec.preprocessing.scaling
        if scaling == "standard":
            steps.append(("scale", StandardScaler()))
        elif scaling == "minmax":
            steps.append(("scale", MinMaxScaler()))
        transformers.append(("numeric", Pipeline(steps), list(numeric)))
    if categorical:
        encoder: Any
        if spec.preprocessing.one_hot_categoricals:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        else:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        transformers.append(("categorical", encoder, list(categorical)))
    if not transformers:
        raise ValueError("no feature columns to train on")
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if spec.estimator in BOOSTING:
            from . import boosting

            model = boosting.build(estimator_of(spec), effective_params(spec))
        else:
            model = estimator_class(estimator_of(spec))(**effective_params(spec))
    return Pipeline([("preprocess", preprocess), ("model", model)])


def task(spec: TrainingJobSpec) -> str:
    return spec_task(spec)
