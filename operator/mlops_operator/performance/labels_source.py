"""Reading ground truth: the label files the model server writes (`labels_dir`) and a bulk
labels source (one CSV/Parquet file or a directory of them, on file:// or s3://), both as a
frame of ID, LABEL (JSON-encoded, `records.encode_label`) and TIME, in arrival order.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from ..artifacts import Store
from ..artifacts.lifecycle import partitions
from ..artifacts.records import ID, LABEL, TIME, encode_label
from ..artifacts.store import filesystem, scheme_of
from .plan import LabelsSource

FORMATS = ("auto", "csv", "parquet")
# Label files written this long before the window's first sample file are still read: a
# sample file is flushed after the predictions it holds, so their labels may predate it.
LABELS_LOOKBACK = timedelta(hours=1)


def empty_labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            ID: pd.Series([], dtype=object),
            LABEL: pd.Series([], dtype=object),
            TIME: pd.Series([], dtype="datetime64[us, UTC]"),
        }
    )


def read_label_files(store: Store, labels_uri: str, since: datetime | None) -> pd.DataFrame:
    """The label files of a deployment written since the window began (less
    LABELS_LOOKBACK), oldest first: only the hour partitions that covers are listed
    (artifacts/lifecycle/partitions.py; flat-layout files are read too)."""
    start = None if since is None else since - LABELS_LOOKBACK
    table, _ = partitions.read_window(store, labels_uri, start, None)
    if table is None:
        return empty_labels()
    frame = table.select([ID, LABEL, TIME]).to_pandas()
    frame[TIME] = pd.to_datetime(frame[TIME], utc=True)
    return frame


def read_labels_source(
    source: LabelsSource, storage_options: dict[str, Any] | None = None
) -> pd.DataFrame:
    """A bulk labels source as ID (text), LABEL (encoded) and TIME (each file's modification
    time, else now). ValueError for a bad format or a missing column (naming it)."""
    if source.format not in FORMATS:
        raise ValueError(
            f"labels format must be one of {', '.join(FORMATS)}, not {source.format!r}"
        )
    fs = filesystem(scheme_of(source.uri), storage_options)
    path = _fs_path(source.uri)
    if not fs.exists(path):
        raise ValueError(f"labels source {source.uri} does not exist")
    if fs.isdir(path):
        entries = [e for e in fs.ls(path, detail=True) if e.get("type") == "file"]
        entries = [e for e in entries if _format(e["name"], source.format, strict=False)]
        entries.sort(key=lambda e: str(e["name"]))
        if not entries:
            raise ValueError(f"labels source {source.uri} holds no .csv or .parquet file")
    else:
        entries = [fs.info(path)]
    frames = []
    for entry in entries:
        name = str(entry["name"])
        fmt = _format(name, source.format, strict=True)
        with fs.open(name, "rb") as handle:
            data = handle.read()
        frames.append(_read_one(data, fmt, source, name.rsplit("/", 1)[-1], _mtime(entry)))
    return pd.concat(frames, ignore_index=True) if frames else empty_labels()


def _read_one(
    data: bytes, fmt: str, source: LabelsSource, name: str, when: datetime
) -> pd.DataFrame:
    wanted = [source.id_column, source.label_column]
    if fmt == "csv":
        try:
            frame = pd.read_csv(io.BytesIO(data), dtype={source.id_column: str})
        except (ValueError, pd.errors.ParserError) as err:
            raise ValueError(f"labels file {name}: not a readable CSV: {err}") from err
    else:
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(io.BytesIO(data)).to_pandas()
        except Exception as err:  # pyarrow raises ArrowInvalid and OSError subclasses
            raise ValueError(f"labels file {name}: not a readable Parquet file: {err}") from err
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(
            f"labels file {name} has no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    ids = frame[source.id_column]
    present = ids.notna().to_numpy()
    return pd.DataFrame(
        {
            ID: ids[present].astype(str).to_numpy(dtype=object),
            LABEL: encode_column(frame[source.label_column][present]),
            TIME: _constant_time(when, int(present.sum())),
        }
    )


def encode_column(values: pd.Series) -> np.ndarray:
    """`encode_label` of every value, each distinct value encoded once; missing -> "null"."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    encoded = np.array([encode_label(_python(u)) for u in uniques] + ["null"], dtype=object)
    return encoded[np.where(codes < 0, len(uniques), codes)]


def _constant_time(when: datetime, rows: int) -> pd.Series:
    moment = np.datetime64(when.astimezone(UTC).replace(tzinfo=None), "us")
    return pd.Series(np.full(rows, moment)).dt.tz_localize(UTC)


def _python(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _format(name: str, fmt: str, *, strict: bool) -> str:
    if fmt != "auto":
        return fmt
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if strict:
        raise ValueError(
            f"labels file {name.rsplit('/', 1)[-1]}: format auto needs a .csv or .parquet "
            "name; set the format"
        )
    return ""


def _mtime(entry: dict[str, Any]) -> datetime:
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("last_modified")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return datetime.now(UTC)


def _fs_path(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in {"", "file"}:
        return parts.path
    return f"{parts.netloc}{parts.path}"
