"""Read a Dataset `spec.source` into a DataFrame: file://, s3://, https:// or sklearn://."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ..api.dataset import SKLEARN_DATASETS, DataSource
from ..artifacts.errors import ArtifactError
from ..artifacts.store import filesystem
from ..reconcile import reasons

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
