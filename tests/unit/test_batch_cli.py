"""`mlops-operator predict` in-process: partitions of real Parquet/CSV files scored by a model
exported as training exports it; together they hold every row once, with the model's own
predictions; a retried partition writes the same bytes; bad input names what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.model_selection import train_test_split
from tests.unit.test_compare_cli import Model, iris

from mlops_operator import cli
from mlops_operator.artifacts import Store, records


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    root = tmp_path_factory.mktemp("model")
    train, _ = train_test_split(iris(), test_size=0.3, random_state=0)
    return Model(Store((root / "store").as_uri()), "iris", "LogisticRegression", train, "target")


def input_files(root: Path, fmt: str = "parquet") -> tuple[str, pd.DataFrame]:
    """iris with a customer id, as three files (small row groups) in a directory."""
    frame = iris()
    frame["customer"] = [f"c{i:03d}" for i in range(len(frame))]
    folder = root / "input"
    folder.mkdir()
    for i, (lo, hi) in enumerate(((0, 40), (40, 41), (41, 150))):
        part = frame.iloc[lo:hi]
        if fmt == "parquet":
            part.to_parquet(folder / f"day-{i}.parquet", row_group_size=16, index=False)
        else:
            part.to_csv(folder / f"day-{i}.csv", index=False)
    (folder / "_SUCCESS").write_text("")  # ignored, as Spark's markers are
    return folder.as_uri() + "/", frame


def predict(
    tmp_path: Path, model: Model, source: str, index: int, partitions: int, *extra: str
) -> tuple[int, dict[str, Any]]:
    log = tmp_path / f"log-{index}"
    args = [
        "predict", "--name", "nightly", "--model", model.arg(),
        "--signature-json", json.dumps(model.signature), "--task", model.task,
        "--input", source, "--partitions", str(partitions), "--index", str(index),
        "--batch-rows", "10", "--output-uri", (tmp_path / "out").as_uri(),
        "--id-column", "customer", "--termination-log", str(log), *extra,
    ]  # fmt: skip
    code = cli.main(args)
    return code, json.loads(log.read_text())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_partitions_hold_every_row_once_with_the_models_predictions(
    tmp_path: Path, model: Model, fmt: str
) -> None:
    source, frame = input_files(tmp_path, fmt)
    extra = ["--format", fmt]
    reports = [predict(tmp_path, model, source, i, 2, *extra) for i in range(2)]
    assert [code for code, _ in reports] == [0, 0]
    out = tmp_path / "out"
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]
    # A directory any Parquet reader takes whole (the _results/ folder is skipped).
    scored = pd.read_parquet(out).sort_values("customer").reset_index(drop=True)
    assert sum(r["rows"] for _, r in reports) == len(scored) == 150
    assert scored[records.ID].is_unique and scored["customer"].is_unique
    assert list(scored["customer"]) == list(frame["customer"])
    labels, proba = model.predict(frame)
    assert list(scored[records.PREDICTION]) == [str(v) for v in labels]
    classes = [str(c) for c in model.pipeline.classes_]
    columns = [records.probability_column(c) for c in classes]
    assert np.allclose(scored[columns].to_numpy(), proba(frame[model.features]), atol=1e-5)
    assert set(scored[records.VERSION]) == {"iris-v1"}
    assert [c for c in scored.columns if c.startswith("mlops.")] == [
        records.ID,
        records.PREDICTION,
        *columns,
        records.VERSION,
    ]
    result = json.loads((out / "_results" / "part-00001.json").read_text())
    assert result == reports[1][1] and result["ok"] and result["index"] == 1


def test_a_retried_partition_writes_the_same_file(tmp_path: Path, model: Model) -> None:
    source, _ = input_files(tmp_path)
    _, first = predict(tmp_path, model, source, 1, 3)
    before = (tmp_path / "out" / "part-00001.parquet").read_bytes()
    _, again = predict(tmp_path, model, source, 1, 3)
    assert (tmp_path / "out" / "part-00001.parquet").read_bytes() == before
    assert first["sha256"] == again["sha256"] and first["rows"] == again["rows"] == 50
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "_results",
        "part-00001.parquet",
    ]
    ids = pq.read_table(tmp_path / "out" / "part-00001.parquet").column(records.ID).to_pylist()
    # Rows 50..99 of the files laid end to end: file 2 starts at global row 41.
    assert ids[0] == "nightly/2/9" and ids[-1] == "nightly/2/58"


def test_the_index_comes_from_the_indexed_job(
    tmp_path: Path, model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = input_files(tmp_path)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    log = tmp_path / "log"
    code = cli.main([
        "predict", "--name", "n", "--model", model.arg(), "--signature-json",
        json.dumps(model.signature), "--task", model.task, "--input", source,
        "--partitions", "3", "--output-uri", (tmp_path / "out").as_uri(),
        "--termination-log", str(log),
    ])  # fmt: skip
    assert code == 0 and json.loads(log.read_text())["index"] == 2
    assert (tmp_path / "out" / "part-00002.parquet").exists()


def test_empty_partition_writes_no_file(tmp_path: Path, model: Model) -> None:
    frame = iris().iloc[:2]
    frame["customer"] = ["a", "b"]
    frame.to_parquet(tmp_path / "two.parquet")
    code, report = predict(tmp_path, model, (tmp_path / "two.parquet").as_uri(), 0, 4)
    assert code == 0 and report["rows"] == 0 and report["outputUri"] is None
    assert not list((tmp_path / "out").glob("*.parquet"))


@pytest.mark.parametrize(
    ("change", "reason", "needle"),
    [
        ({"--id-column": "account"}, "InvalidInput", "spec.idColumns: account"),
        ({"--input": "missing/"}, "SourceUnreadable", "no parquet files match"),
        ({"--model": "sha"}, "ChecksumMismatch", "sha256"),
        ({"--index": "5"}, "InvalidInput", "index 5 is not one of 2 partitions"),
    ],
)
def test_bad_input_fails_naming_it(
    tmp_path: Path, model: Model, change: dict[str, str], reason: str, needle: str
) -> None:
    source, _ = input_files(tmp_path)
    extra: list[str] = []
    index = 0
    if "--id-column" in change:
        extra = ["--id-column", change["--id-column"]]
    if "--input" in change:
        source = (tmp_path / change["--input"]).as_uri() + "/"
    if "--index" in change:
        index = int(change["--index"])
    if "--model" in change:
        model = _with_sha(model, "0" * 64)
    code, report = predict(tmp_path, model, source, index, 2, *extra)
    assert code == 1 and report["ok"] is False
    assert report["reason"] == reason and needle in report["error"]
    if reason != "InvalidInput" or "--index" not in change:
        saved = json.loads((tmp_path / "out" / "_results" / "part-00000.json").read_text())
        assert saved == report


def _with_sha(model: Model, sha: str) -> Any:
    class Wrong:
        def __init__(self) -> None:
            self.signature, self.task = model.signature, model.task

        def arg(self) -> str:
            return model.arg(sha)

    return Wrong()
