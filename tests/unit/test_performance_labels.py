"""Reading a bulk labels source and the label files (performance/labels_source.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from mlops_operator.artifacts.records import ID, LABEL, TIME, decode_label
from mlops_operator.performance.labels_source import encode_column, read_labels_source
from mlops_operator.performance.plan import LabelsSource


def test_csv_file_keeps_ids_as_text(tmp_path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("request,outcome\n007,1\n8,0\n9,\n")
    got = read_labels_source(
        LabelsSource(path.as_uri(), id_column="request", label_column="outcome")
    )
    assert got[ID].tolist() == ["007", "8", "9"]
    assert [decode_label(x) for x in got[LABEL]] == [1, 0, None]
    assert str(got[TIME].dtype).startswith("datetime64") and got[TIME].dt.tz is not None


def test_parquet_directory_mixed_formats_by_extension(tmp_path) -> None:
    pd.DataFrame({"id": ["a", "b"], "label": ["setosa", "virginica"]}).to_parquet(
        tmp_path / "1.parquet"
    )
    (tmp_path / "2.csv").write_text("id,label\nc,versicolor\n")
    (tmp_path / "README.txt").write_text("not labels")
    got = read_labels_source(LabelsSource(tmp_path.as_uri()))
    assert got[ID].tolist() == ["a", "b", "c"]
    assert [decode_label(x) for x in got[LABEL]] == ["setosa", "virginica", "versicolor"]


def test_file_mtime_is_the_label_time(tmp_path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("id,label\na,1\n")
    moment = datetime(2024, 3, 1, 10, 0, tzinfo=UTC).timestamp()
    import os

    os.utime(path, (moment, moment))
    got = read_labels_source(LabelsSource(path.as_uri()))
    assert got[TIME][0] == pd.Timestamp("2024-03-01T10:00:00", tz="UTC")


def test_explicit_format_for_an_unusual_name(tmp_path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("id,label\na,2.5\n")
    got = read_labels_source(LabelsSource(path.as_uri(), format="csv"))
    assert decode_label(got[LABEL][0]) == 2.5
    with pytest.raises(ValueError, match=r"format auto needs a \.csv or \.parquet"):
        read_labels_source(LabelsSource(path.as_uri()))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (LabelsSource("", label_column="truth"), "no column 'truth'"),
        (LabelsSource("", id_column="key"), "no column 'key'"),
        (LabelsSource("", format="json"), "labels format must be one of auto, csv, parquet"),  # type: ignore[arg-type]
    ],
)
def test_errors_name_the_problem(tmp_path, source, message) -> None:
    path = tmp_path / "l.csv"
    path.write_text("id,label\na,1\n")
    bad = LabelsSource(path.as_uri(), source.format, source.id_column, source.label_column)
    with pytest.raises(ValueError, match=message):
        read_labels_source(bad)


def test_missing_source_empty_directory_and_bad_parquet(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        read_labels_source(LabelsSource((tmp_path / "nope.csv").as_uri()))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no \.csv or \.parquet"):
        read_labels_source(LabelsSource((tmp_path / "empty").as_uri()))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet"):
        read_labels_source(LabelsSource((tmp_path / "bad.parquet").as_uri()))


def test_encode_column_keeps_types() -> None:
    assert encode_column(pd.Series([1, 2, 1])).tolist() == ["1", "2", "1"]
    assert encode_column(pd.Series(["a", None, "b"])).tolist() == ['"a"', "null", '"b"']
    assert encode_column(pd.Series([1.5, float("nan")])).tolist() == ["1.5", "null"]
    assert encode_column(pd.Series([True, False])).tolist() == ["true", "false"]
