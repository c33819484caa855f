"""`mlops-operator predict`: score one partition of a BatchPrediction (one Indexed Job index).

The index (`--index`, default the Job's `JOB_COMPLETION_INDEX`) picks a contiguous share of the
input rows (training/partitions.plan). They are streamed `--batch-rows` at a time through the
model, loaded as the model server loads it (sha256 first, then ONNX or skops), and written to
`<output>/part-<index>.parquet`:

  the `--id-column`s (passed through), `mlops.id` (`<name>/<file>/<row>`: the input file's
  position in the sorted list and the row in it), `mlops.prediction`, one `mlops.proba.<class>`
  per class (classifiers), `mlops.version` (the ModelVersion).

The file is written whole under a temporary name and then renamed (one PUT on S3), with fixed
Parquet settings: a retried index writes the same bytes to the same name, never a second copy
of its rows. An index with no rows writes no Parquet file. Each index reports
`{"ok", "index", "rows", "seconds", "outputUri", "sha256"}` to `<output>/_results/part-<index>.json`
and its termination log; exit 1 with `{"ok": false, "reason", "error"}`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import traceback
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ValidationError

from ..api.modelversion import CLASSIFICATION, TASKS, Signature
from ..artifacts import records
from ..artifacts.errors import ArtifactError, LoadFailed
from ..artifacts.snapshots import PARQUET_SETTINGS
from ..artifacts.snapshots import publish_file as publish
from ..reconcile import reasons
from .common import ArgumentParser, InvalidInput, fail, now, option, report
from .compare_cli import Candidate, feature_columns, parse_candidate
from .partitions import Slice, plan
from .parts import Files

INDEX_ENV = "JOB_COMPLETION_INDEX"


class ScoringError(Exception):
    def __init__(self, message: str, reason: str = reasons.PREDICTION_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mlops-operator predict", description=__doc__)
    parser.add_argument("--name", required=True, help="BatchPrediction name (in mlops.id)")
    parser.add_argument("--model", required=True, metavar="NAME=URI@SHA256")
    parser.add_argument("--signature-json", required=True, metavar="JSON")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--input", required=True, metavar="URI", help="file, directory/ or glob")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--id-column", action="append", default=[], dest="id_columns")
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--index", type=int, help=f"default: ${INDEX_ENV}")
    parser.add_argument("--batch-rows", type=int, default=65536)
    parser.add_argument("--output-uri", required=True, help="the run's output directory")
    parser.add_argument("--termination-log", default="/dev/termination-log")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    result_argv = list(argv)
    try:
        args = build_parser().parse_args(argv)
        index = partition_index(args)
        result_argv += ["--result-uri", result_uri(args.output_uri, args.name, index)]
        message = predict(args, index)
    except (InvalidInput, ScoringError, ArtifactError) as err:
        return fail(_with_result(argv), err.reason, str(err))
    except Exception as err:
        traceback.print_exc()
        return fail(_with_result(argv), reasons.PREDICTION_FAILED, f"{type(err).__name__}: {err}")
    return report(result_argv, message)


def _with_result(argv: list[str]) -> list[str]:
    """The failure report goes to the index's result file too, when the index is known."""
    output, name = option(argv, "--output-uri"), option(argv, "--name")
    raw = option(argv, "--index") or os.environ.get(INDEX_ENV)
    if not output or not name or raw is None or not raw.isdigit():
        return argv
    return [*argv, "--result-uri", result_uri(output, name, int(raw))]


def result_uri(output_uri: str, name: str, index: int) -> str:
    return f"{output_uri.rstrip('/')}/_results/part-{index:05d}.json"


def part_uri(output_uri: str, index: int) -> str:
    return f"{output_uri.rstrip('/')}/part-{index:05d}.parquet"


def partition_index(args: Any) -> int:
    raw = args.index if args.index is not None else os.environ.get(INDEX_ENV)
    if raw is None:
        raise InvalidInput(f"no partition index: pass --index or set {INDEX_ENV}")
    index = int(raw)
    if not args.partitions >= 1 or not 0 <= index < args.partitions:
        raise InvalidInput(f"index {index} is not one of {args.partitions} partitions")
    return index


