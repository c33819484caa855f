"""`mlops-operator profile-part`: one partition of a partitioned Dataset (one Indexed Job index).

The index (`--index`, default `$JOB_COMPLETION_INDEX`) takes a contiguous share of the source's
rows (training/partitions.plan over the Parquet footers' row counts), streamed `--batch-rows` at
a time from the row groups it overlaps, so memory holds one batch and the partial profile
whatever the partition's size. Each batch is normalized with the schema every index derives
alike (the declared one, else the first file's Parquet schema), counted against the validation
rules, folded into a partial profile (drift/partial.py) and appended to the part file.

The part is written whole to a local temporary file, then published at its content address
(`datasets/<ns>/<ds>/parts/<sha256>.parquet`, fixed Parquet settings): a retried index writes
the same bytes to the same name. What the index found goes to
`datasets/<ns>/<ds>/partials/<run>/part-<index>.json` (`{ok, index, rows, schema, part,
rules, profile}`), which the merge Job (`mlops-operator profile-merge`) reads; failures go there
too as `{ok: false, reason, error}`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import traceback
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..api.dataset import DatasetSpec
from ..api.kinds import DATASET
from ..artifacts import paths
from ..artifacts.errors import ArtifactError
from ..artifacts.snapshots import PARQUET_SETTINGS, store_fs
from ..artifacts.snapshots import publish_file as publish
from ..artifacts.store import Store
from ..drift.partial import PartialProfile
from ..reconcile import reasons
from . import rules, termination
from .common import ArgumentParser, InvalidInput, fail, now, parse_spec
from .partitions import plan
from .parts import Files
from .snapshot import ResolvedSchema, SchemaMismatch, normalize, resolve_schema
from .sources import SourceUnreadable, _without_reserved

INDEX_ENV = "JOB_COMPLETION_INDEX"
DEFAULT_BATCH_ROWS = 1 << 18


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mlops-operator profile-part", description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="Dataset name")
    parser.add_argument("--spec", required=True, help="the Dataset spec as JSON (wire form)")
    parser.add_argument("--store", required=True, help="artifact store root URI")
    parser.add_argument("--run", required=True, help="the run (names the partials directory)")
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--index", type=int, help=f"default: ${INDEX_ENV}")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    parser.add_argument("--termination-log", default=termination.DEFAULT_PATH)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    where: list[str] = []
    try:
        args = build_parser().parse_args(argv)
        index = partition_index(args)
        store = Store(args.store)
        partial = paths.dataset_partial(args.namespace, args.name, args.run, index)
        where = ["--result-uri", store.uri(partial)]
        spec = parse_spec(DatasetSpec, args.spec, DATASET.kind)
        document = profile_partition(args, spec, store, index)
        data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        store.write_bytes(partial, data)
    except (InvalidInput, SourceUnreadable, SchemaMismatch, ArtifactError) as err:
        return fail([*argv, *where], err.reason, str(err))
    except Exception as err:
        traceback.print_exc()
        return fail([*argv, *where], reasons.PROFILER_ERROR, f"{type(err).__name__}: {err}")
    short = {k: v for k, v in document.items() if k not in ("profile", "rules", "schema")}
    termination.write(short, args.termination_log)
    return 0


def partition_index(args: Any) -> int:
    raw = args.index if args.index is not None else os.environ.get(INDEX_ENV)
    if raw is None:
        raise InvalidInput(f"no partition index: pass --index or set {INDEX_ENV}")
    index = int(raw)
    if not args.partitions >= 1 or not 0 <= index < args.partitions:
        raise InvalidInput(f"index {index} is not one of {args.partitions} partitions")
    if args.batch_rows < 1:
        raise InvalidInput("--batch-rows must be at least 1")
    return index


def shared_schema(files: Files, spec: DatasetSpec) -> tuple[ResolvedSchema, pa.Schema]:
    """The schema every index derives alike: the declared one, else the first file's Parquet
    schema (types, not values); and the Arrow schema every part is written with."""
    arrow = files.schema()
    if arrow is None:
        raise SourceUnreadable(f"cannot read a Parquet schema from {spec.source.uri}")
    empty = _without_reserved(arrow.empty_table().to_pandas())
    schema = resolve_schema(empty, spec.schema_)
    target = pa.Table.from_pandas(normalize(empty, schema), preserve_index=False).schema
    return schema, target.remove_metadata()


def profile_partition(args: Any, spec: DatasetSpec, store: Store, index: int) -> dict[str, Any]:
    try:
        files = Files(spec.source.uri, "parquet")
        slices = plan(files.row_counts(), args.partitions, index)
        schema, arrow = shared_schema(files, spec)
    except (OSError, ValueError) as err:
        raise SourceUnreadable(f"cannot read {spec.source.uri}: {err}") from err
    numeric, categorical = schema.of_type("numeric"), schema.of_type("categorical")
    targets = schema.of_type("target")
    numeric_targets = [t for t in targets if pa.types.is_integer(arrow.field(t).type)
                       or pa.types.is_floating(arrow.field(t).type)]  # fmt: skip
    profile = PartialProfile(
        [*numeric, *numeric_targets],
        [*categorical, *(t for t in targets if t not in numeric_targets)],
        sample_size=spec.profile.sample_size,
        bins=spec.profile.bins,
    )
    tallies: list[list[dict[str, Any]]] = []
    rows = 0
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, "part.parquet")
        writer: pq.ParquetWriter | None = None
        try:
            for part in slices:
                for _, table in files.batches(part, args.batch_rows):
                    raw = _without_reserved(table.to_pandas())
                    resolve_schema(raw, spec.schema_)  # declared numeric columns hold numbers
                    frame = normalize(raw, schema)
                    tallies.append(rules.tally(frame, spec.validation))
                    profile.add(frame)
                    out = pa.Table.from_pandas(frame, preserve_index=False)
                    out = out.replace_schema_metadata(None).cast(arrow)
                    if writer is None:
                        writer = pq.ParquetWriter(local, arrow, **PARQUET_SETTINGS)
                    writer.write_table(out, row_group_size=max(len(out), 1))
                    rows += len(out)
        finally:
            if writer is not None:
                writer.close()
        part_doc = publish_part(store, args.namespace, args.name, local) if rows else None
    merged = rules.merge_tallies(tallies) if tallies else [
        {"failing": 0, "examples": []} for _ in spec.validation.rules
    ]  # fmt: skip
    return {
        "ok": True,
        "index": index,
        "rows": rows,
        "schema": schema.wire(),
        "targets": targets,
        "part": part_doc,
        "rules": merged,
        "profile": json.loads(profile.to_json()),
        "slices": [
            {"file": files.uri_of(s.file), "start": s.start, "stop": s.stop} for s in slices
        ],
        "finishedAt": now(),
    }


def publish_part(store: Store, namespace: str, dataset: str, local: str) -> dict[str, Any]:
    """The part at its content address (kept when an intact copy is there already)."""
    with open(local, "rb") as handle:
        sha = _sha256(handle)
    path = paths.dataset_part(namespace, dataset, sha)
    rows = pq.ParquetFile(local).metadata.num_rows
    if not _intact(store, path, sha):
        publish(local, store.uri(path))
    return {"file": f"../parts/{sha}.parquet", "sha256": sha, "rows": rows}


def _sha256(handle: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _intact(store: Store, path: str, sha: str) -> bool:
    """An existing copy with the right content, hashed as a stream (parts can be large)."""
    fs, fs_path = store_fs(store, store.uri(path))
    try:
        with fs.open(fs_path, "rb") as handle:
            return _sha256(handle) == sha
    except FileNotFoundError:
        return False
