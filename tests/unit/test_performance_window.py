"""`run_performance_check` end to end on a file:// store, with sample and label files written
as the model server writes them (artifacts/records.py, artifacts/paths.py)."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn import metrics as skm

from mlops_operator.artifacts import Store, paths
from mlops_operator.artifacts.records import (
    ID,
    LABEL,
    PREDICTION,
    TIME,
    VERSION,
    encode_label,
    is_holdout,
    probability_column,
)
from mlops_operator.drift.profile import build_reference_profile
from mlops_operator.performance.plan import LabelsSource, PerformancePlan, WindowTarget
from mlops_operator.performance.window import run_performance_check

NS, DEP, VER = "team", "iris", "iris-v1"
T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def file_name(moment: datetime) -> str:
    return f"{moment.strftime('%Y%m%dT%H%M%S%f')}Z-{secrets.token_hex(4)}.parquet"


def write_samples(store: Store, frame: pd.DataFrame, moment: datetime) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    store.write_bytes(f"{paths.samples_dir(NS, DEP, VER)}/{file_name(moment)}", sink.getvalue())


def write_labels(store: Store, rows: list[tuple[str, object]], moment: datetime) -> None:
    table = pa.table(
        {
            ID: pa.array([r[0] for r in rows], pa.string()),
            LABEL: pa.array([encode_label(r[1]) for r in rows], pa.string()),
            TIME: pa.array([moment] * len(rows), pa.timestamp("us", tz="UTC")),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    store.write_bytes(f"{paths.labels_dir(NS, DEP)}/{file_name(moment)}", sink.getvalue())


def predictions(
    rng, n: int, start: int, moment: datetime, shift: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray]:
    """A binary classifier's sampled predictions with calibrated probabilities, and the truth."""
    x = rng.normal(shift, 1.0, size=(n, 2)).astype(np.float32)
    p1 = 1 / (1 + np.exp(-2 * x[:, 0]))
    truth = (rng.random(n) < p1).astype(np.int64)
    frame = pd.DataFrame(
        {
            "f0": x[:, 0],
            "f1": x[:, 1],
            ID: [f"req-{start + i:06d}" for i in range(n)],
            TIME: pd.Series([moment] * n, dtype="datetime64[us, UTC]"),
            VERSION: VER,
            PREDICTION: (p1 >= 0.5).astype(np.int64),
            probability_column(0): 1 - p1,
            probability_column(1): p1,
        }
    )
    return frame, truth


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path.as_uri())


def plan(store: Store, **extra) -> PerformancePlan:
    return PerformancePlan(
        namespace=NS,
        deployment=DEP,
        version=VER,
        samples_uri=store.uri(paths.samples_dir(NS, DEP, VER)),
        labels_uri=store.uri(paths.labels_dir(NS, DEP)),
        task="classification",
        **extra,
    )


def test_end_to_end(store) -> None:
    rng = np.random.default_rng(0)
    first, y1 = predictions(rng, 600, 0, T0)
    second, y2 = predictions(rng, 600, 600, T0 + timedelta(minutes=5))
    write_samples(store, first, T0)
    write_samples(store, second, T0 + timedelta(minutes=5))
    truth = dict(zip(list(first[ID]) + list(second[ID]), [*y1.tolist(), *y2.tolist()], strict=True))
    ids = list(truth)
    # labels in two files, one of them correcting an earlier label; one unknown id
    write_labels(
        store, [(i, 1 - truth[i]) for i in ids[:100]] + [("nobody", 1)], T0 + timedelta(minutes=1)
    )
    write_labels(store, [(i, truth[i]) for i in ids[:900]], T0 + timedelta(minutes=9))
    profile = build_reference_profile(
        pd.DataFrame({"y": rng.integers(0, 2, 2000)}), numeric=["y"], categorical=[]
    )
    store.write_bytes("datasets/profile.json", profile.to_json())
    window_dir = store.uri(paths.production_window(NS, "watch", "w1"))
    outcome = run_performance_check(
        store,
        plan(
            store,
            min_labeled=500,
            training_metrics={"accuracy": 0.9},
            reference_uri=store.uri("datasets/profile.json"),
            target="y",
            write_window=WindowTarget(window_dir, ("f0", "f1"), "y"),
        ),
    )
    assert outcome.failure is None, outcome.message
    assert (outcome.predictions, outcome.files, outcome.labels_read) == (1200, 2, 1001)
    assert (outcome.labeled, outcome.unknown_labels, outcome.duplicate_ids) == (900, 1, 0)
    both = pd.concat([first, second], ignore_index=True).iloc[:900]
    want = skm.accuracy_score([truth[i] for i in both[ID]], both[PREDICTION])
    assert outcome.realized["accuracy"] == pytest.approx(want, abs=1e-12)
    assert outcome.vs_training["accuracy"] == pytest.approx(want - 0.9)
    assert set(outcome.estimated) == {"accuracy", "f1", "precision", "recall"}
    assert abs(outcome.estimated["accuracy"] - want) < 0.05  # calibrated: within sampling error
    assert outcome.prediction_drift is not None and outcome.prediction_drift.test == "chisquare"
    assert outcome.verdict and outcome.estimate_calibrated

    written = outcome.window
    assert written is not None and written.train_rows + written.holdout_rows == 900
    assert written.start == T0 and written.end == T0 + timedelta(minutes=5)
    train = pd.read_parquet(f"{window_dir.removeprefix('file://')}/train.parquet")
    holdout = pd.read_parquet(f"{window_dir.removeprefix('file://')}/holdout.parquet")
    assert list(train.columns) == ["f0", "f1", "y"] and train["y"].dtype == np.int64
    assert len(holdout) == written.holdout_rows and 100 < len(holdout) < 260  # ~20 %
    # every row on its side of the holdout rule, in id order, with its true label
    rows = both.set_index(ID)
    for frame, held in ((train, False), (holdout, True)):
        chosen = sorted(i for i in rows.index if is_holdout(i) is held)
        assert frame["f0"].tolist() == pytest.approx(
            rows.loc[chosen, "f0"].astype(float).tolist(), rel=1e-6
        )
        assert frame["y"].tolist() == [truth[i] for i in chosen]


