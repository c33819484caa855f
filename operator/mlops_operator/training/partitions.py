"""Partition planning: which rows of which input files one index of an Indexed Job reads.

Pure: every pod of a run computes the same plan from the same file list, so no coordinator is
needed and a retried index reads exactly the rows it read before.

- Files whose row counts are known (Parquet: from the footer) are cut into contiguous global row
  ranges of equal size (sizes differ by at most one row): partition i reads rows
  [floor(i*T/N), floor((i+1)*T/N)) of the files laid end to end.
- When any count is unknown (CSV: rows are only known once parsed), whole files are handed out
  instead: partition i reads files [floor(i*F/N), floor((i+1)*F/N)). Give CSV input at least
  as many files as partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Slice:
    """Rows [start, stop) of input file `file` (its position in the sorted file list);
    `stop` None: to the end of the file."""

    file: int
    start: int = 0
    stop: int | None = None


def bounds(total: int, partitions: int, index: int) -> tuple[int, int]:
    """[first, end) of partition `index` of `total` items cut into `partitions` equal shares."""
    if partitions < 1 or not 0 <= index < partitions:
        raise ValueError(f"index {index} is not one of {partitions} partitions")
    return total * index // partitions, total * (index + 1) // partitions


def plan(rows: Sequence[int | None], partitions: int, index: int) -> list[Slice]:
    """The slices partition `index` of `partitions` reads, in input order."""
    if any(count is None for count in rows):
        first, end = bounds(len(rows), partitions, index)
        return [Slice(file) for file in range(first, end)]
    counts = [int(c) for c in rows if c is not None]
    first, end = bounds(sum(counts), partitions, index)
    slices, offset = [], 0
    for file, count in enumerate(counts):
        start, stop = max(first, offset), min(end, offset + count)
        if start < stop:
            slices.append(Slice(file, start - offset, stop - offset))
        offset += count
    return slices


def global_offsets(rows: Sequence[int | None]) -> list[int | None]:
    """The global position of each file's first row (None once a count is unknown)."""
    offsets: list[int | None] = []
    total: int | None = 0
    for count in rows:
        offsets.append(total)
        total = None if total is None or count is None else total + count
    return offsets
