"""`mlops-operator compare`: score the serving champion and a challenger on the same rows.

Both models are loaded as the model server loads them (checksum first, then ONNX or skops),
fed exactly the same rows, and scored with training's metric code, so the two numbers are
comparable with each other and with the ModelVersions' training metrics.

The rows are a Parquet file (`--data`):
- a labeled production window's `holdout.parquet` (kind `production-holdout`): every row
  whose `mlops.id` is in the holdout (artifacts/records.is_holdout; a file without `mlops.id`
  is used whole), so neither model has trained on them;
- or, with `--holdout-of-snapshot`, a Dataset snapshot `data.parquet` (kind
  `dataset-holdout`): the test part of training's split of it (`--split-json`, the
  TrainingJob's `spec.split`); for k-fold, a 20 % holdout with the split's seed.

Exit 0 with {"ok": true, "metric", "greaterIsBetter", "champion": {name, value, sha256},
"challenger": {...}, "rows", "data": {uri, kind}, "finishedAt"}; exit 1 with
{"ok": false, "reason", "error"} when they could not be compared.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import ValidationError

from ..api.modelversion import CLASSIFICATION, MODEL_FORMATS, TASKS, Signature
from ..api.trainingjob import CLASSIFICATION_METRICS, REGRESSION_METRICS, Split
from ..artifacts import records
from ..artifacts.errors import ArtifactError, ChecksumMismatch, LoadFailed
from ..artifacts.store import Store
from ..performance.plan import LOWER_IS_BETTER
from ..reconcile.jobs import DATASET_HOLDOUT, PRODUCTION_HOLDOUT
from .common import ArgumentParser, InvalidInput, add_output_arguments, fail, now, report

# k-fold training has no single test part: the dataset holdout is then this share of rows.
KFOLD_HOLDOUT = 0.2
# Both models loaded and fed, but the metric could not be computed (e.g. roc_auc without
# probabilities, or on one class).
EVALUATION_ERROR = "EvaluationError"

SNAPSHOT_FILE = "data.parquet"
MANIFEST_FILE = "manifest.json"

_CANDIDATE = re.compile(r"^(?P<name>[^=]+)=(?P<uri>.+)@(?P<sha>[a-f0-9]{64})$")


class EvaluationError(Exception):
    def __init__(self, message: str, reason: str = EVALUATION_ERROR) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Candidate:
    role: str  # champion | challenger
    name: str
    uri: str
    sha256: str


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mlops-operator compare", description=__doc__)
    for role in ("champion", "challenger"):
        parser.add_argument(
            f"--{role}", required=True, metavar="NAME=URI@SHA256", help=f"the {role}'s artifact"
        )
        parser.add_argument(
            f"--{role}-signature",
            metavar="JSON",
            help=f"the {role} ModelVersion's spec.signature (default: --signature-json)",
        )
    parser.add_argument(
        "--signature-json",
        metavar="JSON",
        help="spec.signature of both models; without any, each model's card.json beside it",
    )
    parser.add_argument("--data", required=True, metavar="URI", help="Parquet rows to score")
    parser.add_argument("--data-sha256", help="verify --data against this sha256 first")
    parser.add_argument(
        "--holdout-of-snapshot",
        action="store_true",
        help="--data is a Dataset snapshot: score only the holdout training's split held out",
    )
    parser.add_argument("--split-json", metavar="JSON", help="the TrainingJob's spec.split")
    parser.add_argument("--target", required=True, help="the label column")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument(
        "--metric", required=True, choices=(*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
    )
    add_output_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        message = compare(build_parser().parse_args(argv))
    except (InvalidInput, EvaluationError, ArtifactError) as err:
        return fail(argv, err.reason, str(err))
    except Exception as err:
        traceback.print_exc()
        return fail(argv, EVALUATION_ERROR, f"{type(err).__name__}: {err}")
    return report(argv, message)


def compare(args: Any) -> dict[str, Any]:
    """Do the work; returns the result. Raises the typed errors of main()."""
    from .evaluate import metric_names  # sklearn: only when comparing

    try:
        metric_names(args.task, [args.metric])
    except ValueError as err:
        raise InvalidInput(f"--metric: {err}") from err
    champion = parse_candidate("champion", args.champion)
    challenger = parse_candidate("challenger", args.challenger)
    store = Store.from_env()  # artifact and data URIs are absolute; the root is not used
    frame = read_rows(store, args.data, args.data_sha256)
    if args.holdout_of_snapshot:
        frame, y = snapshot_holdout(frame, args.target, args.task, parse_split(args.split_json))
        kind = DATASET_HOLDOUT
    else:
        frame, y = labeled_rows(production_holdout(frame), args.target, args.task)
        kind = PRODUCTION_HOLDOUT
    if not len(y):
        raise InvalidInput(f"no labeled rows to compare on in {args.data} ({kind})")
    values = {}
    for candidate in (champion, challenger):
        explicit = getattr(args, f"{candidate.role}_signature") or args.signature_json
        values[candidate.role] = score_candidate(
            store, candidate, explicit, frame, y, args.task, args.metric
        )
    return {
        "ok": True,
        "metric": args.metric,
        "greaterIsBetter": args.metric not in LOWER_IS_BETTER,
        "champion": {"name": champion.name, "value": values["champion"], "sha256": champion.sha256},
        "challenger": {
            "name": challenger.name,
            "value": values["challenger"],
            "sha256": challenger.sha256,
        },
        "rows": len(y),
        "data": {"uri": args.data, "kind": kind},
        "finishedAt": now(),
    }


def parse_candidate(role: str, text: str) -> Candidate:
    match = _CANDIDATE.match(text)
    if not match:
        raise InvalidInput(f"--{role} must be NAME=URI@SHA256 (64 lower-case hex), got {text!r}")
    return Candidate(role, match["name"], match["uri"], match["sha"])


def parse_split(raw: str | None) -> Split:
    """The TrainingJob's split (its defaults when not given); k-fold becomes a holdout."""
    try:
        split = Split.model_validate_json(raw) if raw else Split()
    except ValidationError as err:
        raise InvalidInput(f"--split-json: {err}") from err
    if split.method == "kfold":
        # Every row was a test row once, so no part is "training's holdout": hold out a fixed
        # share, drawn (and stratified) as a holdout split with the same seed would be.
        split = Split(
            method="holdout", test_size=KFOLD_HOLDOUT, seed=split.seed, stratify=split.stratify
        )
    return split


