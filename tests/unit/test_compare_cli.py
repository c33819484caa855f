"""`mlops-operator compare` in-process: two models exported as training exports them, scored on
the same rows, against scikit-learn's own numbers; every bad input gives a clear error result."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from mlops_operator import cli
from mlops_operator.api.trainingjob import TrainingJobSpec, task_of
from mlops_operator.artifacts import Store, paths, records
from mlops_operator.artifacts.store import sha256_hex
from mlops_operator.training import compare_cli, train_cli
from mlops_operator.training.estimators import build_pipeline
from mlops_operator.training.export import export, signature


@pytest.fixture(autouse=True)
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("MLOPS_STORE", (tmp_path / "store").as_uri())
    return Store.from_env()


def ids(n: int, holdout: bool, start: int = 0) -> list[str]:
    """n prediction ids that fall (or not) in the comparison holdout."""
    found: list[str] = []
    i = start
    while len(found) < n:
        if records.is_holdout(f"req-{i}") == holdout:
            found.append(f"req-{i}")
        i += 1
    return found


def iris() -> pd.DataFrame:
    frame = datasets.load_iris(as_frame=True).frame
    frame.columns = ["sl", "sw", "pl", "pw", "target"]
    names = datasets.load_iris().target_names
    frame["target"] = [str(names[i]) for i in frame["target"]]
    # A categorical feature, so both models also take a BYTES input.
    frame["site"] = np.where(np.arange(len(frame)) % 3 == 0, "north", "south")
    return frame


def diabetes() -> pd.DataFrame:
    frame = datasets.load_diabetes(as_frame=True).frame
    return frame.rename(columns={"target": "progression"})


class Model:
    """A model fitted and published as the trainer does: artifact + card under models/."""

    def __init__(
        self, store: Store, name: str, estimator: str, train: pd.DataFrame, target: str,
        prefer: str = "auto", namespace: str = "ml", **params: Any,
    ) -> None:  # fmt: skip
        spec = TrainingJobSpec.model_validate(
            {"datasetRef": {"name": "d"}, "model": name, "estimator": estimator,
             "target": target, "hyperparameters": params}
        )  # fmt: skip
        x, y, features, numeric = train_cli.prepare(train, spec, "d")
        self.task = task_of(estimator)
        self.pipeline = build_pipeline(spec, numeric, [f for f in features if f not in numeric])
        self.pipeline.fit(x, y)
        classes = (
            [str(c) for c in self.pipeline.classes_] if self.task == "classification" else None
        )
        self.signature = signature(features, numeric, self.task, classes).wire()
        exported = export(self.pipeline, x, features, numeric, self.task, prefer=prefer)
        self.format, self.sha = exported.format, sha256_hex(exported.data)
        self.uri, _ = store.write_bytes(
            paths.model_file(namespace, name, self.sha, exported.format), exported.data
        )
        card = {"signature": self.signature, "format": exported.format, "sha256": self.sha}
        store.write_json(paths.model_card(namespace, name, self.sha), card)
        self.features, self.numeric, self.name = features, numeric, name

    def arg(self, sha: str | None = None) -> str:
        return f"{self.name}-v1={self.uri}@{sha or self.sha}"

    def predict(self, frame: pd.DataFrame) -> Any:
        x = frame[self.features].copy()
        for column in self.numeric:
            x[column] = x[column].astype(np.float32).astype(np.float64)
        return self.pipeline.predict(x), getattr(self.pipeline, "predict_proba", None)


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    log = tmp_path / "termination-log"
    code = compare_cli.main([*args, "--termination-log", str(log)])
    raw = log.read_bytes()
    assert len(raw) < 4096
    return code, json.loads(raw)


def make_classifiers(root: Path) -> tuple[Model, Model, Path, pd.DataFrame]:
    """An ONNX champion and a weaker skops challenger, and a production holdout file."""
    store = Store((root / "store").as_uri())
    frame = iris()
    train, test = train_test_split(frame, test_size=0.4, random_state=0, stratify=frame["target"])
    champion = Model(store, "iris", "LogisticRegression", train, "target")
    challenger = Model(
        store, "iris", "DecisionTreeClassifier", train, "target", prefer="skops", max_depth=1
    )
    assert (champion.format, challenger.format) == ("onnx", "skops")
    holdout = test.reset_index(drop=True)
    holdout[records.ID] = ids(len(holdout), holdout=True)
    # Rows of the window's train part, passed by mistake, are left out.
    leaked = train.iloc[:10].reset_index(drop=True)
    leaked[records.ID] = ids(10, holdout=False)
    path = root / "holdout.parquet"
    pd.concat([holdout, leaked], ignore_index=True).to_parquet(path)
    return champion, challenger, path, holdout


@pytest.fixture(scope="module")
def classifiers(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Model, Model, Path, pd.DataFrame]:
    return make_classifiers(tmp_path_factory.mktemp("classifiers"))


def sklearn_score(model: Model, rows: pd.DataFrame, metric: str) -> float:
    y, (pred, proba) = rows["target"], model.predict(rows)
    if metric == "roc_auc":
        classes = list(model.pipeline.classes_)
        return float(
            skm.roc_auc_score(y, proba(rows[model.features]), multi_class="ovr", labels=classes)
        )
    scorer = {"accuracy": skm.accuracy_score, "f1": skm.f1_score,
              "precision": skm.precision_score, "recall": skm.recall_score}[metric]  # fmt: skip
    extra = {} if metric == "accuracy" else {"average": "macro", "zero_division": 0}
    return float(scorer(y, pred, **extra))


def classify(champion: Model, challenger: Model, data: Path, *extra: str) -> list[str]:
    return [
        "--champion", champion.arg(), "--challenger", challenger.arg(),
        "--data", data.as_uri(), "--target", "target", "--task", "classification", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("metric", ["accuracy", "f1", "precision", "recall", "roc_auc"])
def test_both_models_scored_on_the_production_holdout_as_scikit_learn_scores_them(
    tmp_path: Path, classifiers: tuple[Model, Model, Path, pd.DataFrame], metric: str
) -> None:
    champion, challenger, data, holdout = classifiers
    result_uri = paths.under(
        Store.from_env().root, paths.evaluation_result("ml", "iris", "iris-v2")
    )
    code, msg = run(
        tmp_path, *classify(champion, challenger, data, "--metric", metric,
                            "--result-uri", result_uri),
    )  # fmt: skip
    assert code == 0 and msg["ok"], msg
    expected = {model: sklearn_score(model, holdout, metric) for model in (champion, challenger)}
    assert msg["champion"]["value"] == pytest.approx(expected[champion], abs=1e-5)
    assert msg["challenger"]["value"] == pytest.approx(expected[challenger], abs=1e-5)
    assert msg["champion"]["value"] > msg["challenger"]["value"]  # a depth-1 tree loses
    assert msg["champion"]["name"] == "iris-v1" and msg["challenger"]["sha256"] == challenger.sha
    assert msg["metric"] == metric and msg["greaterIsBetter"] is True
    assert msg["rows"] == len(holdout) == 60
    assert msg["data"] == {"uri": data.as_uri(), "kind": "production-holdout"}
    assert msg["finishedAt"].endswith("Z")
    assert Store.from_env().read_json(result_uri) == msg  # where the operator reads it


def test_regression_lower_is_better_and_the_command_is_registered(
    tmp_path: Path, store_root: Store
) -> None:
    frame = diabetes()
    train, test = frame.iloc[:300], frame.iloc[300:].reset_index(drop=True)
    champion = Model(store_root, "dia", "Ridge", train, "progression", alpha=1.0)
    challenger = Model(
        store_root, "dia", "DecisionTreeRegressor", train, "progression", max_depth=1
    )
    test.to_parquet(tmp_path / "holdout.parquet")  # no mlops.id: used whole
    log = tmp_path / "log"
    code = cli.main(
        ["compare", "--champion", champion.arg(), "--challenger", challenger.arg(),
         "--data", (tmp_path / "holdout.parquet").as_uri(), "--target", "progression",
         "--task", "regression", "--metric", "rmse", "--termination-log", str(log)]
    )  # fmt: skip
    msg = json.loads(log.read_text())
    assert code == 0, msg
    assert msg["greaterIsBetter"] is False and msg["rows"] == len(test)
    for role, model in (("champion", champion), ("challenger", challenger)):
        pred, _ = model.predict(test)
        rmse = math.sqrt(skm.mean_squared_error(test["progression"], pred))
        assert msg[role]["value"] == pytest.approx(rmse, rel=1e-5)
    assert msg["champion"]["value"] < msg["challenger"]["value"]


@pytest.mark.parametrize(
    ("split", "test_size"),
    [
        ({"method": "holdout", "testSize": 0.3, "seed": 7}, 0.3),
        ({"method": "kfold", "seed": 7}, 0.2),
    ],
)
def test_the_holdout_of_a_snapshot_is_trainings_split(
    tmp_path: Path, store_root: Store, split: dict[str, Any], test_size: float
) -> None:
    frame = iris()
    champion = Model(store_root, "iris", "LogisticRegression", frame, "target")
    challenger = Model(store_root, "iris", "KNeighborsClassifier", frame, "target")
    snapshot = tmp_path / "data.parquet"
    frame.to_parquet(snapshot)
    args = classify(champion, challenger, snapshot, "--metric", "accuracy")
    code, msg = run(
        tmp_path, *args, "--holdout-of-snapshot", "--split-json", json.dumps(split),
        "--data-sha256", sha256_hex(snapshot.read_bytes()),
    )  # fmt: skip
    assert code == 0, msg
    assert msg["data"]["kind"] == "dataset-holdout"
    _, test = train_test_split(
        np.arange(len(frame)), test_size=test_size, random_state=7, stratify=frame["target"]
    )
    rows = frame.iloc[np.sort(test)]
    assert msg["rows"] == len(rows) == math.ceil(len(frame) * test_size)
    pred, _ = champion.predict(rows)
    assert msg["champion"]["value"] == pytest.approx(skm.accuracy_score(rows["target"], pred))


def test_the_signature_can_be_given_instead_of_the_card(tmp_path: Path) -> None:
    champion, challenger, data, _ = make_classifiers(tmp_path)
    card = champion.uri.rsplit("/", 1)[0] + "/card.json"
    Path(card.removeprefix("file://")).unlink()
    args = classify(champion, challenger, data, "--metric", "accuracy")
    code, msg = run(tmp_path, *args)
    assert code == 1 and msg["reason"] == "InvalidInput"
    assert "no signature given and no readable model card" in msg["error"]
    assert "--champion-signature" in msg["error"]
    code, msg = run(tmp_path, *args, "--champion-signature", json.dumps(champion.signature))
    assert code == 0, msg


def test_bad_inputs_give_a_clear_error_result(
    tmp_path: Path, classifiers: tuple[Model, Model, Path, pd.DataFrame]
) -> None:
    champion, challenger, data, holdout = classifiers

    def error(*args: str) -> tuple[str, str]:
        code, msg = run(tmp_path, *args)
        assert code == 1 and msg["ok"] is False, msg
        return msg["reason"], msg["error"]

    base = classify(champion, challenger, data, "--metric", "accuracy")
    # A target column the data lacks
    reason, text = error(*["label" if a == "target" else a for a in base])
    assert reason == "InvalidInput" and "--target 'label' is not a column of --data" in text
    # The challenger's artifact is not the one recorded
    wrong = [*base[:2], "--challenger", challenger.arg(sha="0" * 64), *base[4:]]
    reason, text = error(*wrong)
    assert reason == "ChecksumMismatch" and "challenger iris-v1" in text
    reason, text = error(*wrong, "--challenger-signature", json.dumps(challenger.signature))
    assert reason == "ChecksumMismatch" and "refusing to load it" in text
    # An artifact that is gone
    gone = challenger.arg().replace("model.skops", "gone.skops")
    reason, text = error(*base[:2], "--challenger", gone, *base[4:])
    assert reason == "ArtifactMissing"
    # An unknown metric, and one of the other task
    reason, text = error(*base[:-2], "--metric", "auc")
    assert reason == "InvalidInput" and "invalid choice: 'auc'" in text
    reason, text = error(*base[:-2], "--metric", "rmse")
    assert reason == "InvalidInput" and "do not apply to classification" in text
    # No rows, or none in the holdout
    empty = tmp_path / "empty.parquet"
    holdout.iloc[:0].to_parquet(empty)
    reason, text = error(*classify(champion, challenger, empty, "--metric", "accuracy"))
    assert reason == "InvalidInput" and "no labeled rows to compare on" in text
    only_train = tmp_path / "train.parquet"
    holdout.assign(**{records.ID: ids(len(holdout), holdout=False)}).to_parquet(only_train)
    reason, text = error(*classify(champion, challenger, only_train, "--metric", "accuracy"))
    assert "no labeled rows to compare on" in text
    # A feature the models take is missing; a malformed model argument
    holdout.drop(columns=["site"]).to_parquet(tmp_path / "nosite.parquet")
    args = classify(champion, challenger, tmp_path / "nosite.parquet", "--metric", "accuracy")
    assert "lacks the champion's feature column(s): site" in error(*args)[1]
    assert "must be NAME=URI@SHA256" in error(*base[:1], "iris", *base[2:])[1]
    # The data is not Parquet, or not the snapshot recorded
    (tmp_path / "junk.parquet").write_text("nope")
    args = classify(champion, challenger, tmp_path / "junk.parquet", "--metric", "accuracy")
    assert "is not a Parquet file" in error(*args)[1]
    assert error(*base, "--data-sha256", "1" * 64)[0] == "ChecksumMismatch"
    # A metric that cannot be computed on the rows: roc_auc on one class
    one_class = tmp_path / "one.parquet"
    holdout[holdout["target"] == "setosa"].to_parquet(one_class)
    args = classify(champion, challenger, one_class, "--metric", "roc_auc")
    reason, text = error(*args)
    assert reason == "EvaluationError" and "roc_auc of champion" in text


def test_a_partitioned_snapshot_is_read_through_its_manifest(
    tmp_path: Path, store_root: Store
) -> None:
    """The operator names a version's data.parquet; a partitioned version has a manifest and
    parts instead, and the comparison scores the same rows either way."""
    from mlops_operator.artifacts.snapshots import manifest_bytes

    frame = iris()
    champion = Model(store_root, "iris", "LogisticRegression", frame, "target")
    challenger = Model(store_root, "iris", "KNeighborsClassifier", frame, "target")
    whole = tmp_path / "whole" / "data.parquet"
    whole.parent.mkdir()
    frame.to_parquet(whole)
    version = tmp_path / "parted"
    (version / "parts").mkdir(parents=True)
    parts = []
    for i, chunk in enumerate((frame.iloc[:70], frame.iloc[70:])):
        path = version / "parts" / f"part-{i}.parquet"
        chunk.to_parquet(path)
        parts.append({"file": f"parts/part-{i}.parquet",
                      "sha256": sha256_hex(path.read_bytes()), "rows": len(chunk)})  # fmt: skip
    (version / "manifest.json").write_bytes(manifest_bytes([], parts))
    split = ["--holdout-of-snapshot", "--metric", "accuracy"]
    code_whole, msg_whole = run(tmp_path, *classify(champion, challenger, whole, *split))
    code_parted, msg_parted = run(
        tmp_path, *classify(champion, challenger, version / "data.parquet", *split)
    )
    assert code_whole == code_parted == 0, (msg_whole, msg_parted)
    assert msg_parted["rows"] == msg_whole["rows"]
    assert msg_parted["champion"]["value"] == msg_whole["champion"]["value"]
    assert msg_parted["challenger"]["value"] == msg_whole["challenger"]["value"]
