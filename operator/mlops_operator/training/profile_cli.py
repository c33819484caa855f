"""`mlops-operator profile`: read a Dataset source, validate it, snapshot and profile it.

Exit 0 whenever the data was read (valid or not; the message says which rules failed),
exit 1 with {"ok": false, "reason", "error"} when it could not be.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import pandas as pd

from ..api.dataset import DatasetSpec
from ..api.kinds import DATASET
from ..artifacts import paths
from ..artifacts.errors import ArtifactError
from ..artifacts.store import Store, sha256_hex
from ..reconcile import reasons
from .common import (
    ArgumentParser,
    InvalidInput,
    add_output_arguments,
    fail,
    now,
    parse_spec,
    report,
)
from .rules import run_validation
from .snapshot import SchemaMismatch, normalize, parquet_bytes, resolve_schema
from .sources import SourceUnreadable, read_sources


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mlops-operator profile", description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="Dataset name")
    parser.add_argument("--spec", required=True, help="the Dataset spec as JSON (wire form)")
    parser.add_argument("--store", required=True, help="artifact store root URI")
    add_output_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        spec = parse_spec(DatasetSpec, args.spec, DATASET.kind)
        message = profile(args.namespace, args.name, spec, Store(args.store))
    except (InvalidInput, SourceUnreadable, SchemaMismatch, ArtifactError) as err:
        return fail(argv, err.reason, str(err))
    except Exception as err:
        traceback.print_exc()
        return fail(argv, reasons.PROFILER_ERROR, f"{type(err).__name__}: {err}")
    return report(argv, message)


def profile(namespace: str, name: str, spec: DatasetSpec, store: Store) -> dict[str, Any]:
    """Do the work; returns the termination message. Raises the typed errors of main()."""
    raw, sources = read_sources(spec.source, spec.additional_sources)
    schema = resolve_schema(raw, spec.schema_)
    data = normalize(raw, schema)
    results = run_validation(data, spec.validation)
    snapshot = parquet_bytes(data)
    version = sha256_hex(snapshot)
    passed = all(r.passed for r in results)
    summary: dict[str, Any] = {
        "namespace": namespace,
        "dataset": name,
        "source": spec.source.uri,
        "sources": sources,
        "version": version,
        "rows": len(data),
        "columns": len(data.columns),
        "schema": schema.wire(),
        "validation": [r.wire() for r in results],
        "passed": passed,
        "snapshotUri": None,
        "profileUri": None,
        "profileSha256": None,
        "createdAt": now(),
    }
    if passed:
        summary["snapshotUri"] = _write_immutable(
            store, paths.dataset_snapshot(namespace, name, version), snapshot, version
        )
        profile_bytes = _reference_profile(
            data,
            schema.of_type("numeric"),
            schema.of_type("categorical"),
            spec,
            schema.of_type("target"),
        )
        uri, sha = store.write_bytes(paths.dataset_profile(namespace, name, version), profile_bytes)
        summary["profileUri"], summary["profileSha256"] = uri, sha
        summary_path = paths.dataset_summary(namespace, name, version)
    else:
        summary_path = paths.rejected_summary(namespace, name, version)
    summary_uri, summary_sha = store.write_json(summary_path, summary)
    return {
        "ok": True,
        "version": version,
        "rows": summary["rows"],
        "columns": summary["columns"],
        "passed": passed,
        "failed": [r.name for r in results if not r.passed],
        "summaryUri": summary_uri,
        "summarySha256": summary_sha,
        "snapshotUri": summary["snapshotUri"],
        "profileUri": summary["profileUri"],
        "profileSha256": summary["profileSha256"],
        "sources": sources,
    }


def _write_immutable(store: Store, path: str, data: bytes, sha256: str) -> str:
    """Content-addressed: an intact existing copy is kept as it is (re-runs are no-ops)."""
    if store.exists(path):
        try:
            store.read_verified(path, sha256)
            return store.uri(path)
        except ArtifactError:
            pass  # damaged copy: the content is known, so write it again
    uri, _ = store.write_bytes(path, data)
    return uri


def _reference_profile(
    data: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    spec: DatasetSpec,
    targets: list[str],
) -> bytes:
    """Features for drift checks, and the target (not a feature) for prediction drift."""
    from ..drift.profile import build_reference_profile

    reference = build_reference_profile(
        data[numeric + categorical + targets],
        numeric,
        categorical,
        sample_size=spec.profile.sample_size,
        bins=spec.profile.bins,
        targets=targets,
    )
    out: bytes = reference.to_json()
    return out
