"""Canary analysis input: traffic, errors and p99 latency read from a server's /metrics text.

Pure functions over Prometheus exposition text, so the ModelDeployment controller can
scrape two times and judge the window between them with `delta`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from .metrics import INFERENCE_ENDPOINTS, LATENCY, NONFINITE_OUTPUT_STATUS, REQUESTS

# Answers that count against the model: server faults, and the 422 of a prediction the
# model made NaN or infinite (a challenger that cannot score what the champion scores fails).
_MODEL_FAULT = str(NONFINITE_OUTPUT_STATUS)

_FAMILY_REQUESTS = REQUESTS.removesuffix("_total")


@dataclass(frozen=True)
class TrafficSummary:
    """Counts since the server started (or over a window, from `delta`).

    `errors` are 5xx answers of the inference endpoints and their 422s (the model's output was
    not finite); `client_errors` are their other 4xx.
    `buckets` is the cumulative latency histogram as (upper bound in seconds, count).
    """

    requests: int
    errors: int
    error_rate: float
    p99_ms: float | None
    client_errors: int = 0
    buckets: tuple[tuple[float, float], ...] = ()


def summarize(metrics_text: str, *, model_version: str | None = None) -> TrafficSummary:
    requests = errors = client_errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in (_FAMILY_REQUESTS, LATENCY):
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("endpoint") not in INFERENCE_ENDPOINTS:
                continue
            if model_version is not None and labels.get("version") != model_version:
                continue
            if sample.name == REQUESTS:
                code = labels.get("code", "")
                requests += sample.value
                if code.startswith("5") or code == _MODEL_FAULT:
                    errors += sample.value
                elif code.startswith("4"):
                    client_errors += sample.value
            elif sample.name == f"{LATENCY}_bucket":
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return _summary(requests, errors, client_errors, tuple(sorted(buckets.items())))


def delta(before: TrafficSummary, after: TrafficSummary) -> TrafficSummary:
    """The traffic between two scrapes; a counter that went down means the server restarted,
    and then `after` alone is the window."""
    if after.requests < before.requests:
        return after
    old = dict(before.buckets)
    buckets = tuple((b, max(0.0, c - old.get(b, 0.0))) for b, c in after.buckets)
    return _summary(
        after.requests - before.requests,
        after.errors - before.errors,
        after.client_errors - before.client_errors,
        buckets,
    )


def combine(summaries: list[TrafficSummary]) -> TrafficSummary:
    """Several pods' traffic as one: counters and histogram buckets add up."""
    buckets: dict[float, float] = {}
    for summary in summaries:
        for bound, count in summary.buckets:
            buckets[bound] = buckets.get(bound, 0.0) + count
    return _summary(
        sum(s.requests for s in summaries),
        sum(s.errors for s in summaries),
        sum(s.client_errors for s in summaries),
        tuple(sorted(buckets.items())),
    )


def _summary(
    requests: float, errors: float, client_errors: float, buckets: tuple[tuple[float, float], ...]
) -> TrafficSummary:
    return TrafficSummary(
        requests=int(requests),
        errors=int(errors),
        error_rate=errors / requests if requests else 0.0,
        p99_ms=_quantile(0.99, buckets),
        client_errors=int(client_errors),
        buckets=buckets,
    )


def _quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """Like PromQL histogram_quantile: linear within the bucket that holds the rank."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound * 1000.0
            if count == lower_count:
                return bound * 1000.0
            fraction = (rank - lower_count) / (count - lower_count)
            return (lower_bound + (bound - lower_bound) * fraction) * 1000.0
        lower_bound, lower_count = bound, count
    return lower_bound * 1000.0
