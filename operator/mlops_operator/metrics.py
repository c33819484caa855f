"""Prometheus collectors of the operator, served on its /metrics endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

RECONCILES = Counter(
    "mlops_reconcile_total",
    "Reconciliations by kind and outcome (ok, retry, error, invalid).",
    ["kind", "outcome"],
)
RECONCILE_SECONDS = Histogram(
    "mlops_reconcile_duration_seconds",
    "Time spent in one reconciliation, by kind and outcome.",
    ["kind", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Outcomes that alerts are written against (charts/mlops-operator PrometheusRule).
TRAINING_FAILURES = Counter(
    "mlops_training_failures_total",
    "TrainingJobs that ended Failed (trainer error, deadline, acceptance), by namespace.",
    ["namespace"],
)
ROLLBACKS = Counter(
    "mlops_rollbacks_total",
    "Automatic rollbacks of a ModelDeployment, by namespace and deployment.",
    ["namespace", "deployment"],
)

OUTCOMES = ("ok", "retry", "error", "invalid")


def initialise(kinds: list[str]) -> None:
    """Create every (kind, outcome) series at zero, so rates work from the first scrape."""
    for kind in kinds:
        for outcome in OUTCOMES:
            RECONCILES.labels(kind, outcome)
            RECONCILE_SECONDS.labels(kind, outcome)


class Outcome:
    """Set `value` inside a `reconcile_timer` block to record how the reconcile ended."""

    def __init__(self) -> None:
        self.value = "ok"


@contextmanager
def reconcile_timer(kind: str) -> Iterator[Outcome]:
    outcome = Outcome()
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException as error:
        if outcome.value == "ok":
            outcome.value = _outcome_of(error)
        raise
    finally:
        RECONCILES.labels(kind, outcome.value).inc()
        RECONCILE_SECONDS.labels(kind, outcome.value).observe(time.perf_counter() - started)


def _outcome_of(error: BaseException) -> str:
    name = type(error).__name__
    if name == "TemporaryError":
        return "retry"
    if name == "PermanentError":
        return "invalid"
    return "error"
