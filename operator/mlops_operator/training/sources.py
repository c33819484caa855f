"""Read a Dataset `spec.source` into a DataFrame: file://, s3://, https:// or sklearn://."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from pandas.api import types as ptypes

from ..api.dataset import SKLEARN_DATASETS, DataSource
from ..artifacts import records
from ..artifacts.errors import ArtifactError
from ..artifacts.store import filesystem
from ..reconcile import reasons
from .parts import Files, is_many
from .snapshot import SchemaMismatch

TARGET = "target"
_CLASSIFICATION_SETS = {"iris", "wine", "breast_cancer"}


class SourceUnreadable(Exception):
    reason = reasons.SOURCE_UNREADABLE


def column_name(raw: str) -> str:
    """sklearn's feature names as identifiers: 'sepal length (cm)' -> 'sepal_length_cm'."""
    return re.sub(r"[^0-9a-z]+", "_", raw.lower()).strip("_")


def read_source(source: DataSource, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    scheme = urlsplit(source.uri).scheme
    if scheme == "sklearn":
        return load_sklearn(source.uri)
    try:
        if is_many(source.uri):
            return _read_many(source, storage_options)
        fs = filesystem(scheme, storage_options)
        path = fs._strip_protocol(source.uri)
        with fs.open(path, "rb") as handle:
            if source.format == "parquet":
                return pd.read_parquet(handle)
            return pd.read_csv(handle)
    except SourceUnreadable:
        raise
    except ArtifactError as err:
        raise SourceUnreadable(f"cannot read {source.uri}: {err}") from err
    except FileNotFoundError as err:
        raise SourceUnreadable(f"cannot read {source.uri}: no such file or object") from err
    except Exception as err:  # parsers, network and permission errors all mean "unreadable"
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SourceUnreadable(
            f"cannot read {source.uri} as {source.format}: {type(err).__name__}: {detail}"
        ) from err


def _read_many(source: DataSource, storage_options: dict[str, Any] | None) -> pd.DataFrame:
    """A directory (`.../`) or glob of files, in sorted order, as one frame (training/parts)."""
    files = Files(source.uri, source.format, storage_options)
    frames = []
    for path in files.paths:
        with files.fs.open(path, "rb") as handle:
            frames.append(
                pd.read_parquet(handle) if source.format == "parquet" else pd.read_csv(handle)
            )
    return pd.concat(frames, ignore_index=True)


def load_sklearn(uri: str) -> pd.DataFrame:
    """One of scikit-learn's bundled data sets, features renamed to identifiers.

    The label column is `target`; for classification sets it holds the class names
    (e.g. 'setosa'), so models predict readable labels.
    """
    name = uri.removeprefix("sklearn://").strip("/")
    if name not in SKLEARN_DATASETS:
        raise SourceUnreadable(
            f"unknown bundled dataset {uri!r}; choose one of "
            + ", ".join(f"sklearn://{n}" for n in SKLEARN_DATASETS)
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame: pd.DataFrame = bunch.frame.copy()
    frame.columns = [c if c == TARGET else column_name(str(c)) for c in frame.columns]
    if name in _CLASSIFICATION_SETS:
        names = [str(n) for n in bunch.target_names]
        frame[TARGET] = frame[TARGET].map(lambda i: names[int(i)]).astype("str")
    return frame


def read_sources(
    main: DataSource, additional: list[DataSource]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`spec.source` followed by each of `spec.additionalSources`, as one frame.

    Returns the rows and, per source, `{uri, rows}`. Reserved `mlops.*` columns (the id of a
    labeled production row) are dropped from every source: they are bookkeeping, not data.
    Each additional source must have exactly the main source's columns (in any order; they
    are put in the main source's order) and values that fit the main source's dtypes.
    """
    frame = _without_reserved(read_source(main))
    sources = [{"uri": main.uri, "rows": len(frame)}]
    if not additional:
        return frame, sources
    parts = [frame]
    for i, source in enumerate(additional):
        where = f"spec.additionalSources[{i}]"
        try:
            extra = _without_reserved(read_source(source))
        except SourceUnreadable as err:
            raise SourceUnreadable(f"{where}: {err}") from err
        parts.append(align(extra, frame, where))
        sources.append({"uri": source.uri, "rows": len(extra)})
    return pd.concat(parts, ignore_index=True), sources


def _without_reserved(frame: pd.DataFrame) -> pd.DataFrame:
    reserved = [c for c in frame.columns if records.is_reserved(str(c))]
    return frame.drop(columns=reserved) if reserved else frame


def align(extra: pd.DataFrame, main: pd.DataFrame, where: str) -> pd.DataFrame:
    """`extra` with `main`'s columns, in its order and (where no value changes) its dtypes."""
    wanted, have = [str(c) for c in main.columns], [str(c) for c in extra.columns]
    missing = [c for c in wanted if c not in have]
    unexpected = [c for c in have if c not in wanted]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unexpected:
            parts.append(f"extra column(s) {', '.join(unexpected)}")
        raise SchemaMismatch(
            f"{where} ({'; '.join(parts)}) must have the columns of spec.source: "
            + ", ".join(wanted)
        )
    extra = extra[wanted]
    return pd.DataFrame(
        {c: _fit(extra[c], main[c].dtype, f"{where} column {c!r}") for c in wanted}
    ).reset_index(drop=True)


def _fit(series: pd.Series, dtype: Any, what: str) -> pd.Series:
    """`series` as `dtype` when every value survives the cast, else a clear SchemaMismatch.

    Production rows come back from requests and labels, so an integer reference column may
    arrive as floats (30.0) or a float one as integers; those are cast. A column with no
    values at all takes any dtype. Text in a numeric column, or fractions in an integer
    one, would change the data, so they fail the profile instead.
    """
    if series.dtype == dtype or series.isna().all():
        return series
    main_numeric = ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
    if main_numeric:
        values = series
        if not ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
            values = pd.to_numeric(series, errors="coerce")
            bad = series[values.isna() & series.notna()]
            if len(bad) or ptypes.is_bool_dtype(series):
                example = repr(bad.iloc[0]) if len(bad) else "booleans"
                raise SchemaMismatch(
                    f"{what} holds non-numeric value(s), e.g. {example}; "
                    f"spec.source has {dtype} there"
                )
        whole = not values.isna().any() and bool((values == values.round()).all())
        if ptypes.is_integer_dtype(dtype) and not whole:
            raise SchemaMismatch(
                f"{what} holds {values.dtype} values that are not whole numbers; "
                f"spec.source has {dtype} there"
            )
        return values.astype(dtype)
    text = ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)
    if text and (ptypes.is_integer_dtype(series) or ptypes.is_bool_dtype(series)):
        # Whole numbers and booleans have one text form: 7 -> "7", True -> "True".
        return series.astype(str).astype(dtype)
    if ptypes.is_bool_dtype(dtype) or ptypes.is_numeric_dtype(series):
        raise SchemaMismatch(f"{what} is {series.dtype}; spec.source has {dtype} there")
    return series
