"""`mlops-operator profile` in-process: sources, schema, validation rules, snapshot, profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_operator.api.dataset import DataSource
from mlops_operator.artifacts import Store
from mlops_operator.drift.profile import ReferenceProfile
from mlops_operator.training import profile_cli
from mlops_operator.training.snapshot import read_parquet
from mlops_operator.training.sources import SourceUnreadable, read_source


def run(tmp_path: Path, spec: dict[str, Any], name: str = "ds") -> tuple[int, dict[str, Any]]:
    log = tmp_path / "termination-log"
    code = profile_cli.main(
        [
            "--namespace", "team-a",
            "--name", name,
            "--spec", json.dumps(spec),
            "--store", (tmp_path / "store").as_uri(),
            "--termination-log", str(log),
        ]
    )  # fmt: skip
    raw = log.read_bytes()
    assert len(raw) < 4096
    return code, json.loads(raw)


def store_of(tmp_path: Path) -> Store:
    return Store((tmp_path / "store").as_uri())


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "age": [34, 51, 29, None, 42, 120],
            "income": [52000.0, 61000.5, 38000.0, 45000.0, 70500.0, 12000.0],
            "city": ["paris", "lyon", "paris", "nice", "lyon", "atlantis"],
            "churned": ["no", "yes", "no", "no", "yes", "no"],
        }
    )
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def test_iris_snapshot_profile_and_summary(tmp_path: Path) -> None:
    code, msg = run(tmp_path, {"source": {"uri": "sklearn://iris"}}, name="iris")
    assert code == 0 and msg["ok"] and msg["passed"] and msg["failed"] == []
    assert (msg["rows"], msg["columns"]) == (150, 5)
    store = store_of(tmp_path)
    version = msg["version"]
    assert msg["snapshotUri"].endswith(f"datasets/team-a/iris/{version}/data.parquet")

    snapshot = read_parquet(store.read_verified(msg["snapshotUri"], version))
    assert list(snapshot.columns) == [
        "sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm", "target",
    ]  # fmt: skip
    assert sorted(snapshot["target"].unique()) == ["setosa", "versicolor", "virginica"]

    summary = store.read_json(msg["summaryUri"], msg["summarySha256"])
    assert summary["version"] == version and summary["passed"] is True
    assert summary["schema"][0] == {"name": "sepal_length_cm", "type": "numeric"}
    assert summary["schema"][-1] == {"name": "target", "type": "target"}
    assert summary["validation"] == [
        {"name": "minRows", "passed": True, "message": "150 rows", "failingRows": 0}
    ]

    profile = ReferenceProfile.from_json(
        store.read_verified(msg["profileUri"], msg["profileSha256"])
    )
    assert profile.rows == 150
    assert sorted(profile.numeric) == sorted(snapshot.columns[:4])
    # the target is profiled for prediction drift, but it is not a feature: no data drift on it
    assert profile.targets == ["target"] and "target" not in profile.features
    assert profile.categorical["target"].categories == {
        "setosa": 50, "versicolor": 50, "virginica": 50
    }  # fmt: skip


def test_same_content_gives_the_same_version(tmp_path: Path) -> None:
    _, first = run(tmp_path, {"source": {"uri": "sklearn://wine"}})
    snapshot = Path(first["snapshotUri"].removeprefix("file://"))
    before = snapshot.stat().st_mtime_ns
    _, second = run(tmp_path, {"source": {"uri": "sklearn://wine"}})
    assert second["version"] == first["version"]
    assert snapshot.stat().st_mtime_ns == before  # immutable: not rewritten
    _, other = run(tmp_path, {"source": {"uri": "sklearn://diabetes"}})
    assert other["version"] != first["version"]


def test_csv_with_schema_and_passing_rules(tmp_path: Path, people_csv: Path) -> None:
    spec = {
        "source": {"uri": people_csv.as_uri(), "format": "csv"},
        "schema": {
            "columns": [
                {"name": "income", "type": "numeric"},
                {"name": "city", "type": "categorical"},
                {"name": "churned", "type": "target"},
            ]
        },
        "validation": {
            "minRows": 5,
            "rules": [
                {"column": "income", "check": "range", "min": 0},
                {"name": "churn-labels", "column": "churned", "check": "allowedValues",
                 "values": ["yes", "no"]},
            ],
        },
    }  # fmt: skip
    code, msg = run(tmp_path, spec)
    assert code == 0 and msg["passed"], msg
    assert msg["columns"] == 3  # the schema selects its columns
    store = store_of(tmp_path)
    profile = ReferenceProfile.from_json(store.read_bytes(msg["profileUri"]))
    assert profile.features == ["income", "city"]
    assert profile.targets == [
        c["name"] for c in spec["schema"]["columns"] if c["type"] == "target"
    ]
    assert profile.categorical["city"].categories["paris"] == 2


def test_failing_rules_are_counted_and_write_no_version(tmp_path: Path, people_csv: Path) -> None:
    spec = {
        "source": {"uri": people_csv.as_uri()},
        "validation": {
            "minRows": 10,
            "rules": [
                {"column": "age", "check": "notNull"},
                {"column": "age", "check": "range", "min": 0, "max": 100},
                {"column": "city", "check": "allowedValues", "values": ["paris", "lyon", "nice"]},
                {"column": "income", "check": "notNull"},
                {"column": "zip", "check": "notNull"},
            ],
        },
    }
    code, msg = run(tmp_path, spec)
    assert code == 0 and msg["ok"] and msg["passed"] is False
    assert msg["failed"] == ["minRows", "age:notNull", "age:range", "city:allowedValues",
                             "zip:notNull"]  # fmt: skip
    assert msg["snapshotUri"] is None and msg["profileUri"] is None
    assert "/rejected/" in msg["summaryUri"]
    assert not (tmp_path / "store/datasets/team-a/ds" / msg["version"]).exists()

    results = {r["name"]: r for r in store_of(tmp_path).read_json(msg["summaryUri"])["validation"]}
    assert results["minRows"]["message"] == "6 rows < minRows 10"
    assert results["age:notNull"]["failingRows"] == 1
    assert results["age:range"]["failingRows"] == 1  # 120; the null is notNull's business
    assert "max seen 120" in results["age:range"]["message"]
    assert results["city:allowedValues"]["failingRows"] == 1
    assert "'atlantis'" in results["city:allowedValues"]["message"]
    assert results["income:notNull"] == {
        "name": "income:notNull", "passed": True, "message": "0 null value(s) in 'income'",
        "failingRows": 0,
    }  # fmt: skip
    assert results["zip:notNull"]["message"] == "column 'zip' not in data"


def test_many_failures_keep_the_message_under_4096_bytes(tmp_path: Path) -> None:
    rules = [
        {"name": f"rule-with-a-rather-long-name-{i:03d}", "column": "missing", "check": "notNull"}
        for i in range(200)
    ]
    code, msg = run(tmp_path, {"source": {"uri": "sklearn://iris"}, "validation": {"rules": rules}})
    assert code == 0 and msg["passed"] is False
    assert 0 < len(msg["failed"]) < 200 and msg["failedTruncated"] == 200 - len(msg["failed"])
    full = store_of(tmp_path).read_json(msg["summaryUri"])
    assert len(full["validation"]) == 201


def test_parquet_source(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "kind": ["a", "b", "a"]}).to_parquet(path)
    code, msg = run(tmp_path, {"source": {"uri": path.as_uri(), "format": "parquet"}})
    assert code == 0 and msg["rows"] == 3
    summary = store_of(tmp_path).read_json(msg["summaryUri"])
    assert summary["schema"] == [
        {"name": "x", "type": "numeric"},
        {"name": "kind", "type": "categorical"},
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"uri": "file:///definitely/not/here.csv"}, "no such file"),
        ({"uri": "sklearn://mnist"}, "unknown bundled dataset"),
        ({"uri": "NOTPARQUET", "format": "parquet"}, "as parquet"),
    ],
)
def test_unreadable_source(tmp_path: Path, source: dict[str, str], expected: str) -> None:
    if source["uri"] == "NOTPARQUET":
        junk = tmp_path / "junk.parquet"
        junk.write_text("this is not parquet")
        source = {**source, "uri": junk.as_uri()}
    code, msg = run(tmp_path, {"source": source})
    assert code == 1
    assert msg["ok"] is False and msg["reason"] == "SourceUnreadable"
    assert expected in msg["error"]
    assert not (tmp_path / "store").exists()


def test_https_source_that_cannot_be_reached() -> None:
    with pytest.raises(SourceUnreadable, match=r"cannot read https://127\.0\.0\.1:9/"):
        read_source(DataSource(uri="https://127.0.0.1:9/data.csv"))


def test_schema_mismatch(tmp_path: Path, people_csv: Path) -> None:
    declared = {"columns": [{"name": "income", "type": "numeric"},
                            {"name": "salary", "type": "numeric"}]}  # fmt: skip
    code, msg = run(tmp_path, {"source": {"uri": people_csv.as_uri()}, "schema": declared})
    assert code == 1 and msg["reason"] == "SchemaMismatch"
    assert "salary" in msg["error"] and "the data has: age, income, city, churned" in msg["error"]

    declared = {"columns": [{"name": "city", "type": "numeric"}]}
    code, msg = run(tmp_path, {"source": {"uri": people_csv.as_uri()}, "schema": declared})
    assert code == 1 and msg["reason"] == "SchemaMismatch"
    assert "'city' is declared numeric but holds 6 non-numeric value(s)" in msg["error"]


def test_bad_arguments_and_spec_are_invalid_input(tmp_path: Path) -> None:
    code, msg = run(tmp_path, {"source": {"uri": "ftp://x/y.csv"}})
    assert code == 1 and msg["reason"] == "InvalidInput" and "source.uri" in msg["error"]
    log = tmp_path / "log"
    assert profile_cli.main(["--name", "x", "--termination-log", str(log)]) == 1
    assert "required" in json.loads(log.read_text())["error"]


# --- spec.additionalSources ---------------------------------------------------------------------
@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A float feature, an int feature, a categorical feature and a string target."""
    path = tmp_path / "reference.parquet"
    pd.DataFrame(
        {
            "x": [0.5, 1.5, 2.5, 3.5],
            "count": [1, 2, 3, 4],
            "city": ["paris", "lyon", "paris", "nice"],
            "label": ["a", "b", "a", "b"],
        }
    ).to_parquet(path)
    return path