def read_rows(store: Store, uri: str, sha256: str | None) -> pd.DataFrame:
    """The rows of a Parquet file or of a Dataset snapshot in either layout: the operator
    names a version's `data.parquet`, which a partitioned version has as `manifest.json`
    and its parts instead."""
    from ..artifacts.snapshots import read_snapshot

    if uri.endswith(f"/{SNAPSHOT_FILE}") and not store.exists(uri):
        manifest = f"{uri.removesuffix(SNAPSHOT_FILE)}{MANIFEST_FILE}"
        if store.exists(manifest):
            uri, sha256 = manifest, None  # each part is checked against the manifest's sha256
    try:
        return read_snapshot(store, uri, sha256).to_pandas()
    except ArtifactError:
        raise
    except Exception as err:  # pyarrow raises assorted errors on a file that is not Parquet
        raise InvalidInput(f"--data {uri} is not a Parquet file: {err}") from err


def production_holdout(frame: pd.DataFrame) -> pd.DataFrame:
    """Only held-out rows: a whole window (or its train part) passed by mistake is safe."""
    if records.ID not in frame.columns:
        return frame
    keep = frame[records.ID].map(lambda i: i is not None and records.is_holdout(str(i)))
    return frame[keep.astype(bool)].reset_index(drop=True)


def labeled_rows(frame: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, pd.Series]:
    """The rows with a label, and the labels as training sees them (classes as text)."""
    if target not in frame.columns:
        raise InvalidInput(
            f"--target {target!r} is not a column of --data; columns: "
            + ", ".join(map(str, frame.columns))
        )
    frame = frame[frame[target].notna()].reset_index(drop=True)
    y = frame[target]
    if task == CLASSIFICATION:
        return frame, y.astype(str)
    if not ptypes.is_numeric_dtype(y) or ptypes.is_bool_dtype(y):
        raise InvalidInput(f"a regression target must be numeric; {target!r} is {y.dtype}")
    return frame, y.astype("float64")


def snapshot_holdout(
    frame: pd.DataFrame, target: str, task: str, split: Split
) -> tuple[pd.DataFrame, pd.Series]:
    """The test rows of training's split: same row filter, labels and split as train_cli."""
    from .evaluate import splits  # sklearn: only when comparing

    frame, y = labeled_rows(frame, target, task)
    if len(y) < 2:
        return frame.iloc[:0], y.iloc[:0]
    try:
        [(_, test)] = splits(frame, y, task, split)
    except ValueError as err:
        raise InvalidInput(f"cannot split {len(y)} rows as training did: {err}") from err
    return frame.iloc[test].reset_index(drop=True), y.iloc[test].reset_index(drop=True)


