"""Training's view of a Dataset version: the whole snapshot (`data.parquet` or a partitioned
snapshot's manifest, every file checked against its sha256), or a seeded uniform sample of at
most `max_rows` rows when the version is larger (TrainingJob `spec.maxRows`).

The sample is drawn without replacement from the row positions 0..rows-1 with numpy's
`default_rng(seed)` (Floyd's algorithm for small samples: memory of the sample, not of the
data) and kept in snapshot order, so the same version, cap and seed give the same rows. A
partitioned snapshot is read one part at a time and only the sampled rows of each are kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..artifacts.snapshots import Part, is_manifest, read_manifest
from ..artifacts.store import Store

SAMPLE_ATTR = "mlops.sample"


@dataclass(frozen=True)
class Loaded:
    frame: pd.DataFrame
    rows_available: int
    sampled: bool
    seed: int | None
    capped: bool = True  # a row cap was asked for

    def lineage(self) -> dict[str, int]:
        """What the ModelVersion's lineage.dataset records about the rows trained on (nothing
        without a cap, as before caps existed)."""
        if not self.capped:
            return {}
        record = {"rowsAvailable": self.rows_available}
        if self.sampled and self.seed is not None:
            record.update(rowsSampled=len(self.frame), sampleSeed=self.seed)
        return record


def sample_positions(total: int, max_rows: int, seed: int) -> np.ndarray:
    """`max_rows` distinct row positions of `total`, sorted; the same for the same inputs."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=max_rows, replace=False, shuffle=False))


def load(store: Store, uri: str, version: str, max_rows: int | None = None,
         seed: int = 0) -> Loaded:  # fmt: skip
    if is_manifest(uri):
        parts = read_manifest(store, uri, version)
    else:
        table = pq.read_table(io.BytesIO(store.read_verified(uri, version)))
        parts = [Part(uri, version, table.num_rows)]
    total = sum(p.rows for p in parts)
    sampled = max_rows is not None and total > max_rows
    wanted = sample_positions(total, max_rows, seed) if sampled and max_rows else None
    tables, offset = [], 0
    for part in parts:
        if part.uri == uri:  # the single data.parquet, read above
            piece = table
        else:
            if wanted is not None and not _any_in(wanted, offset, offset + part.rows):
                offset += part.rows
                continue
            piece = pq.read_table(io.BytesIO(store.read_verified(part.uri, part.sha256)))
        if wanted is not None:
            lo, hi = np.searchsorted(wanted, [offset, offset + part.rows])
            piece = piece.take(pa.array(wanted[lo:hi] - offset))
        tables.append(piece)
        offset += part.rows
    frame = pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame()
    loaded = Loaded(frame, total, sampled, seed if sampled else None, max_rows is not None)
    frame.attrs[SAMPLE_ATTR] = loaded.lineage()
    return loaded


def _any_in(sorted_positions: np.ndarray, lo: int, hi: int) -> bool:
    first = int(np.searchsorted(sorted_positions, lo))
    return first < len(sorted_positions) and int(sorted_positions[first]) < hi
