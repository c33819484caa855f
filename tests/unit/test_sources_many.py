"""A Dataset source of many files: a directory or a glob, read in sorted order as one frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_operator.api.dataset import DataSource
from mlops_operator.training.sources import SourceUnreadable, read_source


def parts(root: Path, fmt: str) -> pd.DataFrame:
    frame = pd.DataFrame({"x": range(10), "y": [f"v{i}" for i in range(10)]})
    (root / "day=2").mkdir(parents=True)
    for name, lo, hi in (("day=2/b", 6, 10), ("a", 0, 6)):
        piece = frame.iloc[lo:hi]
        target = root / f"{name}.{fmt}"
        piece.to_parquet(target, index=False) if fmt == "parquet" else piece.to_csv(
            target, index=False
        )
    (root / "_SUCCESS").write_text("")
    (root / ".hidden.parquet").write_text("not parquet")
    return frame


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_directory_is_every_file_below_it_in_order(tmp_path: Path, fmt: str) -> None:
    frame = parts(tmp_path, fmt)
    read = read_source(DataSource(uri=tmp_path.as_uri() + "/", format=fmt))  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(read, frame)


def test_a_glob_picks_the_matching_files(tmp_path: Path) -> None:
    frame = parts(tmp_path, "parquet")
    read = read_source(DataSource(uri=tmp_path.as_uri() + "/day=*/*.parquet", format="parquet"))
    pd.testing.assert_frame_equal(read, frame.iloc[6:].reset_index(drop=True))


def test_an_empty_directory_is_unreadable_naming_it(tmp_path: Path) -> None:
    uri = tmp_path.as_uri() + "/"
    with pytest.raises(SourceUnreadable, match=r"cannot read file:.*: no such file"):
        read_source(DataSource(uri=uri, format="parquet"))
