"""The join of predictions with labels by id (performance/join.py), as tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_operator.artifacts.records import ID, LABEL, PREDICTION, TIME, encode_label
from mlops_operator.performance.join import coerce, join

T0 = pd.Timestamp("2024-05-01T12:00:00", tz="UTC")


def preds(rows: list[tuple[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            ID: pd.Series([r[0] for r in rows], dtype=object),
            PREDICTION: [r[1] for r in rows],
            TIME: [T0 + pd.Timedelta(seconds=i) for i in range(len(rows))],
        }
    )


def labels(rows: list[tuple[str, object, int]]) -> pd.DataFrame:
    """(id, label value, seconds after T0)."""
    return pd.DataFrame(
        {
            ID: pd.Series([r[0] for r in rows], dtype=object),
            LABEL: pd.Series([encode_label(r[1]) for r in rows], dtype=object),
            TIME: pd.Series([T0 + pd.Timedelta(seconds=r[2]) for r in rows]),
        }
    )


def as_dict(frame: pd.DataFrame) -> dict[str, object]:
    return dict(zip(frame[ID], frame[LABEL], strict=True))


CASES = [
    # name, predictions, labels, expected {id: label}, duplicates, unknown, invalid
    ("one each", [("a", 1), ("b", 0)], [("a", 1, 5), ("b", 1, 5)], {"a": 1, "b": 1}, 0, 0, 0),
    ("late label only for some", [("a", 1), ("b", 0)], [("b", 0, 100)], {"b": 0}, 0, 0, 0),
    ("corrected: latest time wins", [("a", 1)], [("a", 0, 10), ("a", 1, 20)], {"a": 1}, 0, 0, 0),
    (
        "correction in an earlier row but later time",
        [("a", 1)],
        [("a", 1, 30), ("a", 0, 20)],
        {"a": 1},
        0,
        0,
        0,
    ),
    ("same time: the later row wins", [("a", 1)], [("a", 0, 10), ("a", 2, 10)], {"a": 2}, 0, 0, 0),
    (
        "duplicate prediction ids: first wins",
        [("a", 1), ("a", 0), ("b", 2)],
        [("a", 1, 9)],
        {"a": 1},
        1,
        0,
        0,
    ),
    ("unknown id", [("a", 1)], [("zz", 1, 3), ("a", 1, 3)], {"a": 1}, 0, 1, 0),
    (
        "int classes: 1, 1.0 and '1'",
        [("a", 1), ("b", 1), ("c", 1)],
        [("a", 1, 1), ("b", 1.0, 1), ("c", "1", 1)],
        {"a": 1, "b": 1, "c": 1},
        0,
        0,
        0,
    ),
    (
        "int classes: 1.5, 'x', null and lists are invalid",
        [("a", 1), ("b", 1), ("c", 1), ("d", 1)],
        [("a", 1.5, 1), ("b", "x", 1), ("c", None, 1), ("d", [1], 1)],
        {},
        0,
        0,
        4,
    ),
    (
        "an invalid correction keeps the valid label",
        [("a", 2)],
        [("a", 2, 1), ("a", "two", 9)],
        {"a": 2},
        0,
        0,
        1,
    ),
    ("empty labels", [("a", 1)], [], {}, 0, 0, 0),
]


@pytest.mark.parametrize(
    ("name", "p", "lab", "expected", "duplicates", "unknown", "invalid"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_join_table(name, p, lab, expected, duplicates, unknown, invalid) -> None:
    result = join(preds(p), labels(lab) if lab else labels([]))
    assert as_dict(result.frame) == expected
    assert result.duplicate_ids == duplicates
    assert result.unknown_labels == unknown
    assert result.invalid_labels == invalid
    assert result.predictions == len(p)
    assert result.labels_read == len(lab)


def test_duplicate_id_keeps_the_first_prediction() -> None:
    result = join(preds([("a", 1), ("a", 0)]), labels([("a", 1, 1)]))
    assert result.frame[PREDICTION].tolist() == [1]


def test_labels_before_their_predictions_join_on_a_later_call() -> None:
    early = labels([("later", 1, 0), ("now", 0, 0)])
    first = join(preds([("now", 0)]), early)
    assert as_dict(first.frame) == {"now": 0}
    assert first.unknown_labels == 1
    assert first.unknown[ID].tolist() == ["later"]
    # the label files stay: the next check, with the prediction flushed, joins it
    second = join(preds([("now", 0), ("later", 1)]), early)
    assert as_dict(second.frame) == {"now": 0, "later": 1}
    assert second.unknown_labels == 0


def test_string_classes_compare_as_strings() -> None:
    p = preds([("a", "setosa"), ("b", "1"), ("c", "2"), ("d", "True")])
    lab = labels([("a", "setosa", 1), ("b", 1, 1), ("c", 2.0, 1), ("d", True, 1)])
    result = join(p, lab)
    assert as_dict(result.frame) == {"a": "setosa", "b": "1", "c": "2", "d": "True"}


def test_bool_predictions() -> None:
    p = preds([("a", True), ("b", False), ("c", True), ("d", True)])
    lab = labels([("a", True, 1), ("b", "false", 1), ("c", 1, 1), ("d", "maybe", 1)])
    result = join(p, lab)
    assert as_dict(result.frame) == {"a": True, "b": False, "c": True}
    assert result.invalid_labels == 1


def test_regression_labels_become_floats() -> None:
    p = preds([("a", 1.5), ("b", 2.0), ("c", 3.0), ("d", 0.0)])
    lab = labels([("a", 1, 1), ("b", "2.5", 1), ("c", "nope", 1), ("d", float("nan"), 1)])
    result = join(p, lab, task="regression")
    assert as_dict(result.frame) == {"a": 1.0, "b": 2.5}
    assert result.frame[LABEL].dtype == np.float64
    assert result.invalid_labels == 2


def test_many_distinct_regression_labels_take_the_vectorised_path() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=500)
    p = preds([(f"id{i}", float(v)) for i, v in enumerate(values)])
    lab_rows: list[tuple[str, object, int]] = [
        (f"id{i}", float(v) + 1, 1) for i, v in enumerate(values)
    ]
    lab_rows[3] = ("id3", "3.25", 1)  # a string, still a number
    lab_rows[4] = ("id4", "x", 1)
    result = join(p, labels(lab_rows), task="regression")
    got = as_dict(result.frame)
    assert got["id3"] == 3.25 and "id4" not in got
    assert got["id0"] == pytest.approx(values[0] + 1, abs=0)
    assert result.invalid_labels == 1


def test_empty_predictions_keep_every_label_apart() -> None:
    result = join(preds([]), labels([("a", 1, 1), ("a", 2, 2), ("b", 3, 1)]))
    assert result.frame.empty and LABEL in result.frame.columns
    assert result.unknown_labels == 2
    # no prediction tells the label type: they are kept as text
    assert as_dict(result.unknown) == {"a": "2", "b": "3"}


def test_both_empty() -> None:
    result = join(preds([]), labels([]))
    assert result.frame.empty
    assert (result.predictions, result.labels_read, result.unknown_labels) == (0, 0, 0)


def test_labels_without_an_id_are_invalid() -> None:
    lab = labels([("a", 1, 1)])
    lab.loc[1] = [None, encode_label(1), T0]
    result = join(preds([("a", 1)]), lab)
    assert as_dict(result.frame) == {"a": 1} and result.invalid_labels == 1


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (1, "int", 1),
        (1.0, "int", 1),
        ("1", "int", 1),
        (" 2 ", "int", 2),
        (True, "int", 1),
        (1.5, "int", None),
        ("1.5", "int", None),
        (float("inf"), "int", None),
        ({}, "int", None),
        (1, "str", "1"),
        (1.0, "str", "1"),
        (1.5, "str", "1.5"),
        ("a", "str", "a"),
        (None, "str", None),
        (1, "bool", True),
        (0.0, "bool", False),
        ("TRUE", "bool", True),
        (2, "bool", None),
        ("3.5", "float", 3.5),
        (True, "float", 1.0),
        (float("nan"), "float", None),
    ],
)
def test_coerce(value, kind, expected) -> None:
    assert coerce(value, kind) == expected


@settings(max_examples=60, deadline=None)
@given(
    pred_ids=st.lists(st.sampled_from("abcdefgh"), max_size=12),
    label_rows=st.lists(
        st.tuples(st.sampled_from("abcdefghij"), st.integers(0, 3), st.integers(0, 5)), max_size=15
    ),
)
def test_join_matches_a_plain_reference(pred_ids, label_rows) -> None:
    """Against a loop: first prediction per id, latest (time, then row) label per id."""
    p = preds([(i, 0) for i in pred_ids])
    result = join(p, labels(label_rows))
    latest: dict[str, tuple[int, int, int]] = {}
    for row, (i, value, t) in enumerate(label_rows):
        if i not in latest or (t, row) >= latest[i][1:]:
            latest[i] = (value, t, row)
    seen = list(dict.fromkeys(pred_ids))
    expected = {i: latest[i][0] for i in seen if i in latest}
    assert as_dict(result.frame) == expected
    assert list(result.frame[ID]) == [i for i in seen if i in latest]  # prediction order
    assert result.duplicate_ids == len(pred_ids) - len(seen)
    assert result.unknown_labels == len(set(latest) - set(seen))
    assert not math.isnan(result.invalid_labels)
