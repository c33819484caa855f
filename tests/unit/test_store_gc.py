"""Garbage collection decided as tables: what live objects reference is never chosen;
retention of a deployment's hour partitions; a monitor's window against retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.api.conditions import FALSE, TRUE
from mlops_operator.reconcile.storage import gc, retention, sweep

NOW = datetime(2025, 6, 30, 12, 30, tzinfo=UTC)
OLD = NOW - timedelta(days=10)
ROOT = "file:///var/lib/mlops/store"
SHA_A, SHA_B, SHA_C, SHA_M1, SHA_M2 = ("a" * 64, "b" * 64, "c" * 64, "1" * 64, "2" * 64)
GRACE = timedelta(days=2)


def obj(kind: str, name: str, spec: dict | None = None, status: dict | None = None) -> dict:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": "ml"},
            "spec": spec or {}, "status": status or {}}  # fmt: skip


LIVE = [
    # Dataset iris keeps versions A (current) and B (history); C fell out of its history.
    obj("Dataset", "iris", status={"version": SHA_A, "history": [{"version": SHA_B}]}),
    obj("ModelVersion", "iris-v1",
        spec={"artifact": {"uri": f"{ROOT}/models/ml/iris/{SHA_M1}/model.onnx",
                           "sha256": SHA_M1},
              "lineage": {"dataset": {"name": "old", "version": SHA_C},
                          "runUri": f"{ROOT}/runs/ml/train-iris/u1/result.json",
                          "productionWindow": {"uri": f"{ROOT}/production/ml/mon/w1"}}}),
    obj("ModelDeployment", "iris"),
    obj("DriftMonitor", "mon", status={"performance": {"window": {"uri": f"{ROOT}/production/ml/mon/w3"}}}),
]  # fmt: skip

# path, newest file's age; "keep"/"remove"/"grace" expected.
TABLE = [
    (f"datasets/ml/iris/{SHA_A}/data.parquet", OLD, "keep"),  # current version
    (f"datasets/ml/iris/{SHA_B}/data.parquet", OLD, "keep"),  # in history
    (f"datasets/ml/iris/{SHA_C}/data.parquet", OLD, "remove"),  # out of history, no lineage
    (f"datasets/ml/old/{SHA_C}/data.parquet", OLD, "keep"),  # a ModelVersion's lineage
    (f"datasets/ml/iris/rejected/{SHA_C}/summary.json", OLD, "remove"),  # old report
    (f"datasets/ml/iris/parts/{SHA_C}.parquet", OLD, "keep"),  # not GC's: partitioned parts
    (f"models/ml/iris/{SHA_M1}/model.onnx", OLD, "keep"),  # a live ModelVersion's artifact
    (f"models/ml/iris/{SHA_M2}/model.onnx", OLD, "remove"),  # its ModelVersion was deleted
    (f"models/ml/iris/{SHA_M2}/card.json", OLD, "remove"),  # the same entry
    ("runs/ml/train-iris/u1/result.json", OLD, "keep"),  # a lineage's run record
    ("runs/ml/train-iris/u0/result.json", OLD, "remove"),
    ("runs/ml/datasets/iris/iris-profile-1.json", OLD, "remove"),  # Job gone, result read
    ("runs/ml/datasets/iris/iris-profile-2.json", OLD, "keep"),  # its Job still exists
    ("runs/ml/datasets/iris/iris-profile-3.json", NOW - timedelta(hours=3), "grace"),
    ("production/ml/mon/w1/train.parquet", OLD, "keep"),  # a ModelVersion's lineage
    ("production/ml/mon/w2/train.parquet", OLD, "remove"),  # superseded window
    ("production/ml/mon/w3/train.parquet", OLD, "keep"),  # the monitor's latest
    ("evaluations/ml/iris/iris-v1.json", OLD, "keep"),
    ("evaluations/ml/iris/iris-v0.json", OLD, "remove"),  # ModelVersion deleted
    ("evaluations/ml/gone/iris-v1.json", OLD, "remove"),  # deployment deleted
    ("samples/ml/iris/iris-v1/dt=2025-06-20/hour=01/x.parquet", OLD, "keep"),
    ("samples/ml/iris/iris-v0/dt=2025-06-20/hour=01/x.parquet", OLD, "remove"),
    ("samples/ml/gone/iris-v1/dt=2025-06-20/hour=01/x.parquet", OLD, "remove"),
    ("labels/ml/iris/dt=2025-06-20/hour=01/x.parquet", OLD, "keep"),
    ("labels/ml/gone/dt=2025-06-20/hour=01/x.parquet", OLD, "remove"),
    ("predictions/ml/gone-batch/run1/part-00000.parquet", OLD, "remove"),
    ("somewhere/ml/else/file.bin", OLD, "keep"),  # unknown: never touched
]


def _choices() -> dict[str, gc.Choice]:
    files = [gc.FileRef(path, 100, moment) for path, moment, _ in TABLE]
    refs = gc.references("ml", LIVE, ["iris-profile-2"], ROOT)
    return {c.entry.path: c for c in gc.choose(gc.entries(files), refs, NOW, GRACE)}


@pytest.mark.parametrize(("path", "moment", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_reference_graph(path: str, moment: datetime, expected: str) -> None:
    choices = _choices()
    (choice,) = [c for unit, c in choices.items() if path == unit or path.startswith(unit + "/")]
    if expected == "remove":
        assert choice.remove and choice.reason == "unreferenced"
    else:
        assert not choice.remove, choice.reason
        if expected == "grace":
            assert "grace" in choice.reason


def test_nothing_referenced_is_ever_chosen() -> None:
    """Whatever the ages, an entry any live object names survives, with the reason."""
    files = [gc.FileRef(path, 1, OLD - timedelta(days=365)) for path, _, _ in TABLE]
    refs = gc.references("ml", LIVE, ["iris-profile-2"], ROOT)
    chosen = gc.choose(gc.entries(files), refs, NOW, timedelta(0))
    removed = {c.entry.path for c in chosen if c.remove}
    for body in LIVE:
        for text in gc._strings(body):
            if text.startswith(ROOT):
                rel = text[len(ROOT) + 1 :]
                assert not any(rel == r or rel.startswith(r + "/") for r in removed), rel
    assert f"datasets/ml/iris/{SHA_A}" not in removed and f"datasets/ml/old/{SHA_C}" not in removed
    # A path named by an object of another namespace is kept too.
    other = [obj("Dataset", "x", spec={"source": {"uri": f"{ROOT}/production/ml/mon/w2"}})]
    other[0]["metadata"]["namespace"] = "team-b"
    refs = gc.references("ml", LIVE + other, [], ROOT)
    kept = {c.entry.path for c in gc.choose(gc.entries(files), refs, NOW, timedelta(0))
            if not c.remove}  # fmt: skip
    assert "production/ml/mon/w2" in kept


def test_the_report_names_what_goes_and_why_the_rest_stays() -> None:
    text = gc.report("ml", list(_choices().values()), dry_run=True)
    first = text.splitlines()[0]
    assert first.startswith("namespace ml: would remove 12 of")
    assert f"would remove  model              {200:>9}  models/ml/iris/{SHA_M2}" in text
    assert "keep" in text and "Job iris-profile-2 still exists" in text


def _part(hour: int, size: int = 10 * retention.MIB, path: str = "") -> retention.Partition:
    start = datetime(2025, 6, 30, hour, tzinfo=UTC)
    return retention.Partition(path or f"samples/ml/iris/v1/dt=2025-06-30/hour={hour:02d}",
                               start, size, 3)  # fmt: skip


@pytest.mark.parametrize(
    ("age", "size", "expected"),
    [
        (None, None, []),
        (2, None, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),  # ended before 10:30
        (1, None, list(range(11))),  # 11:00 ended 12:00, 30 min < 1 h ago... kept; up to 10
        (24, 25, list(range(11))),  # 13 partitions of 10 MiB: the oldest go until <= 25 MiB
        (None, 1, list(range(12))),  # never the hour being written (12)
    ],
)
def test_retention_chooses_oldest_partitions(
    age: int | None, size: int | None, expected: list[int]
) -> None:
    parts = [_part(h) for h in range(13)]
    chosen = retention.expired(parts, retention.Limits(age, size), NOW)
    assert [p.hour.hour for p in chosen] == expected


def test_retention_limits_and_partitions_from_files() -> None:
    default = retention.Limits(720, None)
    assert retention.limits(None, default) == default
    body = {"spec": {"retention": {"maxSizeMib": 5}}}
    assert retention.limits(body, default) == retention.Limits(720, 5)
    files = [
        gc.FileRef("samples/ml/iris/v1/dt=2025-06-30/hour=01/a.parquet", 5, OLD),
        gc.FileRef("samples/ml/iris/v1/dt=2025-06-30/hour=01/b.parquet", 7, OLD),
        gc.FileRef("samples/ml/iris/v2/dt=2025-06-30/hour=02/a.parquet", 1, OLD),
        gc.FileRef("labels/ml/iris/dt=2025-06-30/hour=02/c.parquet", 2, OLD),
        gc.FileRef("samples/ml/iris/v1/20250629T230000000000Z-0a.parquet", 3, OLD),  # flat
        gc.FileRef("samples/ml/iris2/v1/dt=2025-06-30/hour=01/a.parquet", 9, OLD),  # other
    ]
    parts = retention.record_partitions(files, "ml", "iris")
    assert [(p.path, p.bytes, p.objects) for p in parts] == [
        ("samples/ml/iris/v1/20250629T230000000000Z-0a.parquet", 3, 1),
        ("samples/ml/iris/v1/dt=2025-06-30/hour=01", 12, 2),
        ("labels/ml/iris/dt=2025-06-30/hour=02", 2, 1),
        ("samples/ml/iris/v2/dt=2025-06-30/hour=02", 1, 1),
    ]


def test_a_window_past_retention_is_reported_naming_the_field() -> None:
    limit = retention.Limits(24, None)
    cond = retention.window_condition(3 * 86400, limit, "iris")
    assert cond is not None and cond.status == FALSE and cond.reason == "WindowBeyondRetention"
    assert "spec.window.durationSeconds (259200)" in cond.message and "24 h" in cond.message
    within = retention.window_condition(3600, limit, "iris")
    assert within is not None and within.status == TRUE
    assert retention.window_condition(3600, limit, None) is None  # a datasetRef monitor
    rows_only = retention.window_condition(None, limit, "iris")
    assert rows_only is not None and rows_only.status == TRUE


def test_sweep_plan_dry_run_removes_nothing_and_says_what_it_would() -> None:
    files = [gc.FileRef(path, 100, moment) for path, moment, _ in TABLE]
    refs = gc.references("ml", LIVE, ["iris-profile-2"], ROOT)
    settings = sweep.Settings(GRACE, retention.Limits(24, None), dry_run=True)
    plan = sweep.decide("ml", files, refs, [LIVE[2]], NOW, settings)
    assert plan.removals() == []
    assert plan.expired["iris"][0].path == "labels/ml/iris/dt=2025-06-20/hour=01"
    assert [n.reason for n in plan.notices] == ["RetentionApplied", "GarbageFound"]
    assert plan.notices[1].message.startswith("dry run: would remove 1 batch-output, ")
    assert plan.compact == ["labels/ml/iris", "samples/ml/iris/iris-v1"]
    assert plan.usage["model"] == (300, 3)
    real = sweep.decide(
        "ml", files, refs, [LIVE[2]], NOW, sweep.Settings(GRACE, retention.Limits(24, None))
    )
    assert len(real.removals()) == 12 + 2 and real.notices[1].reason == "GarbageCollected"
