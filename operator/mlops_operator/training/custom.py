"""`mlops-operator train --custom-output DIR`: collect what a custom training container left.

The user's container (spec.container) ran first and wrote to MLOPS_OUTPUT_DIR: one model file
(model.onnx or model.skops), signature.json (the ModelVersion signature) and metrics.json
({"metrics": {name: number}, "folds": {name: [number per fold]}}; trainer.json with its own
time is optional). This step checks them against the contract and the Dataset, loads the model
and predicts on the snapshot's rows, applies acceptance, and writes the same model, card, run
record and result as built-in training. Anything missing or wrong fails the run with a reason
naming it (ModelMissing, SignatureInvalid, MetricsMissing, LoadFailed).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from ..api.modelversion import CLASSIFICATION, LABEL, ONNX, PROBABILITIES, VARIABLE, Signature
from ..api.trainingjob import TrainingJobSpec, acceptance_failures, spec_task, trainer_name
from ..artifacts import paths
from ..artifacts.errors import ArtifactError
from ..artifacts.store import Store, sha256_hex
from ..reconcile import reasons
from ..reconcile.custom_trainer import (
    ENV_OUTPUT_DIR,
    METRICS_FILE,
    MODEL_FILES,
    SIGNATURE_FILE,
    TRAINER_FILE,
)
from .common import now
from .runs import RunRecord

CHECK_ROWS = 200
NUMPY_TYPES = {
    "FP32": np.float32,
    "FP64": np.float64,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
}


class ContractError(Exception):
    """The trainer's output breaks the contract: `reason` says which part."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TrainerOutput:
    data: bytes
    format: str
    signature: Signature
    metrics: dict[str, float]
    folds: dict[str, list[float]]
    seconds: float | None


def read_output(directory: Path) -> TrainerOutput:
    """The trainer's files, each checked for presence and shape."""
    where = f"{ENV_OUTPUT_DIR} ({directory})"
    models = [name for name in MODEL_FILES if (directory / name).is_file()]
    if not models:
        raise ContractError(
            reasons.MODEL_MISSING,
            f"the trainer left no model in {where}: expected {' or '.join(MODEL_FILES)} "
            "(sdk.save_model() writes it)",
        )
    if len(models) > 1:
        raise ContractError(
            reasons.MODEL_MISSING, f"the trainer left both {' and '.join(models)} in {where}"
        )
    model_file = directory / models[0]
    signature = _signature(directory / SIGNATURE_FILE, where)
    metrics, folds = _metrics(directory / METRICS_FILE, where)
    seconds = None
    data = model_file.read_bytes()
    trainer = _json(directory / TRAINER_FILE)
    if isinstance(trainer, dict):
        if _number(trainer.get("seconds")):
            seconds = round(float(trainer["seconds"]), 3)
        # The sha256 the trainer saw when it wrote the model (the SDK records it).
        if trainer.get("sha256") and trainer["sha256"] != sha256_hex(data):
            raise ContractError(
                reasons.CHECKSUM_MISMATCH,
                f"{model_file.name} has sha256 {sha256_hex(data)[:12]}…, the trainer wrote "
                f"{str(trainer['sha256'])[:12]}… ({TRAINER_FILE})",
            )
    fmt = model_file.suffix.removeprefix(".")
    return TrainerOutput(data, fmt, signature, metrics, folds, seconds)


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        return err