def load_model(candidate: Candidate, signature: Signature, task: str) -> Any:
    """The model as the server loads it (sha256 checked first)."""
    from ..serving.config import ServeConfig
    from ..serving.model import LoadError, load

    fmt = candidate.uri.rsplit(".", 1)[-1]
    if fmt not in ("onnx", "skops"):
        raise InvalidInput(f"--model: artifacts are model.onnx or model.skops, not {candidate.uri}")
    config = ServeConfig(
        model_name=candidate.name,
        model_version=candidate.name,
        artifact_uri=candidate.uri,
        format=fmt,  # type: ignore[arg-type]  # checked above
        sha256=candidate.sha256,
        signature=signature,
        task=task,  # type: ignore[arg-type]  # an argparse choice of TASKS
    )
    try:
        return load(config)
    except LoadError as err:
        cause = err.__cause__ if isinstance(err.__cause__, ArtifactError) else LoadFailed()
        raise ScoringError(f"model {candidate.name}: {err}", cause.reason) from err


def predict(args: Any, index: int) -> dict[str, Any]:
    started = time.perf_counter()
    candidate = parse_candidate("model", args.model)
    try:
        signature = Signature.model_validate_json(args.signature_json)
    except ValidationError as err:
        raise InvalidInput(f"--signature-json: {err}") from err
    if args.batch_rows < 1:
        raise InvalidInput("--batch-rows must be at least 1")
    try:
        files = Files(args.input, args.format)
        slices = plan(files.row_counts(), args.partitions, index)
    except (OSError, ValueError) as err:
        raise ScoringError(f"cannot read {args.input}: {err}", reasons.SOURCE_UNREADABLE) from err
    model = load_model(candidate, signature, args.task)
    target = part_uri(args.output_uri, index)
    rows, digest = 0, None
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, "part.parquet")
        rows = score_slices(files, slices, model, signature, args, local)
        if rows:
            digest = _sha256_file(local)
            publish(local, target)
    return {
        "ok": True,
        "index": index,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 3),
        "outputUri": target if rows else None,
        "sha256": digest,
        "slices": [
            {"file": files.uri_of(s.file), "start": s.start, "stop": s.stop} for s in slices
        ],
        "finishedAt": now(),
    }


def score_slices(
    files: Files, slices: list[Slice], model: Any, signature: Signature, args: Any, local: str
) -> int:
    """Score every batch of every slice into one Parquet file at `local`; the rows written."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for part in slices:
            for first, table in files.batches(part, args.batch_rows):
                out = score_table(table, first, part.file, model, signature, args)
                if writer is None:
                    writer = pq.ParquetWriter(local, out.schema, **PARQUET_SETTINGS)
                writer.write_table(out, row_group_size=max(len(out), 1))
                rows += len(out)
    finally:
        if writer is not None:
            writer.close()
    return rows


def score_table(
    table: pa.Table, first: int, file: int, model: Any, signature: Signature, args: Any
) -> pa.Table:
    """One batch of input rows -> the output columns (see the module's docstring)."""
    from ..serving.sampling import _prediction_array

    frame = table.to_pandas()
    missing = [c for c in args.id_columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"spec.idColumns: {', '.join(missing)} not in the input; it has "
            + ", ".join(map(str, frame.columns))
        )
    try:
        columns = feature_columns(frame, signature, "model")
    except InvalidInput as err:
        raise InvalidInput(str(err).replace("--data", f"input {args.input}")) from err
    prediction = model.predict(columns)
    arrays: dict[str, pa.Array] = {c: table.column(c).combine_chunks() for c in args.id_columns}
    positions = pc.cast(pa.array(np.arange(first, first + len(frame))), pa.string())
    arrays[records.ID] = pc.binary_join_element_wise(f"{args.name}/{file}/", positions, "")
    if args.task == CLASSIFICATION:
        if prediction.labels is None:
            raise ScoringError(f"model {args.model.split('=')[0]} predicted no labels")
        arrays[records.PREDICTION] = _prediction_array(
            np.asarray(prediction.labels).reshape(-1), True
        )
        if prediction.probabilities is not None:
            matrix = np.asarray(prediction.probabilities, dtype=np.float64).reshape(len(frame), -1)
            labels = model.class_labels or [str(j) for j in range(matrix.shape[1])]
            for j, label in enumerate(labels):
                arrays[records.probability_column(label)] = pa.array(matrix[:, j])
    else:
        values = np.asarray(prediction.values, dtype=np.float64).reshape(-1)
        arrays[records.PREDICTION] = _prediction_array(values, False)
    version = args.model.split("=", 1)[0]
    arrays[records.VERSION] = pa.array([version] * len(frame), pa.string())
    return pa.table(arrays)


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
