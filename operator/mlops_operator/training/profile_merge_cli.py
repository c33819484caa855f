"""`mlops-operator profile-merge`: finish a partitioned Dataset once every partition reported.

Reads each partition's `partials/<run>/part-<index>.json` (profile-part), checks they agree on
the schema, adds up the rows and the rule counts, merges the partial profiles (drift/partial.py:
the profile one pass over all rows would give) and writes, for data that passed validation,
the version's `manifest.json` (the non-empty parts in index order), `profile.json` and
`summary.json`; the version is the manifest's sha256. It only reads partials and writes
content-addressed or deterministic files, so a retry or a second run gives the same result.
Reports what `mlops-operator profile` reports (its `snapshotUri` is the manifest).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from typing import Any

from ..api.dataset import DatasetSpec
from ..api.kinds import DATASET
from ..artifacts import paths
from ..artifacts.errors import ArtifactError, ArtifactMissing
from ..artifacts.snapshots import manifest_bytes
from ..artifacts.store import Store, sha256_hex
from ..drift.partial import PartialProfile
from ..reconcile import reasons
from . import rules
from .common import (
    ArgumentParser,
    InvalidInput,
    add_output_arguments,
    fail,
    now,
    parse_spec,
    report,
)
from .profile_cli import _write_immutable
from .snapshot import SchemaMismatch
from .sources import SourceUnreadable


class PartitionFailed(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mlops-operator profile-merge", description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="Dataset name")
    parser.add_argument("--spec", required=True, help="the Dataset spec as JSON (wire form)")
    parser.add_argument("--store", required=True, help="artifact store root URI")
    parser.add_argument("--run", required=True, help="the run the partitions wrote under")
    parser.add_argument("--partitions", type=int, required=True)
    add_output_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        spec = parse_spec(DatasetSpec, args.spec, DATASET.kind)
        message = merge(args.namespace, args.name, spec, Store(args.store), args.run,
                        args.partitions)  # fmt: skip
    except (InvalidInput, SourceUnreadable, SchemaMismatch, ArtifactError, PartitionFailed) as err:
        return fail(argv, err.reason, str(err))
    except Exception as err:
        traceback.print_exc()
        return fail(argv, reasons.PROFILER_ERROR, f"{type(err).__name__}: {err}")
    return report(argv, message)


def read_partials(
    store: Store, namespace: str, name: str, run: str, partitions: int
) -> list[dict[str, Any]]:
    found = []
    for index in range(partitions):
        path = paths.dataset_partial(namespace, name, run, index)
        try:
            document = json.loads(store.read_bytes(path))
        except ArtifactMissing as err:
            raise PartitionFailed(
                f"partition {index} of {partitions} left no result", reasons.RESULT_MISSING
            ) from err
        if not document.get("ok"):
            raise PartitionFailed(
                f"partition {index}: {document.get('error')}",
                str(document.get("reason") or reasons.PROFILE_FAILED),
            )
        found.append(document)
    return found


def merge(
    namespace: str, name: str, spec: DatasetSpec, store: Store, run: str, partitions: int
) -> dict[str, Any]:
    partials = read_partials(store, namespace, name, run, partitions)
    schema, targets = partials[0]["schema"], partials[0].get("targets") or []
    for document in partials[1:]:
        if document["schema"] != schema:
            raise SchemaMismatch(
                f"partition {document['index']} read the schema {document['schema']}, "
                f"partition 0 read {schema}"
            )
    rows = sum(int(d["rows"]) for d in partials)
    merged_rules = rules.merge_tallies([d["rules"] for d in partials])
    results = rules.results_of(merged_rules, spec.validation, rows)
    profile = PartialProfile.from_json(json.dumps(partials[0]["profile"]).encode())
    for document in partials[1:]:
        profile.merge(PartialProfile.from_json(json.dumps(document["profile"]).encode()))
    parts = [d["part"] for d in partials if d.get("part")]
    manifest = manifest_bytes(schema, parts)
    version = sha256_hex(manifest)
    passed = all(r.passed for r in results)
    summary: dict[str, Any] = {
        "namespace": namespace, "dataset": name, "source": spec.source.uri,
        "sources": [{"uri": spec.source.uri, "rows": rows}], "version": version, "rows": rows,
        "columns": len(schema), "schema": schema, "validation": [r.wire() for r in results],
        "passed": passed, "partitions": partitions, "parts": len(parts),
        "snapshotUri": None, "profileUri": None, "profileSha256": None, "createdAt": now(),
    }  # fmt: skip
    if passed:
        summary["snapshotUri"] = _write_immutable(
            store, paths.dataset_manifest(namespace, name, version), manifest, version
        )
        reference = dataclasses.replace(profile.to_profile(), targets=list(targets))
        uri, sha = store.write_bytes(
            paths.dataset_profile(namespace, name, version), reference.to_json()
        )
        summary["profileUri"], summary["profileSha256"] = uri, sha
        summary_path = paths.dataset_summary(namespace, name, version)
    else:
        summary_path = paths.rejected_summary(namespace, name, version)
    summary_uri, summary_sha = store.write_json(summary_path, summary)
    return {
        "ok": True, "version": version, "rows": rows, "columns": len(schema), "passed": passed,
        "failed": [r.name for r in results if not r.passed],
        "summaryUri": summary_uri, "summarySha256": summary_sha,
        "snapshotUri": summary["snapshotUri"], "profileUri": summary["profileUri"],
        "profileSha256": summary["profileSha256"], "sources": summary["sources"],
    }  # fmt: skip
