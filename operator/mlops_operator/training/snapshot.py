"""Schema resolution and the deterministic Parquet snapshot of a Dataset version."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from ..api.dataset import DataSchema
from ..reconcile import reasons


class SchemaMismatch(Exception):
    reason = reasons.SCHEMA_MISMATCH


@dataclass(frozen=True)
class ResolvedSchema:
    columns: list[tuple[str, str]]  # (name, numeric|categorical|target) in data order

    def of_type(self, kind: str) -> list[str]:
        return [name for name, t in self.columns if t == kind]

    def wire(self) -> list[dict[str, str]]:
        return [{"name": name, "type": t} for name, t in self.columns]


def infer_type(series: pd.Series) -> str:
    if ptypes.is_bool_dtype(series) or not ptypes.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def resolve_schema(frame: pd.DataFrame, declared: DataSchema | None) -> ResolvedSchema:
    if declared is None:
        # Without a schema a column named `target` (as in the sklearn:// sets) is the label.
        return ResolvedSchema(
            [(str(c), "target" if c == "target" else infer_type(frame[c])) for c in frame.columns]
        )
    names = [c.name for c in declared.columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaMismatch(f"schema declares column(s) more than once: {', '.join(duplicates)}")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SchemaMismatch(
            f"declared column(s) not in the data: {', '.join(missing)}; "
            f"the data has: {', '.join(map(str, frame.columns))}"
        )
    for column in declared.columns:
        if column.type == "numeric":
            series = frame[column.name]
            converted = pd.to_numeric(series, errors="coerce")
            bad = series[converted.isna() & series.notna()]
            if ptypes.is_bool_dtype(series) or len(bad):
                example = repr(bad.iloc[0]) if len(bad) else "booleans"
                raise SchemaMismatch(
                    f"column {column.name!r} is declared numeric but holds {len(bad)} "
                    f"non-numeric value(s), e.g. {example}"
                )
    return ResolvedSchema([(c.name, c.type) for c in declared.columns])


def normalize(frame: pd.DataFrame, schema: ResolvedSchema) -> pd.DataFrame:
    """Only the schema's columns, numeric as float64, categorical as strings; fresh index."""
    out = {}
    for name, kind in schema.columns:
        series = frame[name]
        if kind == "numeric":
            out[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif kind == "categorical" or not ptypes.is_numeric_dtype(series):
            out[name] = (
                series.astype("object")
                .where(series.notna(), None)
                .map(lambda v: None if v is None else str(v))
                .astype("str")
            )
        else:
            out[name] = series
    return pd.DataFrame(out).reset_index(drop=True)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet with fixed settings and no writer metadata: same content, same bytes.

    (The file still names the pyarrow version that wrote it, so a new image may give a
    new version of unchanged data; that only adds one history entry.)
    """
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        row_group_size=1 << 20,
        data_page_version="2.0",
        store_schema=False,
    )
    return sink.getvalue()


def read_parquet(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()
