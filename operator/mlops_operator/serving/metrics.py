"""Prometheus series of one serving process, labelled with model and version.

Children are resolved once and cached, so the request path only does dict lookups and
increments. With several uvicorn workers the values go through prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR) and /metrics adds the workers up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:  # the operator reads the series names below and must not load numpy
    import numpy as np

REQUESTS = "mlops_serving_requests_total"
LATENCY = "mlops_serving_request_duration_seconds"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Symmetric, log-spaced: regression targets of unknown scale and sign.
_POSITIVE = (0.001, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 1e3, 1e4, 1e5, 1e6)
VALUE_BUCKETS = tuple(sorted({-v for v in _POSITIVE} | {0.0} | set(_POSITIVE)))
INFERENCE_ENDPOINTS = ("v2_infer", "v1_predict", "v1_records")
NONFINITE = "mlops_serving_nonfinite_total"
# The status of a prediction refused because the model's own output was not finite
# (nonfinite.py); canary analysis counts it against the model (analysis.py).
NONFINITE_OUTPUT_STATUS = 422
FEEDBACK_LABELS = "mlops_feedback_labels_total"
FEEDBACK_REJECTED = "mlops_feedback_rejected_total"
# Why a feedback request was refused: a bad body (400), another model (404), no label
# store configured (503), the label buffer full (503).
FEEDBACK_REJECT_REASONS = ("invalid", "unknown_model", "no_store", "full")


class ServingMetrics:
    def __init__(self, model: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.model, self.version = model, version
        labels = ("model", "version")
        r = self.registry
        self._requests = Counter(
            REQUESTS, "HTTP requests by endpoint and status code", (*labels, "endpoint", "code"),
            registry=r,
        )  # fmt: skip
        self._latency = Histogram(
            LATENCY, "Request handling time of inference endpoints", (*labels, "endpoint"),
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._rows = Counter(
            "mlops_serving_predicted_rows_total", "Rows predicted", labels, registry=r
        ).labels(model, version)
        self._classes = Counter(
            "mlops_serving_predictions_total", "Predicted class counts", (*labels, "class"),
            registry=r,
        )  # fmt: skip
        self._values = Histogram(
            "mlops_serving_prediction_value", "Distribution of regression predictions", labels,
            buckets=VALUE_BUCKETS, registry=r,
        ).labels(model, version)  # fmt: skip
        self.sampled_rows = Counter(
            "mlops_serving_sampled_rows_total", "Request rows queued for drift sampling", labels,
            registry=r,
        ).labels(model, version)  # fmt: skip
        self.sample_dropped_rows = Counter(
            "mlops_serving_sample_dropped_rows_total",
            "Sampled rows dropped because the sample queue was full or the write failed",
            labels, registry=r,
        ).labels(model, version)  # fmt: skip
        # Refused because of a non-finite number (nonfinite.py): requests whose input held
        # one (a 400), and predictions the model itself made NaN or infinite (a 422).
        nonfinite = Counter(
            NONFINITE, "Inference requests refused for a NaN or infinite number, by source",
            (*labels, "source"), registry=r,
        )  # fmt: skip
        self.nonfinite_inputs = nonfinite.labels(model, version, "input")
        self.nonfinite_outputs = nonfinite.labels(model, version, "output")
        self.sample_files = Counter(
            "mlops_serving_sample_files_total", "Sample files written", labels, registry=r
        ).labels(model, version)
        self.sample_write_errors = Counter(
            "mlops_serving_sample_write_errors_total", "Failed sample file writes", labels,
            registry=r,
        ).labels(model, version)  # fmt: skip
        # Ground truth received at the feedback endpoint (feedback.py).
        self.feedback_labels = Counter(
            FEEDBACK_LABELS, "Labels accepted by the feedback endpoint", labels, registry=r
        ).labels(model, version)
        self._feedback_rejected = Counter(
            FEEDBACK_REJECTED, "Feedback requests refused, by reason", (*labels, "reason"),
            registry=r,
        )  # fmt: skip
        self.feedback_dropped_labels = Counter(
            "mlops_feedback_dropped_labels_total",
            "Accepted labels lost because their write to the store failed", labels, registry=r,
        ).labels(model, version)  # fmt: skip
        self.feedback_files = Counter(
            "mlops_feedback_files_total", "Label files written", labels, registry=r
        ).labels(model, version)
        self.feedback_write_errors = Counter(
            "mlops_feedback_write_errors_total", "Failed label file writes", labels, registry=r
        ).labels(model, version)
        self.ready = Gauge(
            "mlops_serving_model_ready", "1 when the model is loaded and serving", labels,
            registry=r, multiprocess_mode="livemin",
        ).labels(model, version)  # fmt: skip
        for reason in FEEDBACK_REJECT_REASONS:  # exported at 0, so rate() works from the start
            self._feedback_rejected.labels(model, version, reason)
        self._request_children: dict[tuple[str, int], Any] = {}
        self._latency_children = {
            e: self._latency.labels(model, version, e) for e in INFERENCE_ENDPOINTS
        }
        self._class_children: dict[str, Any] = {}
        self._multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ

    def request(self, endpoint: str, code: int, seconds: float | None = None) -> None:
        child = self._request_children.get((endpoint, code))
        if child is None:
            child = self._requests.labels(self.model, self.version, endpoint, str(code))
            self._request_children[(endpoint, code)] = child
        child.inc()
        if seconds is not None:
            self._latency_children[endpoint].observe(seconds)

    def feedback_rejected(self, reason: str) -> None:
        self._feedback_rejected.labels(self.model, self.version, reason).inc()

    def predicted_classes(self, labels: np.ndarray) -> None:
        n = labels.shape[0]
        self._rows.inc(n)
        if n == 1:
            self._class_child(labels[0]).inc()
            return
        import numpy as np

        found, counts = np.unique(labels, return_counts=True)
        for label, count in zip(found.tolist(), counts.tolist(), strict=True):
            self._class_child(label).inc(count)

    def _class_child(self, label: Any) -> Any:
        key = (
            label
            if isinstance(label, str)
            else str(label.item() if hasattr(label, "item") else label)
        )
        child = self._class_children.get(key)
        if child is None:
            child = self._classes.labels(self.model, self.version, key)
            self._class_children[key] = child
        return child

    def predicted_values(self, values: np.ndarray) -> None:
        self._rows.inc(values.shape[0])
        for value in values.tolist():
            self._values.observe(value)

    def exposition(self) -> bytes:
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
