"""Serving children (Deployment, Service, HPA), what is observed of them, and analysis gates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_operator.api.modeldeployment import Analysis, ModelDeploymentSpec
from mlops_operator.api.modelversion import ModelVersionSpec
from mlops_operator.config import OperatorConfig, StoreVolume
from mlops_operator.reconcile import reasons
from mlops_operator.reconcile.analysis import PrometheusReading, judge, prometheus_reading
from mlops_operator.reconcile.observed import pod_trouble, ready_pod_ips, view_deployment
from mlops_operator.reconcile.serving import (
    Parent,
    Workload,
    deployment_manifest,
    effective_weight,
    service_manifest,
    split_replicas,
)
from mlops_operator.serving.analysis import TrafficSummary, combine

PARENT = Parent("ns", "iris", {"kind": "ModelDeployment", "name": "iris", "uid": "u"}, {"a": "b"})
VERSION = ModelVersionSpec.model_validate(
    {
        "model": "iris",
        "version": 3,
        "task": "classification",
        "artifact": {"uri": "file:///store/models/m.onnx", "format": "onnx", "sha256": "b" * 64},
        "signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]},
    }
)


def manifest(spec: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    settings = OperatorConfig(store_uri="file:///var/lib/mlops/store", image="img:1", **config)
    model = ModelDeploymentSpec.model_validate(
        {"modelVersionRef": {"name": "iris-v3"}, **(spec or {})}
    )
    return deployment_manifest(PARENT, model, Workload("stable", "iris-v3", VERSION, 2), settings)


def test_deployment_runs_the_server_with_the_version_it_serves() -> None:
    d = manifest({"resources": {"requests": {"cpu": "100m"}}})
    assert d["metadata"]["name"] == "iris"
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["selector"]["matchLabels"] == {
        "mlops.dev/modeldeployment": "iris",
        "mlops.dev/track": "stable",
    }
    assert d["spec"]["progressDeadlineSeconds"] == 600
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 0}
    pod = d["spec"]["template"]
    assert pod["metadata"]["labels"]["mlops.dev/model-version"] == "iris-v3"
    [container] = pod["spec"]["containers"]
    assert container["args"] == ["serve"] and container["image"] == "img:1"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_SERVE_MODEL_NAME"] == "iris" and env["MLOPS_SERVE_MODEL_VERSION"] == "3"
    assert env["MLOPS_SERVE_SHA256"] == "b" * 64
    assert json.loads(env["MLOPS_SERVE_SIGNATURE"])["inputs"][0]["name"] == "x"
    assert env["MLOPS_SERVE_SAMPLE_URI"] == "file:///var/lib/mlops/store/samples/ns/iris/iris-v3"
    # Labels belong to the deployment, whatever version served the prediction.
    assert env["MLOPS_SERVE_LABELS_URI"] == "file:///var/lib/mlops/store/labels/ns/iris"
    assert env["MLOPS_SERVE_MODEL_VERSION_NAME"] == "iris-v3"
    assert env["MLOPS_SERVE_SAMPLE_RATE"] == "0.1"
    assert env["MLOPS_SERVE_SAMPLE_BATCH_SIZE"] == "256"
    assert env["MLOPS_SERVE_SAMPLE_FLUSH_SECONDS"] == "60"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["resources"] == {"requests": {"cpu": "100m"}}
    # Pod Security Standard "restricted"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # the server drains for ~25 s after SIGTERM; the grace period must cover it
    assert pod["spec"]["terminationGracePeriodSeconds"] > 25


def test_sampling_settings_reach_the_server() -> None:
    d = manifest({"sampling": {"rate": 1.0, "batchSize": 64, "flushSeconds": 10}})
    [container] = d["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_SERVE_SAMPLE_RATE"] == "1.0"
    assert env["MLOPS_SERVE_SAMPLE_BATCH_SIZE"] == "64"
    assert env["MLOPS_SERVE_SAMPLE_FLUSH_SECONDS"] == "10"


def test_deployment_mounts_the_store_claim_and_uses_the_rolling_update_settings() -> None:
    d = manifest(
        {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"},
            }
        },
        volume=StoreVolume(claim_name="store", mount_path="/var/lib/mlops/store"),
    )
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "10%"}
    volumes = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
    assert volumes["store"]["persistentVolumeClaim"] == {"claimName": "store"}


def test_service_selects_both_tracks() -> None:
    s = service_manifest(PARENT)
    assert s["spec"]["selector"] == {"mlops.dev/modeldeployment": "iris"}
    assert s["spec"]["ports"][0] == {
        "name": "http",
        "port": 80,
        "targetPort": "http",
        "protocol": "TCP",
    }


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        (4, 25, (3, 1)),
        (4, 50, (2, 2)),
        (1, 10, (1, 1)),
        (10, 10, (9, 1)),
        (10, 33, (6, 4)),
        (3, 100, (0, 3)),
    ],
)
def test_split_replicas(total: int, weight: int, expected: tuple[int, int]) -> None:
    assert split_replicas(total, weight) == expected


def test_effective_weight() -> None:
    assert effective_weight(3, 1) == 25
    assert effective_weight(1, 1) == 50
    assert effective_weight(0, 0) == 0


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 3, "annotations": {"mlops.dev/spec-hash": "h"}},
        "spec": {
            "replicas": 2,
            "template": {"metadata": {"labels": {"mlops.dev/model-version": "iris-v3"}}},
        },
        "status": {"observedGeneration": 3, **status},
    }


def test_view_of_a_complete_deployment() -> None:
    view = view_deployment(
        deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    )
    assert view.complete("iris-v3") and view.spec_hash == "h"
    assert not view.complete("iris-v2")
    assert not view.complete("iris-v3", replicas=3)


def test_view_with_old_replicas_left_is_not_complete() -> None:
    view = view_deployment(deployment(replicas=3, updatedReplicas=2, availableReplicas=3))
    assert not view.complete("iris-v3")


def test_view_reads_the_progress_deadline_condition() -> None:
    condition = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": "timed out",
    }
    view = view_deployment(deployment(conditions=[condition]))
    assert view.deadline_exceeded and view.message == "timed out"
    stale = deployment(conditions=[condition])
    stale["status"]["observedGeneration"] = 2
    assert not view_deployment(stale).current
    assert not view_deployment(None).exists


def pod(version: str = "iris-v3", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "labels": {"mlops.dev/model-version": version}},
        "status": status,
    }


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (
            {"containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
            reasons.CRASH_LOOP,
        ),
        (
            {"containerStatuses": [{"state": {"waiting": {"reason": "ErrImageNeverPull"}}}]},
            reasons.POD_FAILED,
        ),
        (
            {
                "containerStatuses": [
                    {"restartCount": 3, "lastState": {"terminated": {"exitCode": 1}}}
                ]
            },
            reasons.CRASH_LOOP,
        ),
        ({"phase": "Failed", "reason": "Evicted"}, reasons.POD_FAILED),
        ({"containerStatuses": [{"restartCount": 1, "state": {"running": {}}}]}, None),
        ({"containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}, None),
    ],
)
def test_pod_trouble(status: dict[str, Any], reason: str | None) -> None:
    trouble = pod_trouble([pod(**status)], "iris-v3")
    assert (trouble.reason if trouble else None) == reason
    assert pod_trouble([pod(**status)], "iris-v2") is None  # other versions are not judged


def test_ready_pod_ips() -> None:
    ready = pod(podIP="198.18.0.5", conditions=[{"type": "Ready", "status": "True"}])
    unready = pod(podIP="198.18.0.6", conditions=[{"type": "Ready", "status": "False"}])
    assert ready_pod_ips([ready, unready, pod("iris-v2", podIP="198.18.0.7")], "iris-v3") == [
        "198.18.0.5"
    ]


def traffic(requests: int, errors: int = 0, p99: float | None = 5.0) -> TrafficSummary:
    return TrafficSummary(requests, errors, errors / requests if requests else 0.0, p99)


@pytest.mark.parametrize(
    ("gates", "seen", "prometheus", "verdict", "needle"),
    [
        ({}, traffic(100), None, "pass", "gates passed"),
        ({}, None, None, "inconclusive", "no canary pod answered"),
        ({"minRequestCount": 50}, traffic(10), None, "inconclusive", "minRequestCount 50"),
        (
            {"maxErrorRate": 0.01},
            traffic(100, 5),
            None,
            "fail",
            "error rate 0.0500 > maxErrorRate 0.01",
        ),
        ({"maxP99LatencyMs": 2}, traffic(100), None, "fail", "p99 5.0 ms > maxP99LatencyMs 2"),
        ({"maxP99LatencyMs": 10}, traffic(100), None, "pass", "p99 5.0 ms"),
        (
            {"prometheus": {"address": "http://p:9090", "query": "q", "max": 1}},
            traffic(1),
            PrometheusReading(2.0),
            "fail",
            "Prometheus query = 2 > max 1",
        ),
        (
            {"prometheus": {"address": "http://p:9090", "query": "q", "max": 1}},
            traffic(1),
            PrometheusReading(0.5),
            "pass",
            "gates passed",
        ),
        (
            {"prometheus": {"address": "http://p:9090", "query": "q", "max": 1}},
            traffic(1),
            PrometheusReading(error="down"),
            "inconclusive",
            "Prometheus gate: down",
        ),
    ],
)
def test_judge(
    gates: dict[str, Any],
    seen: TrafficSummary | None,
    prometheus: PrometheusReading | None,
    verdict: str,
    needle: str,
) -> None:
    judgement = judge(Analysis.model_validate(gates), seen, prometheus)
    assert judgement.verdict == verdict
    assert needle in judgement.message


@pytest.mark.parametrize(
    ("answer", "value", "error"),
    [
        (
            {"status": "success", "data": {"resultType": "scalar", "result": [1, "0.25"]}},
            0.25,
            None,
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, "3"]}]},
            },
            3.0,
            None,
        ),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, None, "no series"),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, "1"]}] * 2},
            },
            None,
            "aggregate it",
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, "NaN"]}]},
            },
            None,
            "NaN",
        ),
        ({"status": "error", "error": "parse error"}, None, "parse error"),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            None,
            "unsupported",
        ),
    ],
)
def test_prometheus_reading(answer: dict[str, Any], value: float | None, error: str | None) -> None:
    reading = prometheus_reading(answer)
    assert reading.value == value
    assert (error is None) == (reading.error is None)
    if error:
        assert error in str(reading.error)


def test_combine_adds_pods_up() -> None:
    a = TrafficSummary(10, 1, 0.1, None, buckets=((0.01, 8.0), (float("inf"), 10.0)))
    b = TrafficSummary(30, 0, 0.0, None, buckets=((0.01, 30.0), (float("inf"), 30.0)))
    both = combine([a, b])
    assert (both.requests, both.errors) == (40, 1)
    assert both.error_rate == pytest.approx(0.025)
    assert dict(both.buckets)[0.01] == 38.0
