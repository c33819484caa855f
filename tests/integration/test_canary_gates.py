"""Canary analysis gates judged on what real servers answered, not on made-up numbers.

The canary version's ONNX graph fails at run time for inputs out of its range (a Gather out of
bounds in onnxruntime), so the real model server answers those requests with 500. Every third
request is one of them: a 5xx share of one third, from the first error on. The error-rate gate
reads it from the canary pods' /metrics; the Prometheus gate from a real Prometheus scraping
the same pods.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import kubernetes
import numpy as np
import pytest
import requests
from tests.integration.operator import running_operator
from tests.integration.test_model_deployment import (
    ROWS,
    model_deployment,
    model_version,
    point_at,
    status,
    wait_phase,
    wait_versions_ready,
)
from tests.support.cluster import Objects
from tests.support.pods import PodDriver
from tests.support.prometheus import Prometheus
from tests.unit.test_serving_fixtures import IRIS_FEATURES, Served, iris_onnx

pytestmark = pytest.mark.integration

POISON = 99.0  # sepal length out of the guard table's range: onnxruntime fails the run


def failing_on_out_of_range(served: Served, directory: Path) -> Served:
    """`served` with a guard on its first input: x * table[int(x)], table = 20 ones. Within
    range the predictions are unchanged; beyond it the graph fails at run time."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(served.path))
    graph, first = model.graph, IRIS_FEATURES[0]
    for node in graph.node:
        node.input[:] = [f"{first}_checked" if name == first else name for name in node.input]
    graph.initializer.append(numpy_helper.from_array(np.ones(20, np.float32), "guard_table"))
    guard = [
        helper.make_node("Cast", [first], ["guard_index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["guard_table", "guard_index"], ["guard_one"]),
        helper.make_node("Mul", [first, "guard_one"], [f"{first}_checked"]),
    ]
    for node in reversed(guard):
        graph.node.insert(0, node)
    data = model.SerializeToString()
    path = directory / "iris-guarded.onnx"
    path.write_bytes(data)
    return dataclasses.replace(served, path=path, sha256=hashlib.sha256(data).hexdigest())


def body(row: list[float]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": n, "datatype": "FP32", "shape": [1, 1], "data": [row[i]]}
            for i, n in enumerate(IRIS_FEATURES)
        ]
    }


class PoisonedTraffic:
    """Requests to iris-v2's ready servers; every third one carries the poison value."""

    def __init__(self, pods: PodDriver) -> None:
        self.pods = pods
        self.codes: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PoisonedTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        session, n = requests.Session(), 0
        while not self._stop.is_set():
            servers = self.pods.servers("iris-v2")
            if not servers:
                self._stop.wait(0.2)
                continue
            row = list(ROWS[n % len(ROWS)])
            if n % 3 == 2:
                row[0] = POISON
            try:
                answer = session.post(
                    f"http://{servers[n % len(servers)]}:8080/v2/models/iris/infer",
                    json=body(row),
                    timeout=5,
                )
            except requests.RequestException:
                self._stop.wait(0.2)
                continue
            self.codes[answer.status_code] += 1
            n += 1
            self._stop.wait(0.03)


@pytest.fixture
def guarded(objects: Objects, tmp_path: Path) -> dict[str, Served]:
    """iris-v1 (logistic) and iris-v2 (the same model, guarded), both Ready-able."""
    plain = iris_onnx("logistic")
    served = {"iris-v1": plain, "iris-v2": failing_on_out_of_range(plain, tmp_path)}
    for number, (name, model) in enumerate(served.items(), start=1):
        objects.create(model_version(name, number, model, objects.namespace))
    return served


@pytest.fixture
def serving_pods(kube_api: kubernetes.client.ApiClient, namespace: str, tmp_path: Path) -> Any:
    with PodDriver(kube_api, namespace, "iris", logs=tmp_path) as pods:
        pods.behaviour.update({"iris-v1": "serve", "iris-v2": "serve"})
        yield pods
    assert not pods.errors, pods.errors[:3]


def canary(analysis: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Canary",
        "canary": {"steps": [{"weight": 50, "pauseSeconds": 2}], "analysis": analysis},
    }


def roll_back_under_poison(
    objects: Objects, namespace: str, pods: PodDriver, analysis: dict[str, Any]
) -> tuple[dict[str, Any], Counter[int]]:
    objects.create(model_deployment("iris-v1", strategy=canary(analysis)))
    with running_operator(namespace):
        wait_versions_ready(objects, ["iris-v1", "iris-v2"])
        wait_phase(objects, "Healthy", servingVersion="iris-v1")
        with PoisonedTraffic(pods) as traffic:
            point_at(objects, "iris-v2")
            rolled = wait_phase(objects, "RolledBack", timeout=180)
    return rolled, traffic.codes


def test_the_error_rate_gate_fails_on_real_5xx_answers(
    namespace: str, objects: Objects, guarded: dict[str, Served], serving_pods: PodDriver
) -> None:
    analysis = {"maxErrorRate": 0.05, "minRequestCount": 30}
    rolled, codes = roll_back_under_poison(objects, namespace, serving_pods, analysis)
    assert set(codes) == {200, 500} and codes[500] * 3 >= codes[200]  # the server's own 500s
    failed = rolled["failedVersion"]
    assert (failed["name"], failed["reason"]) == ("iris-v2", "AnalysisFailed")
    found = re.search(
        r"(\d+) requests, (\d+) errors: error rate ([0-9.]+) > maxErrorRate 0\.05",
        failed["message"],
    )
    assert found, failed["message"]
    answered, errors, rate = int(found[1]), int(found[2]), float(found[3])
    assert answered >= 30 and errors == answered // 3 and abs(rate - errors / answered) < 1e-3
    assert rolled["servingVersion"] == "iris-v1"


def test_the_prometheus_gate_reads_real_series_scraped_from_the_canary(
    namespace: str,
    objects: Objects,
    guarded: dict[str, Served],
    serving_pods: PodDriver,
    tmp_path: Path,
) -> None:
    prometheus = Prometheus(tmp_path / "prometheus", targets=[])
    prometheus.start()
    answered = 'mlops_serving_requests_total{endpoint="v2_infer"}'
    errors = 'mlops_serving_requests_total{endpoint="v2_infer",code=~"5.."}'
    query = f"sum({errors}) / sum({answered})"
    scraping = threading.Event()

    def scrape_the_canary() -> None:  # the canary pods' addresses, as service discovery would
        while not scraping.is_set():
            servers = serving_pods.servers("iris-v2")
            if servers:
                prometheus.set_targets([f"{s}:8080" for s in servers])
                scraping.set()
            scraping.wait(0.2)

    # The server's own error-rate gate is off: only the Prometheus answer can fail the canary.
    analysis = {
        "maxErrorRate": 1.0,
        "prometheus": {"address": prometheus.url, "query": query, "max": 0.1},
    }
    discovery = threading.Thread(target=scrape_the_canary, daemon=True)
    discovery.start()
    try:
        rolled, codes = roll_back_under_poison(objects, namespace, serving_pods, analysis)
        scraped = prometheus.query(f"sum({answered})")
    finally:
        scraping.set()
        prometheus.stop()
    assert codes[500] > 0 and scraped and float(scraped[0]["value"][1]) > 0
    failed = rolled["failedVersion"]
    assert (failed["name"], failed["reason"]) == ("iris-v2", "AnalysisFailed")
    found = re.search(r"Prometheus query = ([0-9.e+-]+) > max 0\.1", failed["message"])
    assert found, failed["message"]
    assert 0.25 <= float(found[1]) <= 0.4  # one request in three, as the series counted it
    assert status(objects)["servingVersion"] == "iris-v1"
