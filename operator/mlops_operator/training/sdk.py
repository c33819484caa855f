"""The training SDK: your own training code in a TrainingJob's `spec.container`, in three lines.

    from mlops_operator.training import sdk

    x, y = sdk.load_dataset()                       # the Dataset version, checked by its sha256
    model = MyEstimator(**sdk.hyperparameters()).fit(x, y)
    sdk.log_metrics({"accuracy": 0.97})             # or per fold: {"accuracy": [0.96, 0.98]}
    sdk.save_model(model, x)                        # ONNX (else skops) + its signature

It reads the MLOPS_* variables the operator sets (docs/experiments.md, the container contract)
and writes the files the operator's collect step reads from MLOPS_OUTPUT_DIR. Code in another
language can write the same files itself.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..api.modelversion import CLASSIFICATION, ONNX, SKOPS, Signature
from ..api.trainingjob import TrainingJobSpec
from ..artifacts.store import Store, sha256_hex
from ..reconcile import custom_trainer as contract

_STARTED = time.monotonic()


class ContractMissing(RuntimeError):
    """A contract variable is not set: this code runs outside a TrainingJob's container."""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ContractMissing(f"{name} is not set: run this in a TrainingJob's spec.container")
    return value


def task() -> str:
    return _env(contract.ENV_TASK)


def hyperparameters() -> dict[str, Any]:
    """spec.hyperparameters, with the trial's parameters on top in a search."""
    return dict(json.loads(os.environ.get(contract.ENV_HYPERPARAMETERS) or "{}"))


def trial() -> int | None:
    raw = os.environ.get(contract.ENV_TRIAL)
    return int(raw) if raw else None


def split() -> dict[str, Any]:
    """spec.split: method, testSize, folds, seed, stratify."""
    return dict(json.loads(os.environ.get(contract.ENV_SPLIT) or "{}"))


def output_dir() -> Path:
    path = Path(_env(contract.ENV_OUTPUT_DIR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spec() -> TrainingJobSpec:
    features = json.loads(os.environ.get(contract.ENV_FEATURES) or "[]")
    return TrainingJobSpec.model_validate(
        {
            "datasetRef": {"name": _env(contract.ENV_DATASET_NAME)},
            "model": "sdk",
            "target": _env(contract.ENV_TARGET),
            "features": features or None,
            "container": {"image": "sdk", "task": task()},
        }
    )


def load_dataset() -> tuple[pd.DataFrame, pd.Series]:
    """(X, y) of the Dataset version, prepared as built-in training prepares it: the snapshot
    checked against its sha256, rows without a target dropped, numeric features as the FP32
    values serving will feed, other features as strings, a classifier's target as strings."""
    from .train_cli import load_snapshot, prepare

    spec = _spec()
    frame = load_snapshot(
        Store.from_env(), _env(contract.ENV_DATASET_URI), _env(contract.ENV_DATASET_SHA256)
    )
    x, y, _, _ = prepare(frame, spec, spec.dataset_ref.name)
    return x, y


def log_metrics(metrics: Mapping[str, float | Sequence[float]]) -> dict[str, float]:
    """Record metrics: a number each, or one per fold (their mean becomes the metric). Calls
    add up; a name logged again is replaced. Returns every metric so far."""
    path = output_dir() / contract.METRICS_FILE
    document = json.loads(path.read_text()) if path.is_file() else {"metrics": {}, "folds": {}}
    for name, given in metrics.items():
        if isinstance(given, Sequence) and not isinstance(given, str):
            values = [float(v) for v in given]
            if not values:
                raise ValueError(f"metric {name!r}: no fold values")
            document["folds"][name] = values
            value = float(np.mean(values))
        else:
            value = float(given)
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value}; metrics must be finite numbers")
        document["metrics"][name] = value
    path.write_text(json.dumps(document, indent=1))
    return dict(document["metrics"])


def _pipeline(model: Any, x: pd.DataFrame) -> Any:
    """The model as a pipeline whose first step picks the columns by name (what the ONNX
    converter needs for one input per column); a pipeline that has one already is kept."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and isinstance(model.steps[0][1], ColumnTransformer):
        return model
    columns = ColumnTransformer([("columns", "passthrough", list(x.columns))]).fit(x)
    return Pipeline([("columns", columns), ("model", model)])


def save_model(
    model: Any,
    x: pd.DataFrame,
    *,
    classes: Sequence[str] | None = None,
    prefer: str = "auto",
) -> Path:
    """Save the fitted model and its signature (inputs: the columns of `x`).

    A scikit-learn-compatible model (an estimator or a Pipeline) is converted to ONNX when it
    converts and reproduces its predictions, else saved with skops (prefer="skops" forces it).
    An ONNX model (bytes or an onnx ModelProto) is saved as given: its inputs must be one
    [-1, 1] tensor per column of `x`; a classifier then names its `classes`.
    """
    from pandas.api import types as ptypes

    from .export import export, signature

    features = [str(c) for c in x.columns]
    numeric = [
        c for c in features if ptypes.is_numeric_dtype(x[c]) and not ptypes.is_bool_dtype(x[c])
    ]
    kind = task()
    if isinstance(model, bytes) or hasattr(model, "SerializeToString"):
        data = model if isinstance(model, bytes) else bytes(model.SerializeToString())
        fmt = ONNX
        labels = [str(c) for c in classes] if classes is not None else None
        if kind == CLASSIFICATION and not labels:
            raise ValueError("an ONNX classifier needs classes=[...] (its labels, in order)")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            exported = export(_pipeline(model, x), x, features, numeric, kind, prefer=prefer)
        data, fmt = exported.data, exported.format
        labels = [str(c) for c in model.classes_] if kind == CLASSIFICATION else None
    sig: Signature = signature(features, numeric, kind, labels)
    out = output_dir()
    for name in contract.MODEL_FILES:
        (out / name).unlink(missing_ok=True)
    path = out / f"model.{fmt if fmt in (ONNX, SKOPS) else ONNX}"
    path.write_bytes(data)
    (out / contract.SIGNATURE_FILE).write_text(json.dumps(sig.wire(), indent=1))
    seconds = round(time.monotonic() - _STARTED, 3)
    trainer = {"seconds": seconds, "sha256": sha256_hex(data), "format": fmt}
    (out / contract.TRAINER_FILE).write_text(json.dumps(trainer))
    return path