def production(tmp_path: Path, name: str = "window.parquet", **columns: list[Any]) -> Path:
    """Labeled production rows as a monitor writes them: an id column, columns in any order."""
    rows = {
        "mlops.id": ["r1", "r2", "r3"],
        "label": ["b", "b", "a"],
        "city": ["nice", "lyon", "lille"],
        "count": [5.0, 6.0, 7.0],  # came back as floats: whole numbers, cast to int64
        "x": [10, 20, 30],  # came back as ints: cast to float64
    }
    rows.update(columns)
    path = tmp_path / name
    pd.DataFrame({k: v for k, v in rows.items() if v is not None}).to_parquet(path)
    return path


def with_extra(reference: Path, *extra: Path | str) -> dict[str, Any]:
    sources = [{"uri": e if isinstance(e, str) else e.as_uri(), "format": "parquet"} for e in extra]
    return {
        "source": {"uri": reference.as_uri(), "format": "parquet"},
        "additionalSources": sources,
    }


def test_additional_sources_are_appended_in_the_main_sources_columns_and_types(
    tmp_path: Path, reference: Path
) -> None:
    window = production(tmp_path)
    code, msg = run(tmp_path, with_extra(reference, window))
    assert code == 0 and msg["passed"], msg
    assert (msg["rows"], msg["columns"]) == (7, 4)  # mlops.id is not a column of the snapshot
    assert msg["sources"] == [
        {"uri": reference.as_uri(), "rows": 4},
        {"uri": window.as_uri(), "rows": 3},
    ]
    store = store_of(tmp_path)
    snapshot = read_parquet(store.read_verified(msg["snapshotUri"], msg["version"]))
    assert list(snapshot.columns) == ["x", "count", "city", "label"]
    assert snapshot["x"].tolist() == [0.5, 1.5, 2.5, 3.5, 10.0, 20.0, 30.0]
    assert snapshot["count"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert snapshot["label"].tolist() == ["a", "b", "a", "b", "b", "b", "a"]
    summary = store.read_json(msg["summaryUri"])
    assert summary["sources"] == msg["sources"] and summary["rows"] == 7
    profile = ReferenceProfile.from_json(store.read_bytes(msg["profileUri"]))
    assert profile.rows == 7 and profile.categorical["city"].categories["lille"] == 1


def test_reserved_columns_of_the_main_source_are_dropped_too(tmp_path: Path) -> None:
    window = production(tmp_path)
    code, msg = run(tmp_path, {"source": {"uri": window.as_uri(), "format": "parquet"}})
    assert code == 0 and msg["columns"] == 4
    assert msg["sources"] == [{"uri": window.as_uri(), "rows": 3}]


def test_the_version_follows_the_additional_rows(tmp_path: Path, reference: Path) -> None:
    alone = run(tmp_path, with_extra(reference))[1]["version"]
    first = production(tmp_path, "w1.parquet")
    same = production(tmp_path, "w2.parquet")  # same rows, another file
    other = production(tmp_path, "w3.parquet", label=["a", "a", "a"])
    v1 = run(tmp_path, with_extra(reference, first))[1]["version"]
    assert run(tmp_path, with_extra(reference, first))[1]["version"] == v1  # stable
    assert run(tmp_path, with_extra(reference, same))[1]["version"] == v1  # content-addressed
    assert len({alone, v1, run(tmp_path, with_extra(reference, other))[1]["version"]}) == 3
    # Twice the same window is twice the rows: a different snapshot.
    assert run(tmp_path, with_extra(reference, first, same))[1]["version"] != v1


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"city": None}, "spec.additionalSources[1] (missing column(s) city) must have the "
                         "columns of spec.source: x, count, city, label"),
        ({"zip": ["1", "2", "3"]}, "spec.additionalSources[1] (extra column(s) zip)"),
        ({"city": None, "town": ["a", "b", "c"]},
         "(missing column(s) city; extra column(s) town)"),
        ({"x": ["1.5", "oops", "2"]},
         "spec.additionalSources[1] column 'x' holds non-numeric value(s), e.g. 'oops'; "
         "spec.source has float64 there"),
        ({"count": [1.5, 2.0, 3.0]},
         "spec.additionalSources[1] column 'count' holds float64 values that are not whole "
         "numbers; spec.source has int64 there"),
        ({"label": [1.5, 2.5, 3.5]}, "column 'label' is float64; spec.source has str there"),
    ],
)  # fmt: skip
def test_additional_source_that_does_not_fit_fails_the_profile(
    tmp_path: Path, reference: Path, columns: dict[str, Any], expected: str
) -> None:
    good, bad = production(tmp_path, "good.parquet"), production(tmp_path, **columns)
    code, msg = run(tmp_path, with_extra(reference, good, bad))
    assert code == 1 and msg["ok"] is False and msg["reason"] == "SchemaMismatch"
    assert expected in msg["error"], msg["error"]
    assert not (tmp_path / "store").exists()