def _signature(path: Path, where: str) -> Signature:
    raw = _json(path)
    if raw is None:
        raise ContractError(
            reasons.SIGNATURE_INVALID,
            f"the trainer left no {SIGNATURE_FILE} in {where} (sdk.save_model() writes it)",
        )
    if isinstance(raw, ValueError):
        raise ContractError(reasons.SIGNATURE_INVALID, f"{SIGNATURE_FILE} is not JSON: {raw}")
    try:
        return Signature.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in err.errors()[:3]
        )
        raise ContractError(reasons.SIGNATURE_INVALID, f"{SIGNATURE_FILE}: {problems}") from err


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _metrics(path: Path, where: str) -> tuple[dict[str, float], dict[str, list[float]]]:
    raw = _json(path)
    if raw is None:
        raise ContractError(
            reasons.METRICS_MISSING,
            f"the trainer left no {METRICS_FILE} in {where} (sdk.log_metrics() writes it)",
        )
    metrics = raw.get("metrics") if isinstance(raw, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise ContractError(
            reasons.METRICS_MISSING,
            f'{METRICS_FILE} has no metrics: expected {{"metrics": {{"accuracy": 0.95, ...}}}}',
        )
    bad = sorted(str(k) for k, v in metrics.items() if not _number(v))
    if bad:
        raise ContractError(
            reasons.METRICS_MISSING, f"{METRICS_FILE}: metrics {', '.join(bad)} are not numbers"
        )
    folds = raw.get("folds") or {}
    if not isinstance(folds, dict) or not all(
        isinstance(v, list) and all(_number(x) for x in v) for v in folds.values()
    ):
        raise ContractError(
            reasons.METRICS_MISSING, f"{METRICS_FILE}: folds must map names to lists of numbers"
        )
    return {str(k): float(v) for k, v in metrics.items()}, folds


def check_signature(
    signature: Signature, spec: TrainingJobSpec, frame: pd.DataFrame, dataset: str
) -> list[str]:
    """The signature against the Dataset, the TrainingJob and the task; the feature names."""
    features = [t.name for t in signature.inputs]
    columns = {str(c) for c in frame.columns}
    missing = [f for f in features if f not in columns]
    if missing:
        raise ContractError(
            reasons.SIGNATURE_INVALID,
            f"{SIGNATURE_FILE}: inputs {', '.join(missing)} are not columns of Dataset {dataset}",
        )
    if spec.target in features:
        raise ContractError(
            reasons.SIGNATURE_INVALID,
            f"{SIGNATURE_FILE}: the target {spec.target!r} cannot be an input",
        )
    if spec.features and set(spec.features) != set(features):
        raise ContractError(
            reasons.SIGNATURE_INVALID,
            f"{SIGNATURE_FILE}: inputs {features} are not spec.features {list(spec.features)}",
        )
    outputs = {t.name for t in signature.outputs}
    if spec_task(spec) == CLASSIFICATION:
        if not signature.class_labels:
            raise ContractError(
                reasons.SIGNATURE_INVALID, f"{SIGNATURE_FILE}: a classifier needs classLabels"
            )
        wanted = {LABEL, PROBABILITIES}
    else:
        wanted = {VARIABLE}
    if outputs and not wanted <= outputs:
        raise ContractError(
            reasons.SIGNATURE_INVALID,
            f"{SIGNATURE_FILE}: outputs {sorted(outputs)} lack {', '.join(sorted(wanted))} "
            f"(a {spec_task(spec)} model's outputs)",
        )
    return features


def feeds(signature: Signature, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The serving contract's inputs: one [-1, 1] tensor per input, of its datatype."""
    out = {}
    for tensor in signature.inputs:
        column = rows[[tensor.name]]
        dtype = NUMPY_TYPES.get(tensor.datatype)
        out[tensor.name] = column.to_numpy(dtype=dtype) if dtype else column.astype(str).to_numpy()
    return out


def load_check(output: TrainerOutput, features: list[str], rows: pd.DataFrame, task: str) -> None:
    """Load the model as the server will and predict on the Dataset's rows."""
    from ..artifacts.models import input_names, load_onnx, load_skops

    try:
        model = load_onnx(output.data) if output.format == ONNX else load_skops(output.data)
    except ArtifactError as err:
        raise ContractError(err.reason, str(err)) from err
    names = input_names(model, output.format)
    if names and names != features:
        raise ContractError(
            reasons.SIGNATURE_INVALID,
            f"{SIGNATURE_FILE}: inputs {features} do not match the model's inputs {names}",
        )
    try:
        if output.format == ONNX:
            answer = model.run(None, feeds(output.signature, rows))
            produced = dict(zip([o.name for o in model.get_outputs()], answer, strict=True))
        else:
            produced = {LABEL if task == CLASSIFICATION else VARIABLE: model.predict(rows)}
    except Exception as err:
        raise ContractError(
            reasons.LOAD_FAILED,
            f"the model loads but does not predict on the Dataset's rows: "
            f"{type(err).__name__}: {str(err)[:300]}",
        ) from err
    wanted = (LABEL, PROBABILITIES) if task == CLASSIFICATION and output.format == ONNX else ()
    lacking = [w for w in wanted if w not in produced]
    if task != CLASSIFICATION and VARIABLE not in produced:
        lacking = [VARIABLE]
    if lacking:
        raise ContractError(
            reasons.LOAD_FAILED,
            f"the model's outputs {sorted(produced)} lack {', '.join(lacking)}",
        )
    if task == CLASSIFICATION:
        labels = {str(v) for v in np.asarray(produced[LABEL]).reshape(-1)}
        unknown = sorted(labels - set(output.signature.class_labels or []))
        if unknown:
            raise ContractError(
                reasons.SIGNATURE_INVALID,
                f"{SIGNATURE_FILE}: the model predicts {unknown[:5]}, not in classLabels",
            )


def collect(args: Any, spec: TrainingJobSpec, store: Store, frame: pd.DataFrame) -> dict[str, Any]:
    """Check the trainer's output and record it exactly as built-in training does."""
    task = spec_task(spec)
    run = RunRecord(args, spec, store, task)
    output = read_output(Path(args.custom_output))
    features = check_signature(output.signature, spec, frame, args.dataset_name)
    rows = frame[frame[spec.target].notna()].head(CHECK_ROWS)
    load_check(output, features, rows[features], task)
    failures = acceptance_failures(output.metrics, spec.acceptance)
    sha = sha256_hex(output.data)
    ns, model = args.namespace, spec.model
    artifact_uri, _ = store.write_bytes(
        paths.model_file(ns, model, sha, output.format), output.data
    )
    sig = output.signature.wire()
    params = json.loads(json.dumps(spec.hyperparameters, default=str))
    dataset = {"name": args.dataset_name, "version": args.dataset_version}
    trainer = trainer_name(spec)
    card = {
        "model": model,
        "estimator": trainer,
        "task": task,
        "params": params,
        "metrics": output.metrics,
        "signature": sig,
        "dataset": dataset,
        "format": output.format,
        "formatNote": "saved by the training container",
        "sha256": sha,
        "createdAt": now(),
        "trainer": {"container": spec.container.image if spec.container else ""},
    }
    store.write_json(paths.model_card(ns, model, sha), card)
    fit_seconds = output.seconds
    stds = {k: float(np.std(v)) for k, v in output.folds.items() if v}
    outcome = "accepted" if not failures else "rejected"
    result = {
        "metrics": output.metrics,
        "accepted": not failures,
        "failures": failures,
        "artifact": {"uri": artifact_uri, "format": output.format, "sha256": sha},
        "signature": sig,
        "params": params,
        "task": task,
        "estimator": trainer,
        "model": model,
        "dataset": dataset,
        "profileUri": args.profile_uri,
        "fitSeconds": fit_seconds,
        "rows": int(frame[spec.target].notna().sum()),
        "createdAt": card["createdAt"],
        **run.record(output.folds, stds, outcome, fit_seconds or 0.0),
    }
    # The run's duration: the trainer's own time and this collection.
    result["durationSeconds"] = round(result["durationSeconds"] + (fit_seconds or 0.0), 3)
    run.track(result)
    result_uri, result_sha = store.write_json(paths.run_result(ns, args.name, args.uid), result)
    return {
        "ok": True,
        "resultUri": result_uri,
        "resultSha256": result_sha,
        "metrics": output.metrics,
        "accepted": not failures,
        "failures": failures,
        "fitSeconds": fit_seconds,
    }
