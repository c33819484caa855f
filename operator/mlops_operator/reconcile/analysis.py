"""Canary analysis gates: judge the canary's own traffic (and an optional PromQL value).

The traffic summary covers the canary pods' lifetime so far (their counters start with the
pods), so each gate looks at everything the new version has answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..api.modeldeployment import Analysis
from ..serving.analysis import TrafficSummary
from . import reasons

Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    message: str


@dataclass(frozen=True)
class PrometheusReading:
    """The gate query's result: a value, or why there is none."""

    value: float | None = None
    error: str | None = None


def judge(
    gates: Analysis, traffic: TrafficSummary | None, prometheus: PrometheusReading | None = None
) -> Judgement:
    if traffic is None:
        return Judgement(
            "inconclusive", reasons.ANALYSIS_INCONCLUSIVE, "no canary pod answered /metrics"
        )
    seen = f"{traffic.requests} requests, {traffic.errors} errors"
    if traffic.requests < gates.min_request_count:
        return Judgement(
            "inconclusive",
            reasons.ANALYSIS_INCONCLUSIVE,
            f"{seen}; waiting for minRequestCount {gates.min_request_count}",
        )
    failures = []
    if gates.max_error_rate is not None and traffic.error_rate > gates.max_error_rate:
        failures.append(
            f"error rate {traffic.error_rate:.4f} > maxErrorRate {gates.max_error_rate}"
        )
    if (
        gates.max_p99_latency_ms is not None
        and traffic.p99_ms is not None
        and traffic.p99_ms > gates.max_p99_latency_ms
    ):
        failures.append(f"p99 {traffic.p99_ms:.1f} ms > maxP99LatencyMs {gates.max_p99_latency_ms}")
    if gates.prometheus is not None:
        if prometheus is None or prometheus.error is not None:
            why = prometheus.error if prometheus else "not queried"
            return Judgement(
                "inconclusive", reasons.ANALYSIS_INCONCLUSIVE, f"Prometheus gate: {why}"
            )
        if prometheus.value is not None and prometheus.value > gates.prometheus.max:
            failures.append(
                f"Prometheus query = {prometheus.value:g} > max {gates.prometheus.max:g}"
            )
    if failures:
        return Judgement("fail", reasons.ANALYSIS_FAILED, f"{seen}: " + "; ".join(failures))
    p99 = f", p99 {traffic.p99_ms:.1f} ms" if traffic.p99_ms is not None else ""
    return Judgement("pass", reasons.CANARY_ANALYSIS, f"{seen}{p99}: gates passed")


def prometheus_reading(answer: dict[str, Any]) -> PrometheusReading:
    """Read an `/api/v1/query` answer: a scalar, or a one-element instant vector."""
    if answer.get("status") != "success":
        return PrometheusReading(error=str(answer.get("error") or "query failed"))
    data = answer.get("data") or {}
    result = data.get("result")
    if data.get("resultType") == "scalar" and isinstance(result, list) and len(result) == 2:
        return _number(result[1])
    if data.get("resultType") == "vector" and isinstance(result, list):
        if not result:
            return PrometheusReading(error="the query returned no series")
        if len(result) > 1:
            return PrometheusReading(
                error=f"the query returned {len(result)} series; aggregate it to one"
            )
        return _number(result[0].get("value", [None, None])[1])
    return PrometheusReading(error=f"unsupported result type {data.get('resultType')!r}")


def _number(raw: object) -> PrometheusReading:
    try:
        value = float(str(raw))
    except ValueError:
        return PrometheusReading(error=f"not a number: {raw!r}")
    if math.isnan(value):
        return PrometheusReading(error="the query returned NaN")
    return PrometheusReading(value=value)