def test_writing_the_window_twice_gives_the_same_bytes(store) -> None:
    rng = np.random.default_rng(1)
    frame, y = predictions(rng, 300, 0, T0)
    write_samples(store, frame, T0)
    write_labels(store, list(zip(frame[ID], y.tolist(), strict=True)), T0 + timedelta(minutes=1))
    window_dir = store.uri(paths.production_window(NS, "watch", "w2"))
    p = plan(store, write_window=WindowTarget(window_dir, ("f1", "f0"), "target"))
    blobs = []
    for _ in range(2):
        assert run_performance_check(store, p).failure is None
        blobs.append(
            [store.read_bytes(f"{window_dir}/{f}") for f in ("train.parquet", "holdout.parquet")]
        )
    assert blobs[0] == blobs[1]


def test_labels_for_predictions_not_yet_flushed_join_on_the_next_check(store) -> None:
    rng = np.random.default_rng(2)
    frame, y = predictions(rng, 200, 0, T0)
    write_samples(store, frame.iloc[:100], T0)
    write_labels(store, list(zip(frame[ID], y.tolist(), strict=True)), T0 + timedelta(seconds=30))
    early = run_performance_check(store, plan(store, min_labeled=1))
    assert (early.labeled, early.unknown_labels) == (100, 100)
    write_samples(store, frame.iloc[100:], T0 + timedelta(minutes=1))
    later = run_performance_check(store, plan(store, min_labeled=1))
    assert (later.labeled, later.unknown_labels) == (200, 0)


def test_no_labels_still_estimates_and_gives_no_verdict(store) -> None:
    rng = np.random.default_rng(3)
    frame, _ = predictions(rng, 300, 0, T0)
    write_samples(store, frame, T0)
    outcome = run_performance_check(
        store, plan(store, write_window=WindowTarget(store.uri("production/x/y/z"), ("f0",), "y"))
    )
    assert outcome.failure is None and outcome.labeled == 0
    assert outcome.realized == {} and not outcome.verdict
    assert not outcome.estimate_calibrated
    assert outcome.estimated["accuracy"] > 0.5
    assert outcome.window is None


def test_below_min_labeled_no_realized_metrics(store) -> None:
    rng = np.random.default_rng(4)
    frame, y = predictions(rng, 50, 0, T0)
    write_samples(store, frame, T0)
    write_labels(store, list(zip(frame[ID], y.tolist(), strict=True)), T0)
    outcome = run_performance_check(store, plan(store, min_labeled=51))
    assert outcome.labeled == 50 and outcome.realized == {}


def test_bulk_labels_source_joins_too(store, tmp_path) -> None:
    rng = np.random.default_rng(5)
    frame, y = predictions(rng, 120, 0, T0)
    write_samples(store, frame, T0)
    bulk = tmp_path / "bulk"
    bulk.mkdir()
    pd.DataFrame({"rid": frame[ID], "truth": y}).to_csv(bulk / "day1.csv", index=False)
    outcome = run_performance_check(
        store,
        plan(
            store,
            min_labeled=100,
            labels_source=LabelsSource(bulk.as_uri(), "auto", "rid", "truth"),
        ),
    )
    assert outcome.failure is None and outcome.labeled == 120
    assert outcome.realized["accuracy"] == pytest.approx(skm.accuracy_score(y, frame[PREDICTION]))


