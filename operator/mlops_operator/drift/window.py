"""One DriftMonitor check, end to end: read the reference profile and the current window,
run `check_drift`. Blocking I/O and CPU work: the operator runs `run_check` in a worker
thread, never on its event loop.

The current window is either the model server's request samples
(`samples/<ns>/<deployment>/<version>/dt=YYYY-MM-DD/hour=HH/<UTC timestamp>-<hex>.parquet`,
see serving/sampling.py; only the hours the window covers are listed, and files of the
older flat layout directly under the version directory are read too) or a Dataset snapshot
(batch drift).
"""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pandas as pd

from ..artifacts import ArtifactError, Store, StoreUnavailable, paths
from ..artifacts.lifecycle import partitions
from ..artifacts.store import unreachable
from .check import check_drift
from .plan import CheckOutcome, CheckPlan, Failure
from .profile import ReferenceProfile

# The plan and outcome types live in the pure `drift.plan` (reconcile/ imports them from
# there); they stay importable from here.
__all__ = [
    "CheckOutcome",
    "CheckPlan",
    "Failure",
    "read_samples",
    "read_snapshot",
    "read_window",
    "run_check",
    "sample_time",
    "select_files",
    "widen_float32",
]


def sample_time(uri: str) -> datetime | None:
    """When a sample file was written, from its name; None for files that are not samples."""
    return paths.record_time(uri)


def read_window(
    store: Store, base: str, since: datetime | None, rows: int | None
) -> tuple[pd.DataFrame, int]:
    """The window of a records base (samples of a version, or labels), oldest first, read
    partition by partition (artifacts/lifecycle/partitions.py), and the number of files
    (sources) it came from."""
    table, files = partitions.read_window(store, base, since, rows)
    if table is None:
        return pd.DataFrame(), 0
    return widen_float32(table.to_pandas()), files


def select_files(uris: list[str], since: datetime | None) -> list[str]:
    """Sample files newest first, those written before `since` left out; other files ignored."""
    dated = [(t, u) for u in uris if (t := sample_time(u)) is not None]
    dated.sort(key=lambda pair: (pair[0], pair[1]), reverse=True)
    return [u for t, u in dated if since is None or t >= since]


def read_samples(store: Store, newest_first: list[str], rows: int | None) -> pd.DataFrame:
    """The newest `rows` sampled rows (all of them when rows is None), oldest first.

    Files are read newest first and reading stops once `rows` rows are in hand; within a
    file rows are in arrival order, so the oldest file read contributes its last rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    total = 0
    for uri in newest_first:
        table = pq.read_table(io.BytesIO(store.read_bytes(uri)))
        tables.append(table)
        total += table.num_rows
        if rows is not None and total >= rows:
            break
    if not tables:
        return pd.DataFrame()
    combined = pa.concat_tables(list(reversed(tables)), promote_options="default")
    if rows is not None and combined.num_rows > rows:
        combined = combined.slice(combined.num_rows - rows)
    return widen_float32(combined.to_pandas())


def widen_float32(frame: pd.DataFrame) -> pd.DataFrame:
    """Float32 sample columns as the decimals the clients sent, in float64.

    The server samples features in the signature's datatype, and an FP32 signature turns the
    5.1 a client sent into 5.099999904632568. Compared with a float64 reference profile every
    such value would sit just beside the reference's 5.1: on data with repeated values (iris
    has 22 distinct petal widths) the KS statistic of an unchanged distribution becomes the
    mass of the biggest tie (0.19 for iris petal width, p < 0.001 at 900 rows), a false alarm.
    The shortest decimal that rounds to the float32 is what the client sent whenever that had
    at most 7 significant digits; otherwise it is within float32 precision of it.
    """
    narrow = [c for c in frame.columns if frame[c].dtype in (np.float16, np.float32)]
    if not narrow:
        return frame
    frame = frame.copy()
    for column in narrow:
        frame[column] = frame[column].to_numpy().astype(str).astype(np.float64)
    return frame


def read_snapshot(store: Store, uri: str, rows: int | None) -> pd.DataFrame:
    """The newest `rows` rows of a Dataset version, either snapshot layout."""
    from ..artifacts.snapshots import read_tail

    return read_tail(store, uri, rows).to_pandas()


def run_check(store: Store, plan: CheckPlan) -> CheckOutcome:
    """Read, compare, report. Never raises for bad data: a failure is part of the outcome."""
    try:
        profile = ReferenceProfile.from_json(store.read_bytes(plan.reference_uri))
    except StoreUnavailable as err:
        return CheckOutcome(0, failure="store", message=str(err))
    except (ArtifactError, ValueError, KeyError) as err:
        return CheckOutcome(0, failure="reference", message=f"{plan.reference_uri}: {err}")
    files = 0
    try:
        if plan.source == "samples":
            window, files = read_window(store, plan.source_uri, plan.since, plan.rows)
        else:
            window = read_snapshot(store, plan.source_uri, plan.rows)
            files = 1
    except StoreUnavailable as err:
        return CheckOutcome(0, failure="store", message=str(err))
    except (ArtifactError, OSError, ValueError) as err:
        down = unreachable(err, plan.source_uri)
        if down is not None:
            return CheckOutcome(0, failure="store", message=str(down))
        return CheckOutcome(0, failure="window", message=f"{plan.source_uri}: {err}")
    except Exception as err:  # botocore's connection errors are no OSError
        down = unreachable(err, plan.source_uri)
        if down is None:
            raise
        return CheckOutcome(0, failure="store", message=str(down))
    samples = len(window)
    if samples < plan.min_samples:
        return CheckOutcome(samples, files)
    try:
        report = check_drift(
            profile,
            window,
            features=list(plan.features) if plan.features else None,
            numeric_test=plan.numeric_test,
            categorical_test=plan.categorical_test,
            p_value=plan.p_value,
            distance=plan.distance,
            psi=plan.psi,
            drift_share=plan.drift_share,
            correction=plan.correction,
        )
    except ValueError as err:
        return CheckOutcome(samples, files, failure="features", message=str(err))
    return CheckOutcome(samples, files, report=report)
