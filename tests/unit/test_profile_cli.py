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
    assert profile.categorical == {}  # the target is not a feature: no drift on it


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
    assert list(profile.numeric) == ["income"] and list(profile.categorical) == ["city"]
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