@pytest.mark.parametrize(
    ("setup", "failure", "text"),
    [
        ("bad labels source", "labels", "no column 'truth'"),
        ("missing reference", "reference", "does not exist"),
        ("missing feature", "window", "features missing from the sampled predictions: nope"),
        ("samples without ids", "samples", "lack the mlops.id"),
    ],
)
def test_failures_are_in_the_outcome(store, tmp_path, setup, failure, text) -> None:
    rng = np.random.default_rng(6)
    frame, y = predictions(rng, 20, 0, T0)
    if setup == "samples without ids":
        frame = frame.drop(columns=[ID])
    write_samples(store, frame, T0)
    if setup != "samples without ids":
        write_labels(store, list(zip(frame[ID], y.tolist(), strict=True)), T0)
    bulk = tmp_path / "l.csv"
    bulk.write_text("id,label\na,1\n")
    extra = {
        "bad labels source": {"labels_source": LabelsSource(bulk.as_uri(), label_column="truth")},
        "missing reference": {"reference_uri": store.uri("datasets/none.json"), "target": "y"},
        "missing feature": {
            "write_window": WindowTarget(store.uri("production/a/b/c"), ("nope",), "y")
        },
        "samples without ids": {},
    }[setup]
    outcome = run_performance_check(store, plan(store, **extra))
    assert outcome.failure == failure
    assert text in outcome.message


def test_empty_store(store) -> None:
    outcome = run_performance_check(store, plan(store))
    assert outcome.failure is None
    assert (outcome.predictions, outcome.labeled, outcome.estimated) == (0, 0, {})


def test_regression_end_to_end(store) -> None:
    rng = np.random.default_rng(7)
    n = 300
    y = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "f0": rng.normal(size=n),
            ID: [f"r{i}" for i in range(n)],
            TIME: pd.Series([T0] * n, dtype="datetime64[us, UTC]"),
            VERSION: VER,
            PREDICTION: y + rng.normal(scale=0.3, size=n),
        }
    )
    write_samples(store, frame, T0)
    write_labels(store, [(f"r{i}", float(v)) for i, v in enumerate(y)], T0)
    profile = build_reference_profile(pd.DataFrame({"t": rng.normal(size=3000)}), ["t"], [])
    store.write_bytes("p.json", profile.to_json())
    outcome = run_performance_check(
        store,
        PerformancePlan(
            NS,
            DEP,
            VER,
            store.uri(paths.samples_dir(NS, DEP, VER)),
            store.uri(paths.labels_dir(NS, DEP)),
            "regression",
            min_labeled=10,
            reference_uri=store.uri("p.json"),
            target="t",
        ),
    )
    assert outcome.failure is None
    assert outcome.realized["rmse"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, frame[PREDICTION]))
    )
    assert outcome.estimated == {}
    assert outcome.prediction_drift is not None and outcome.prediction_drift.test == "ks"


def test_overconfident_probabilities_are_calibrated_on_the_labeled_rows(store) -> None:
    rng = np.random.default_rng(8)
    frame, y = predictions(rng, 4000, 0, T0)
    sharp = frame[probability_column(1)].to_numpy() ** 4
    sharp = sharp / (sharp + frame[probability_column(0)].to_numpy() ** 4)
    frame[probability_column(1)], frame[probability_column(0)] = sharp, 1 - sharp
    write_samples(store, frame, T0)
    raw = run_performance_check(store, plan(store))
    write_labels(store, list(zip(frame[ID][:2000], y[:2000].tolist(), strict=True)), T0)
    fitted = run_performance_check(store, plan(store, min_labeled=1))
    want = skm.accuracy_score(y, frame[PREDICTION])
    assert not raw.estimate_calibrated and fitted.estimate_calibrated
    assert abs(raw.estimated["accuracy"] - want) > 0.05
    assert abs(fitted.estimated["accuracy"] - want) < 0.03


def test_with_every_prediction_labeled_the_estimate_stays_label_free(store) -> None:
    """Calibrating on the very labels the realized value comes from would only repeat it:
    with nothing waiting for a label, the estimate is the served probabilities' own."""
    rng = np.random.default_rng(9)
    frame, y = predictions(rng, 2000, 0, T0)
    sharp = frame[probability_column(1)].to_numpy() ** 4
    sharp = sharp / (sharp + frame[probability_column(0)].to_numpy() ** 4)
    frame[probability_column(1)], frame[probability_column(0)] = sharp, 1 - sharp
    write_samples(store, frame, T0)
    write_labels(store, list(zip(frame[ID], y.tolist(), strict=True)), T0)
    raw = run_performance_check(store, plan(store, min_labeled=1))
    assert raw.labeled == 2000 and not raw.estimate_calibrated
    realized = raw.realized["accuracy"]
    assert abs(raw.estimated["accuracy"] - realized) > 0.05  # overconfident, and it shows
