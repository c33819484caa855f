"""Prometheus collectors of the operator, served on its /metrics endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

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

# The controller core: how much the operator asks of the API server, and how far behind it is.
API_REQUESTS = Counter(
    "mlops_operator_api_requests_total",
    "Requests the operator's reconciles sent to the API server (watch streams not counted), "
    "by HTTP method and answer code.",
    ["method", "code"],
)
QUEUE_DEPTH = Gauge(
    "mlops_operator_workqueue_depth",
    "Objects waiting for a reconcile now (not those waiting on the clock).",
)
QUEUE_SCHEDULED = Gauge(
    "mlops_operator_workqueue_scheduled",
    "Objects with a wake-up scheduled (a pause, a deadline, an interval).",
)
# Leader election (kube/leadership.py): with two replicas, the sum over them is 1.
LEADER = Gauge(
    "mlops_operator_leader",
    "1 while this replica holds the leader Lease and reconciles; 0 while it stands by.",
)
LEADER_TRANSITIONS = Counter(
    "mlops_operator_leader_transitions_total",
    "Times this replica acquired or lost the leader Lease, by event (acquired, lost).",
    ["event"],
)
CACHED_OBJECTS = Gauge(
    "mlops_operator_cached_objects",
    "Objects held in the watch cache (our kinds and the children we label).",
)

# DriftMonitor. Gauges hold the last check of each monitor; a monitor's series are replaced
# when its feature set changes and removed when it is deleted (no stale series).
FEATURE_LABELS = ["namespace", "monitor", "feature", "test"]
DRIFT_STATISTIC = Gauge(
    "mlops_drift_statistic",
    "Drift statistic of a feature at the last check (KS D, chi-square, normalised "
    "Wasserstein, Jensen-Shannon distance or PSI, per `test`).",
    FEATURE_LABELS,
)
DRIFT_P_VALUE = Gauge(
    "mlops_drift_p_value",
    "p-value of a feature's test at the last check, corrected for multiple testing "
    "(tests with a p-value only: ks, chisquare).",
    FEATURE_LABELS,
)
FEATURE_DRIFTED = Gauge(
    "mlops_feature_drifted",
    "1 when the feature drifted at the last check, else 0.",
    FEATURE_LABELS,
)
DATASET_DRIFT_SHARE = Gauge(
    "mlops_dataset_drift_share",
    "Share of the monitored features that drifted at the last check.",
    ["namespace", "monitor"],
)
DRIFT_CHECKS = Counter(
    "mlops_drift_checks_total",
    "Drift checks run, by result (drift, no_drift, insufficient, error).",
    ["namespace", "monitor", "result"],
)
RETRAINS_TRIGGERED = Counter(
    "mlops_retrains_triggered_total",
    "Retraining TrainingJobs created by a DriftMonitor.",
    ["namespace", "monitor"],
)
RETRAIN_FAILURES = Counter(
    "mlops_retrain_failures_total",
    "Retraining TrainingJobs created by a DriftMonitor that ended Failed.",
    ["namespace", "monitor"],
)
CHECK_RESULTS = ("drift", "no_drift", "insufficient", "error")

# Model performance (a DriftMonitor with spec.performance), per served version.
PERFORMANCE_LABELS = ["namespace", "monitor", "version", "metric"]
MODEL_PERFORMANCE = Gauge(
    "mlops_model_performance",
    "Realized metric of the served model at the last check: its predictions joined with "
    "ground truth (absent below minLabeled).",
    PERFORMANCE_LABELS,
)
MODEL_PERFORMANCE_ESTIMATED = Gauge(
    "mlops_model_performance_estimated",
    "Label-free estimate of a classifier's metric from its served probabilities (CBPE).",
    PERFORMANCE_LABELS,
)
LABELED_PREDICTIONS = Gauge(
    "mlops_labeled_predictions",
    "Predictions of the window joined with a label at the last check.",
    ["namespace", "monitor", "version"],
)
PERFORMANCE_DEGRADED = Gauge(
    "mlops_model_performance_degraded",
    "1 while the served model's realized performance breaks a threshold, else 0.",
    ["namespace", "monitor"],
)


@dataclass(frozen=True)
class FeatureSeries:
    feature: str
    test: str
    statistic: float
    p_value: float | None
    drifted: bool


_drift_lock = threading.Lock()
_drift_series: dict[tuple[str, str], set[tuple[str, str]]] = {}


def has_drift_series(namespace: str, monitor: str) -> bool:
    with _drift_lock:
        return (namespace, monitor) in _drift_series


def record_drift(
    namespace: str, monitor: str, features: Iterable[FeatureSeries], share: float | None
) -> None:
    """Set a monitor's gauges to one check's results, dropping series of features it lacks."""
    features = list(features)
    current = {(f.feature, f.test) for f in features}
    with _drift_lock:
        previous = _drift_series.get((namespace, monitor), set())
        for feature, test in previous - current:
            _remove_feature(namespace, monitor, feature, test)
        for f in features:
            labels = (namespace, monitor, f.feature, f.test)
            DRIFT_STATISTIC.labels(*labels).set(f.statistic)
            FEATURE_DRIFTED.labels(*labels).set(1 if f.drifted else 0)
            if f.p_value is not None:
                DRIFT_P_VALUE.labels(*labels).set(f.p_value)
            else:
                _remove(DRIFT_P_VALUE, labels)
        if share is None:
            _remove(DATASET_DRIFT_SHARE, (namespace, monitor))
        else:
            DATASET_DRIFT_SHARE.labels(namespace, monitor).set(share)
        _drift_series[(namespace, monitor)] = current


def clear_drift(namespace: str, monitor: str) -> None:
    """No verdict now (too few samples, no target): remove the gauges, keep the counters."""
    record_drift(namespace, monitor, [], None)


def initialise_monitor(namespace: str, monitor: str) -> None:
    """Counter series at zero, so increase() sees the first check, retrain and failure."""
    for result in CHECK_RESULTS:
        DRIFT_CHECKS.labels(namespace, monitor, result)
    RETRAINS_TRIGGERED.labels(namespace, monitor)
    RETRAIN_FAILURES.labels(namespace, monitor)


def forget_monitor(namespace: str, monitor: str) -> None:
    """The monitor is gone: remove every series that carries its labels."""
    clear_drift(namespace, monitor)
    with _drift_lock:
        _drift_series.pop((namespace, monitor), None)
    for result in CHECK_RESULTS:
        _remove(DRIFT_CHECKS, (namespace, monitor, result))
    _remove(RETRAINS_TRIGGERED, (namespace, monitor))
    _remove(RETRAIN_FAILURES, (namespace, monitor))
    forget_performance(namespace, monitor)


_performance_lock = threading.Lock()
# (namespace, monitor) -> the (version, metric) label pairs of its series, and its version
_performance_series: dict[tuple[str, str], tuple[set[tuple[str, str, str]], str]] = {}


def record_performance(
    namespace: str,
    monitor: str,
    version: str,
    *,
    realized: dict[str, float],
    estimated: dict[str, float],
    labeled: int,
    degraded: bool | None,
) -> None:
    """Set a monitor's performance gauges to one check's results; series of another version
    or of metrics this check lacks are removed."""
    current = {("realized", version, m) for m in realized}
    current |= {("estimated", version, m) for m in estimated}
    with _performance_lock:
        previous, old_version = _performance_series.get((namespace, monitor), (set(), version))
        for kind, old, metric in previous - current:
            gauge = MODEL_PERFORMANCE if kind == "realized" else MODEL_PERFORMANCE_ESTIMATED
            _remove(gauge, (namespace, monitor, old, metric))
        if old_version != version:
            _remove(LABELED_PREDICTIONS, (namespace, monitor, old_version))
        for metric, value in realized.items():
            MODEL_PERFORMANCE.labels(namespace, monitor, version, metric).set(value)
        for metric, value in estimated.items():
            MODEL_PERFORMANCE_ESTIMATED.labels(namespace, monitor, version, metric).set(value)
        LABELED_PREDICTIONS.labels(namespace, monitor, version).set(labeled)
        if degraded is None:
            _remove(PERFORMANCE_DEGRADED, (namespace, monitor))
        else:
            PERFORMANCE_DEGRADED.labels(namespace, monitor).set(1 if degraded else 0)
        _performance_series[(namespace, monitor)] = (current, version)


def forget_performance(namespace: str, monitor: str) -> None:
    with _performance_lock:
        series, version = _performance_series.pop((namespace, monitor), (set(), ""))
    for kind, old, metric in series:
        gauge = MODEL_PERFORMANCE if kind == "realized" else MODEL_PERFORMANCE_ESTIMATED
        _remove(gauge, (namespace, monitor, old, metric))
    if version:
        _remove(LABELED_PREDICTIONS, (namespace, monitor, version))
    _remove(PERFORMANCE_DEGRADED, (namespace, monitor))


def _remove_feature(namespace: str, monitor: str, feature: str, test: str) -> None:
    for gauge in (DRIFT_STATISTIC, DRIFT_P_VALUE, FEATURE_DRIFTED):
        _remove(gauge, (namespace, monitor, feature, test))


def _remove(collector: Gauge | Counter, labels: tuple[str, ...]) -> None:
    with suppress(KeyError):
        collector.remove(*labels)


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


# The artifact store's lifecycle (handlers/storage.py; docs/storage.md).
STORE_BYTES = Gauge(
    "mlops_store_bytes",
    "Bytes in the artifact store by namespace and kind (dataset-version, model, samples, ...), "
    "as of the last sweep.",
    ["namespace", "kind"],
)
STORE_OBJECTS = Gauge(
    "mlops_store_objects",
    "Files in the artifact store by namespace and kind, as of the last sweep.",
    ["namespace", "kind"],
)
STORE_VOLUME_BYTES = Gauge(
    "mlops_store_volume_bytes",
    "The volume holding a file:// store: used and capacity bytes (absent on S3).",
    ["state"],
)
STORE_SWEEPS = Counter(
    "mlops_store_sweeps_total",
    "Store sweeps (compaction, retention, garbage collection) by outcome (ok, error).",
    ["outcome"],
)
STORE_REMOVED_OBJECTS = Counter(
    "mlops_store_removed_objects_total",
    "Files removed from the store by namespace, kind and cause (gc, retention, compaction).",
    ["namespace", "kind", "cause"],
)
STORE_FREED_BYTES = Counter(
    "mlops_store_freed_bytes_total",
    "Bytes freed in the store by namespace, kind and cause (gc, retention, compaction).",
    ["namespace", "kind", "cause"],
)
STORE_GC_PENDING_BYTES = Gauge(
    "mlops_store_gc_pending_bytes",
    "Bytes the last sweep found unreferenced and past the grace period but did not remove "
    "(dry run), by namespace and kind.",
    ["namespace", "kind"],
)
STORE_COMPACTED_FILES = Counter(
    "mlops_store_compacted_files_total",
    "Small record files folded into compacted files, by namespace.",
    ["namespace"],
)