def signature_of(store: Store, candidate: Candidate, explicit: str | None) -> tuple[Signature, str]:
    """(signature, format): the given signature, else the model card written beside the
    artifact by the trainer (a ModelVersion registered by hand has none: pass it)."""
    card: dict[str, Any] = {}
    if not explicit:
        card_uri = candidate.uri.rsplit("/", 1)[0] + "/card.json"
        try:
            card = store.read_json(card_uri)
        except (ArtifactError, ValueError) as err:
            raise InvalidInput(
                f"--{candidate.role}: no signature given and no readable model card "
                f"{card_uri} ({err}); pass --{candidate.role}-signature or --signature-json"
            ) from err
        if card.get("sha256") != candidate.sha256:
            # The trainer's record of the artifact at this path says it is another one.
            raise ChecksumMismatch(
                f"{candidate.role} {candidate.name}: {card_uri} records sha256 "
                f"{card.get('sha256')} for {candidate.uri}, expected {candidate.sha256}"
            )
    try:
        if explicit:
            signature = Signature.model_validate_json(explicit)
        else:
            signature = Signature.model_validate(card.get("signature"))
    except ValidationError as err:
        raise InvalidInput(f"--{candidate.role}: invalid signature: {err}") from err
    suffix = candidate.uri.rsplit(".", 1)[-1]
    fmt = suffix if suffix in MODEL_FORMATS else card.get("format")
    if fmt not in MODEL_FORMATS:
        raise InvalidInput(
            f"--{candidate.role}: cannot tell the format of {candidate.uri}; "
            "artifacts are model.onnx or model.skops"
        )
    return signature, str(fmt)


def feature_columns(frame: pd.DataFrame, signature: Signature, role: str) -> list[np.ndarray]:
    """One array per signature input, as a request would carry it (as training fed them)."""
    from ..serving.signature import NUMPY_DTYPES

    missing = [t.name for t in signature.inputs if t.name not in frame.columns]
    if missing:
        raise InvalidInput(f"--data lacks the {role}'s feature column(s): {', '.join(missing)}")
    columns = []
    for tensor in signature.inputs:
        series = frame[tensor.name]
        if tensor.datatype == "BYTES":
            text = series.astype(object).where(series.notna(), "").map(str)
            column = np.empty(len(text), dtype=object)
            column[:] = text.tolist()
        else:
            numbers = pd.to_numeric(series, errors="coerce")
            if (numbers.isna() & series.notna()).any():
                raise InvalidInput(f"--data column {tensor.name!r} is not numeric ({role})")
            if tensor.datatype.startswith("INT") and numbers.isna().any():
                raise InvalidInput(f"--data column {tensor.name!r} has nulls ({role})")
            column = numbers.to_numpy(dtype=NUMPY_DTYPES[tensor.datatype])
        columns.append(column)
    return columns


def score_candidate(
    store: Store,
    candidate: Candidate,
    explicit_signature: str | None,
    frame: pd.DataFrame,
    y: pd.Series,
    task: str,
    metric: str,
) -> float:
    from ..serving.config import ServeConfig
    from ..serving.model import LoadError, load
    from .evaluate import score_predictions  # sklearn: only when comparing

    signature, fmt = signature_of(store, candidate, explicit_signature)
    columns = feature_columns(frame, signature, candidate.role)
    config = ServeConfig(
        model_name=candidate.name,
        model_version=candidate.name,
        artifact_uri=candidate.uri,
        format=fmt,  # type: ignore[arg-type]  # checked against MODEL_FORMATS
        sha256=candidate.sha256,
        signature=signature,
        task=task,  # type: ignore[arg-type]  # an argparse choice of TASKS
    )
    try:
        model = load(config)
    except LoadError as err:
        # The store's typed error (missing, checksum) when that is what stopped it.
        cause = err.__cause__ if isinstance(err.__cause__, ArtifactError) else LoadFailed()
        raise EvaluationError(f"{candidate.role} {candidate.name}: {err}", cause.reason) from err
    prediction = model.predict(columns)
    if task == CLASSIFICATION:
        if prediction.labels is None:
            raise EvaluationError(f"{candidate.role} {candidate.name} predicted no labels")
        pred: Any = np.asarray(prediction.labels).reshape(-1).astype(str)
        classes = [str(c) for c in model.class_labels or sorted(set(pred) | set(y))]
        proba = prediction.probabilities
        scores = score_predictions(y, pred, [metric], classes, proba)
    else:
        values = np.asarray(prediction.values, dtype=np.float64).reshape(-1)
        scores = score_predictions(y, values, [metric])
    if metric not in scores:
        raise EvaluationError(
            f"{metric} of {candidate.role} {candidate.name} cannot be computed on these "
            f"{len(y)} rows (roc_auc needs probabilities and every class present; r2, 2 rows)"
        )
    return round(scores[metric], 6)
