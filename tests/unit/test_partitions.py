"""Partition planning: every row read by exactly one partition, in order, in equal shares."""

from __future__ import annotations

import pytest

from mlops_operator.training.partitions import Slice, bounds, global_offsets, plan


def rows_of(counts: list[int], partitions: int) -> list[list[tuple[int, int]]]:
    """(file, row) of every row each partition reads."""
    return [
        [(s.file, r) for s in plan(counts, partitions, i) for r in range(s.start, s.stop or 0)]
        for i in range(partitions)
    ]


@pytest.mark.parametrize(
    ("counts", "partitions"),
    [([150], 2), ([150], 7), ([10, 0, 7, 33], 3), ([5, 5], 1), ([3], 5), ([1000, 1, 999], 16)],
)
def test_every_row_once_in_order_and_balanced(counts: list[int], partitions: int) -> None:
    per_partition = rows_of(counts, partitions)
    everything = [row for part in per_partition for row in part]
    expected = [(f, r) for f, n in enumerate(counts) for r in range(n)]
    assert everything == expected  # each row exactly once, in input order
    sizes = [len(part) for part in per_partition]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("counts", "partitions", "index", "slices"),
    [
        ([150], 2, 0, [Slice(0, 0, 75)]),
        ([150], 2, 1, [Slice(0, 75, 150)]),
        ([10, 10], 2, 1, [Slice(1, 0, 10)]),
        ([10, 10], 3, 1, [Slice(0, 6, 10), Slice(1, 0, 3)]),
        ([2], 4, 0, []),  # more partitions than rows: some read nothing
        ([None, None, None], 2, 0, [Slice(0)]),  # CSV: whole files
        ([None, None, None], 2, 1, [Slice(1), Slice(2)]),
        ([4, None], 2, 1, [Slice(1)]),  # any unknown count: whole files
    ],
)
def test_plan_table(
    counts: list[int | None], partitions: int, index: int, slices: list[Slice]
) -> None:
    assert plan(counts, partitions, index) == slices


def test_plan_is_the_same_in_every_pod() -> None:
    assert [plan([7, 9, 11], 4, i) for i in range(4)] == [plan([7, 9, 11], 4, i) for i in range(4)]


@pytest.mark.parametrize(("partitions", "index"), [(0, 0), (2, 2), (2, -1)])
def test_bad_index_is_refused(partitions: int, index: int) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        bounds(10, partitions, index)


def test_global_offsets() -> None:
    assert global_offsets([3, 4, 5]) == [0, 3, 7]
    assert global_offsets([3, None, 5]) == [0, 3, None]