def test_safe_casts_into_a_text_column(tmp_path: Path, reference: Path) -> None:
    # Integer labels into a text target: one text form each ("1"), so they are cast.
    window = production(tmp_path, label=[1, 2, 1])
    code, msg = run(tmp_path, with_extra(reference, window))
    assert code == 0, msg
    snapshot = read_parquet(store_of(tmp_path).read_bytes(msg["snapshotUri"]))
    assert snapshot["label"].tolist()[-3:] == ["1", "2", "1"]


def test_unreadable_additional_source_names_it(tmp_path: Path, reference: Path) -> None:
    missing = (tmp_path / "gone.parquet").as_uri()
    code, msg = run(tmp_path, with_extra(reference, production(tmp_path), missing))
    assert code == 1 and msg["reason"] == "SourceUnreadable"
    assert msg["error"].startswith(f"spec.additionalSources[1]: cannot read {missing}")


def test_an_empty_additional_source_adds_nothing(tmp_path: Path, reference: Path) -> None:
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(production(tmp_path)).iloc[:0].to_parquet(empty)
    alone = run(tmp_path, with_extra(reference))[1]
    code, msg = run(tmp_path, with_extra(reference, empty))
    assert code == 0 and msg["version"] == alone["version"]
    assert msg["sources"][1] == {"uri": empty.as_uri(), "rows": 0}
