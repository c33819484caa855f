"""What a DriftMonitor check compares (`CheckPlan`) and what it found (`CheckOutcome`).

Plain data, no I/O: reconcile/ decides the plan and judges the outcome; `drift.window`
reads the store and runs the statistics in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ..api import driftmonitor as defaults

if TYPE_CHECKING:
    from .check import DriftReport

Failure = Literal["reference", "window", "features", "store"]  # store: unreachable


@dataclass(frozen=True)
class CheckPlan:
    """Everything a check needs, decided by reconcile/monitoring/resolve.py."""

    reference_uri: str
    source_uri: str  # a samples directory or a snapshot file
    source: Literal["samples", "snapshot"]
    rows: int | None = None  # newest rows kept
    since: datetime | None = None  # samples written at or after this moment
    features: tuple[str, ...] | None = None
    numeric_test: str = defaults.NUMERIC_TEST
    categorical_test: str = defaults.CATEGORICAL_TEST
    p_value: float = defaults.P_VALUE
    distance: float = defaults.DISTANCE
    psi: float = defaults.PSI
    drift_share: float = defaults.DRIFT_SHARE
    correction: str = defaults.CORRECTION
    min_samples: int = defaults.MIN_SAMPLES


@dataclass(frozen=True)
class CheckOutcome:
    samples: int
    files: int = 0
    report: DriftReport | None = None  # None: too few samples, or a failure
    failure: Failure | None = None
    message: str = ""

    @property
    def insufficient(self) -> bool:
        return self.failure is None and self.report is None
