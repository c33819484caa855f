"""`mlops-operator train`: fit a TrainingJob's estimator on a verified Dataset snapshot.

Exit 0 with {"ok": true, ...} when a model was trained, even if it fails acceptance (that
is a result); exit 1 with {"ok": false, "reason", "error"} when it could not be trained.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..api.kinds import TRAINING_JOB
from ..api.modelversion import CLASSIFICATION, SKOPS
from ..api.trainingjob import (
    BOOSTING,
    TrainingJobSpec,
    acceptance_failures,
    spec_task,
    task_of,
)
from ..artifacts import paths
from ..artifacts.errors import ArtifactError, StoreUnavailable
from ..artifacts.store import Store, sha256_hex
from ..reconcile import reasons
from . import custom, pruning
from .common import (
    ArgumentParser,
    InvalidInput,
    add_output_arguments,
    fail,
    now,
    parse_spec,
    report,
)
from .estimators import build_pipeline, effective_params, validate_hyperparameters
from .evaluate import evaluate_folds, metric_names, summarize
from .export import export, signature
from .runs import RunRecord


class TrainerError(Exception):
    reason = reasons.TRAINER_ERROR


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mlops-operator train", description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="TrainingJob name")
    parser.add_argument("--uid", required=True, help="TrainingJob uid (names this run)")
    parser.add_argument("--spec", required=True, help="the TrainingJob spec as JSON (wire form)")
    parser.add_argument("--dataset-name", required=True)
    parser.add_argument("--dataset-version", required=True, help="sha256 of the snapshot")
    parser.add_argument("--snapshot-uri", required=True)
    parser.add_argument("--profile-uri", required=True)
    parser.add_argument("--store", required=True, help="artifact store root URI")
    parser.add_argument(
        "--model-format",
        choices=("auto", SKOPS),
        default="auto",
        help="auto: ONNX where it converts faithfully, else skops",
    )
    parser.add_argument("--image", default="", help="the image this pod runs (run record)")
    parser.add_argument("--trial", type=int, help="the trial number, in a search")
    parser.add_argument(
        "--custom-output",
        help="collect what spec.container's trainer wrote to this directory (no fit here)",
    )
    parser.add_argument(
        "--pruning-json",
        help="median pruning: {metric, direction, startupTrials, warmupFolds, history}",
    )
    add_output_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        spec = parse_spec(TrainingJobSpec, args.spec, TRAINING_JOB.kind)
        message = train(args, spec, Store(args.store))
    except (InvalidInput, TrainerError, custom.ContractError, StoreUnavailable) as err:
        return fail(argv, err.reason, str(err))
    except Exception as err:
        traceback.print_exc()
        return fail(argv, reasons.TRAINER_ERROR, f"{type(err).__name__}: {err}")
    return report(argv, message)


def load_snapshot(
    store: Store, uri: str, version: str, max_rows: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """The version's rows (`data.parquet` or a partitioned snapshot's `manifest.json`), a
    seeded sample of `max_rows` when larger; `frame.attrs["mlops.sample"]` says which
    (rowsAvailable, and rowsSampled and sampleSeed when sampled: training/snapshots.py)."""
    from .snapshots import load

    if not re.fullmatch(r"[a-f0-9]{64}", version):
        raise InvalidInput(f"--dataset-version must be a full sha256, got {version!r}")
    try:
        return load(store, uri, version, max_rows, seed).frame
    except StoreUnavailable:
        raise  # not the snapshot's fault: the pod says StoreUnavailable, naming the endpoint
    except ArtifactError as err:
        raise TrainerError(f"dataset snapshot: {err}") from err


def prepare(
    frame: pd.DataFrame, spec: TrainingJobSpec, dataset: str
) -> tuple[pd.DataFrame, pd.Series, list[str], list[str]]:
    """(X, y, features, numeric features) after the target and feature checks."""
    columns = [str(c) for c in frame.columns]
    if spec.target not in columns:
        raise InvalidInput(
            f"target {spec.target!r} is not a column of Dataset {dataset}; "
            f"columns: {', '.join(columns)}"
        )
    features = list(spec.features) if spec.features else [c for c in columns if c != spec.target]
    missing = [f for f in features if f not in columns]
    if missing:
        raise InvalidInput(f"feature(s) not in Dataset {dataset}: {', '.join(missing)}")
    if spec.target in features:
        raise InvalidInput(f"the target {spec.target!r} cannot also be a feature")
    if not features:
        raise InvalidInput("no feature columns left besides the target")
    frame = frame[frame[spec.target].notna()].reset_index(drop=True)
    numeric = [
        f
        for f in features
        if ptypes.is_numeric_dtype(frame[f]) and not ptypes.is_bool_dtype(frame[f])
    ]
    x = frame[features].copy()
    for column in features:
        if column in numeric:
            # Serving feeds FP32: train on the values the model will actually see.
            x[column] = x[column].astype(np.float32).astype(np.float64)
        else:
            x[column] = x[column].astype(object).where(x[column].notna(), "")
            x[column] = x[column].astype(str)
    y = frame[spec.target]
    if spec_task(spec) == CLASSIFICATION:
        y = y.astype(str)
        if y.nunique() < 2:
            raise InvalidInput(f"target {spec.target!r} has fewer than 2 classes")
    elif not ptypes.is_numeric_dtype(y) or ptypes.is_bool_dtype(y):
        raise InvalidInput(
            f"{spec.estimator} is a regressor and needs a numeric target; "
            f"{spec.target!r} is {y.dtype}"
        )
    if len(y) < 4:
        raise InvalidInput(f"only {len(y)} rows with a target; too few to train and evaluate")
    return x, y, features, numeric


def train(args: Any, spec: TrainingJobSpec, store: Store) -> dict[str, Any]:
    if spec.container is not None:
        if not args.custom_output:
            raise InvalidInput("spec.container is set: --custom-output names the trainer's output")
        frame = load_snapshot(store, args.snapshot_uri, args.dataset_version)
        return custom.collect(args, spec, store, frame)
    if spec.estimator is None:
        raise InvalidInput("spec.estimator or spec.container is required")
    errors = validate_hyperparameters(spec.estimator, spec.hyperparameters)
    if errors:
        raise InvalidInput("; ".join(errors))
    task = task_of(spec.estimator)
    try:
        names = metric_names(task, list(spec.metrics) if spec.metrics else None)
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    frame = load_snapshot(
        store, args.snapshot_uri, args.dataset_version, spec.max_rows, spec.split.seed
    )
    x, y, features, numeric = prepare(frame, spec, args.dataset_name)
    categorical = [f for f in features if f not in numeric]

    started = time.perf_counter()
    pipeline = build_pipeline(spec, numeric, categorical)
    pruner = pruning.FoldPruner.from_json(args.pruning_json) if args.pruning_json else None
    run = RunRecord(args, spec, store, task)
    try:
        with warnings.catch_warnings():
            # SVC(probability=True) is set on purpose; its 1.9 deprecation notice is noise.
            warnings.filterwarnings("ignore", "The `probability` parameter", FutureWarning)
            folds = evaluate_folds(
                pipeline, x, y, task=task, split=spec.split, names=names, after_fold=pruner
            )
            pipeline.fit(x, y)
    except pruning.Pruned as pruned:
        return run.pruned(pruned, round(time.perf_counter() - started, 3))
    except ValueError as err:  # e.g. a hyperparameter combination only fit() rejects
        raise TrainerError(f"{spec.estimator} failed to fit: {err}") from err
    fit_seconds = round(time.perf_counter() - started, 3)
    metrics, stds = summarize(folds)
    failures = acceptance_failures(metrics, spec.acceptance)

    classes = [str(c) for c in pipeline.classes_] if task == CLASSIFICATION else None
    sig = signature(features, numeric, task, classes).wire()
    exported = export(pipeline, x, features, numeric, task, prefer=args.model_format)
    sha = sha256_hex(exported.data)
    ns, model = args.namespace, spec.model
    artifact_uri, _ = store.write_bytes(
        paths.model_file(ns, model, sha, exported.format), exported.data
    )
    params = _json_safe(effective_params(spec))
    dataset = {"name": args.dataset_name, "version": args.dataset_version,
               **frame.attrs.get("mlops.sample", {})}  # fmt: skip
    card = {
        "model": model,
        "estimator": spec.estimator,
        "task": task,
        "params": params,
        "metrics": metrics,
        "signature": sig,
        "dataset": dataset,
        "format": exported.format,
        "formatNote": exported.note,
        "sha256": sha,
        "createdAt": now(),
        "trainer": _versions(spec.estimator),
    }
    store.write_json(paths.model_card(ns, model, sha), card)
    result = {
        "metrics": metrics,
        "accepted": not failures,
        "failures": failures,
        "artifact": {"uri": artifact_uri, "format": exported.format, "sha256": sha},
        "signature": sig,
        "params": params,
        "task": task,
        "estimator": spec.estimator,
        "model": model,
        "dataset": dataset,
        "profileUri": args.profile_uri,
        "fitSeconds": fit_seconds,
        "rows": len(y),
        "createdAt": card["createdAt"],
        **run.record(folds, stds, "accepted" if not failures else "rejected", fit_seconds),
    }
    run.track(result)
    result_uri, result_sha = store.write_json(paths.run_result(ns, args.name, args.uid), result)
    return {
        "ok": True,
        "resultUri": result_uri,
        "resultSha256": result_sha,
        "metrics": metrics,
        "accepted": not failures,
        "failures": failures,
        "fitSeconds": fit_seconds,
    }


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))


def _versions(estimator: str = "") -> dict[str, str]:
    import onnx
    import skl2onnx
    import sklearn

    versions = {
        "sklearn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
    }
    if estimator in BOOSTING:
        from .boosting import versions as boosting_versions

        versions.update(boosting_versions())
    return versions
