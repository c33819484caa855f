"""Dataset snapshots as readers see them: one `data.parquet`, or a partitioned snapshot's
`manifest.json` naming content-addressed parts (docs/artifacts.md).

A manifest is canonical JSON:

    {"format": "mlops.dev/snapshot-manifest/v1", "rows": 20000000,
     "columns": [{"name": "x0", "type": "numeric"}, ...],
     "parts": [{"file": "../parts/<sha256>.parquet", "sha256": "<sha256>", "rows": 5000000}, ...]}

`file` is relative to the manifest's own directory, so the bytes (and the version, their
sha256) do not depend on where the store is mounted. The Dataset version of a partitioned
snapshot is the sha256 of these bytes: the same parts in the same order give the same version,
and a part's sha256 is checked whenever it is read whole.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ArtifactError
from .store import Store, filesystem, json_bytes, scheme_of, unreachable

# Fixed Parquet settings of the files written part by part (partitioned snapshots, batch
# predictions): the same rows give the same bytes.
PARQUET_SETTINGS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "2.0",
    "store_schema": False,
}
MANIFEST_FORMAT = "mlops.dev/snapshot-manifest/v1"
MANIFEST_NAME = "manifest.json"


class InvalidManifest(ArtifactError):
    """A manifest.json that is not one this operator wrote."""


@dataclass(frozen=True)
class Part:
    uri: str
    sha256: str
    rows: int


def is_manifest(uri: str) -> bool:
    return uri.rstrip("/").rsplit("/", 1)[-1] == MANIFEST_NAME


def manifest_bytes(columns: list[dict[str, str]], parts: list[dict[str, Any]]) -> bytes:
    """The canonical manifest of `parts` (`{file, sha256, rows}` in row order)."""
    doc = {
        "format": MANIFEST_FORMAT,
        "rows": sum(int(p["rows"]) for p in parts),
        "columns": columns,
        "parts": [
            {"file": p["file"], "sha256": p["sha256"], "rows": int(p["rows"])} for p in parts
        ],
    }
    return json_bytes(doc)


def parse_manifest(data: bytes, uri: str) -> tuple[dict[str, Any], list[Part]]:
    import json

    try:
        doc = json.loads(data)
    except ValueError as err:
        raise InvalidManifest(f"{uri} is not JSON: {err}") from err
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise InvalidManifest(f"{uri}: not a {MANIFEST_FORMAT} manifest")
    base = uri.rsplit("/", 1)[0]
    scheme, _, path = base.partition("://")
    parts = [
        Part(f"{scheme}://{posixpath.normpath(posixpath.join(path, p['file']))}",
             str(p["sha256"]), int(p["rows"]))
        for p in doc.get("parts") or []
    ]  # fmt: skip
    return doc, parts


def read_manifest(store: Store, uri: str, sha256: str | None = None) -> list[Part]:
    data = store.read_verified(uri, sha256) if sha256 else store.read_bytes(uri)
    return parse_manifest(data, store.uri(uri))[1]


def read_snapshot(
    store: Store, uri: str, sha256: str | None = None, columns: list[str] | None = None
) -> pa.Table:
    """A whole snapshot (either layout) as one Arrow table, every file checked against its
    sha256 (the version for `data.parquet` or the manifest; the manifest's for each part)."""
    if not is_manifest(uri):
        data = store.read_verified(uri, sha256) if sha256 else store.read_bytes(uri)
        return pq.read_table(io.BytesIO(data), columns=columns)
    parts = read_manifest(store, uri, sha256)
    tables = [
        pq.read_table(io.BytesIO(store.read_verified(p.uri, p.sha256)), columns=columns)
        for p in parts
    ]
    if not tables:
        raise InvalidManifest(f"{uri} lists no parts")
    return pa.concat_tables(tables)


def read_tail(store: Store, uri: str, rows: int | None) -> pa.Table:
    """The last `rows` rows of a snapshot (all when None): only the parts holding them are
    read. What a DriftMonitor compares when its window is a Dataset version."""
    if not is_manifest(uri):
        table = pq.read_table(io.BytesIO(store.read_bytes(uri)))
        return (
            table if rows is None or table.num_rows <= rows else table.slice(table.num_rows - rows)
        )
    parts = read_manifest(store, uri)
    wanted: list[Part] = []
    held = 0
    for part in reversed(parts):
        if rows is not None and held >= rows:
            break
        wanted.insert(0, part)
        held += part.rows
    tables = [pq.read_table(io.BytesIO(store.read_verified(p.uri, p.sha256))) for p in wanted]
    if not tables:
        raise InvalidManifest(f"{uri} lists no parts")
    table = pa.concat_tables(tables)
    return table if rows is None or table.num_rows <= rows else table.slice(table.num_rows - rows)


def iter_batches(
    store: Store, uri: str, sha256: str | None = None, batch_rows: int = 1 << 18
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(global row of the first row, batch) over a snapshot, one row group at a time: memory
    stays at about one batch whatever the snapshot's size. Parts are read through the store's
    filesystem (not checked whole: a streaming reader cannot, the manifest is checked)."""
    sources: list[str]
    if is_manifest(uri):
        sources = [p.uri for p in read_manifest(store, uri, sha256)]
    else:
        sources = [store.uri(uri)]
    offset = 0
    for source in sources:
        fs, path = store_fs(store, source)
        with fs.open(path, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
                yield offset, batch
                offset += batch.num_rows


def store_fs(store: Store, uri: str) -> tuple[Any, str]:
    from .store import _fs_path, filesystem, scheme_of

    scheme = scheme_of(uri)
    fs = store.fs if scheme == store.scheme else filesystem(scheme, store.storage_options)
    return fs, _fs_path(uri)


def publish_file(local: str, uri: str) -> None:
    """Put the finished file at `uri` whole: rename on a local store, one PUT on S3."""
    scheme = scheme_of(uri)
    if scheme == "file":
        target = uri.removeprefix("file://")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        staging = f"{target}.tmp-{os.getpid()}"
        shutil.copyfile(local, staging)
        os.replace(staging, target)
        return
    # The store's S3 settings (endpoint, keys) come from the pod's environment.
    try:
        filesystem(scheme).put_file(local, uri)
    except Exception as err:  # an unreachable endpoint is StoreUnavailable, as in Store
        raise unreachable(err, uri) or err from err
