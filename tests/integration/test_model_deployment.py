"""ModelDeployment on the real control plane.

The Deployment, ReplicaSet and EndpointSlice controllers of kube-controller-manager do their
real work; `tests.support.pods.PodDriver` plays the kubelet (pod status, and real model-server
processes on loopback addresses for the pods that serve).
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
from prometheus_client import REGISTRY
from tests.integration.operator import running_operator
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ROOT, ControlPlane
from tests.support.pods import PodDriver
from tests.support.prometheus import Prometheus
from tests.unit.test_serving_fixtures import IRIS_FEATURES, Served, iris_onnx

from mlops_operator.artifacts import Store, paths

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def stored(served: Served, namespace: str) -> str:
    """The served model's artifact copied into the namespace's part of the store (a
    ModelVersion names nothing else), as its URI."""
    path = paths.model_file(namespace, "iris", served.sha256, "onnx")
    uri, _ = Store(os.environ["MLOPS_STORE"]).write_bytes(path, served.path.read_bytes())
    return uri


def model_version(name: str, version: int, served: Served, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {
            "model": "iris",
            "version": version,
            "task": "classification",
            "artifact": {
                "uri": stored(served, namespace),
                "format": "onnx",
                "sha256": served.sha256,
            },
            "signature": served.signature.wire(),
            "metrics": {"accuracy": 0.95},
        },
    }


def model_deployment(version: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris"},
        "spec": {"modelVersionRef": {"name": version}, "replicas": 2, **spec},
    }


def reconciles(kind: str) -> float:
    """Reconciles of `kind` the in-process operator has finished, whatever their outcome."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "mlops_reconcile"
        for sample in metric.samples
        if sample.name == "mlops_reconcile_total" and sample.labels.get("kind") == kind
    )


def status(objects: Objects) -> dict[str, Any]:
    return objects.get("ModelDeployment", "iris").get("status") or {}


def wait_phase(objects: Objects, phase: str, timeout: float = 90, **fields: Any) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        current = status(objects)
        matches = all(current.get(k) == v for k, v in fields.items())
        return current if current.get("phase") == phase and matches else None

    try:
        return wait_for(reached, timeout=timeout, what=f"ModelDeployment phase {phase} {fields}")
    except TimeoutError as error:
        raise AssertionError(f"{error}; status: {status(objects)}") from None


def point_at(objects: Objects, version: str, **spec: Any) -> None:
    objects.patch(
        "ModelDeployment", "iris", {"spec": {"modelVersionRef": {"name": version}, **spec}}
    )


def deployment(api: kubernetes.client.ApiClient, namespace: str, name: str = "iris") -> Any:
    return kubernetes.client.AppsV1Api(api).read_namespaced_deployment(name, namespace)


def template_version(api: kubernetes.client.ApiClient, namespace: str) -> str:
    return str(deployment(api, namespace).spec.template.metadata.labels["mlops.dev/model-version"])


def events(api: kubernetes.client.ApiClient, namespace: str, reason: str) -> list[Any]:
    found = kubernetes.client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector="involvedObject.name=iris"
    )
    return [e for e in found.items if e.reason == reason]


def kubectl(plane: ControlPlane, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
    binary = ROOT / "bin" / "kubectl"
    done = subprocess.run(
        [str(binary), *args], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


@pytest.fixture
def versions(objects: Objects) -> dict[str, Served]:
    """Three Ready ModelVersions of model iris (v2 and v3 share a forest artifact)."""
    logistic, forest = iris_onnx("logistic"), iris_onnx("forest")
    served = {"iris-v1": logistic, "iris-v2": forest, "iris-v3": forest}
    for number, (name, model) in enumerate(served.items(), start=1):
        objects.create(model_version(name, number, model, objects.namespace))
    return served


NODE = "loopback-node"


@pytest.fixture(scope="module")
def node(kube_config: kubernetes.client.Configuration) -> str:
    """A Node object for the pods to be bound to (the EndpointSlice controller needs one)."""
    with kubernetes.client.ApiClient(kube_config) as api:
        core = kubernetes.client.CoreV1Api(api)
        try:
            core.create_node(
                {"metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}}
            )
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
    return NODE


def driver(
    api: kubernetes.client.ApiClient, namespace: str, logs: Path, node: str | None = None
) -> PodDriver:
    drain = {"MLOPS_SERVE_DRAIN_SECONDS": "3"}
    return PodDriver(api, namespace, "iris", logs=logs, serve_env=drain, node=node)


@pytest.fixture
def pods(
    kube_api: kubernetes.client.ApiClient, namespace: str, tmp_path: Path
) -> Iterator[PodDriver]:
    """Pods report their loopback address as pod IP, so the operator can scrape them."""
    with driver(kube_api, namespace, tmp_path) as running:
        yield running
    assert not running.errors, running.errors[:3]


def wait_versions_ready(objects: Objects, names: list[str]) -> None:
    for name in names:
        wait_for(
            lambda n=name: (
                (objects.get("ModelVersion", n).get("status") or {}).get("phase") == "Ready"
            ),
            timeout=60,
            what=f"ModelVersion {name} Ready",
        )


def test_children_and_first_rollout(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    pods: PodDriver,
) -> None:
    objects.create(
        model_deployment("iris-v1", resources={"requests": {"cpu": "100m", "memory": "256Mi"}})
    )
    with running_operator(namespace):
        wait_versions_ready(objects, ["iris-v1"])
        ready = wait_phase(objects, "Healthy", servingVersion="iris-v1")
    assert ready["url"] == f"http://iris.{namespace}.svc.cluster.local"
    assert ready["readyReplicas"] == 2
    assert ready["history"][-1]["outcome"] == "Promoted"
    conditions = {c["type"]: c for c in ready["conditions"]}
    assert (
        conditions["Ready"]["status"] == "True" and conditions["Progressing"]["status"] == "False"
    )
    assert conditions["RolledBack"]["status"] == "False"

    d = deployment(kube_api, namespace)
    assert d.spec.replicas == 2
    assert d.spec.selector.match_labels == {
        "mlops.dev/modeldeployment": "iris",
        "mlops.dev/track": "stable",
    }
    assert d.metadata.owner_references[0].kind == "ModelDeployment"
    assert d.spec.progress_deadline_seconds == 600
    [container] = d.spec.template.spec.containers
    env = {e.name: e.value for e in container.env}
    assert env["MLOPS_SERVE_MODEL_NAME"] == "iris" and env["MLOPS_SERVE_MODEL_VERSION"] == "1"
    assert env["MLOPS_SERVE_SHA256"] == versions["iris-v1"].sha256
    assert env["MLOPS_SERVE_SAMPLE_URI"].endswith(f"/samples/{namespace}/iris/iris-v1")
    assert container.readiness_probe.http_get.path == "/v2/health/ready"
    assert container.resources.requests == {"cpu": "100m", "memory": "256Mi"}
    assert container.security_context.run_as_non_root is True

    service = kubernetes.client.CoreV1Api(kube_api).read_namespaced_service("iris", namespace)
    assert service.spec.selector == {"mlops.dev/modeldeployment": "iris"}
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(80, "http")]
    assert service.spec.cluster_ip.startswith("198.19.")


def test_rolling_update_and_automatic_rollback(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    pods: PodDriver,
    control_plane: ControlPlane,
) -> None:
    objects.create(model_deployment("iris-v1"))
    pods.behaviour["iris-v3"] = "crash"
    with running_operator(namespace):
        wait_versions_ready(objects, list(versions))
        wait_phase(objects, "Healthy", servingVersion="iris-v1")
        point_at(objects, "iris-v2")
        promoted = wait_phase(objects, "Healthy", servingVersion="iris-v2")
        assert promoted["previousGoodVersion"] == "iris-v1"
        assert template_version(kube_api, namespace) == "iris-v2"

        point_at(objects, "iris-v3")
        rolled = wait_phase(objects, "RolledBack", timeout=60)
        assert rolled["servingVersion"] == "iris-v2"
        assert rolled["failedVersion"]["name"] == "iris-v3"
        assert rolled["failedVersion"]["reason"] == "CrashLoopBackOff"
        assert rolled["history"][-1] == {
            **rolled["history"][-1],
            "version": "iris-v3",
            "outcome": "RolledBack",
        }
        conditions = {c["type"]: c for c in rolled["conditions"]}
        assert conditions["RolledBack"]["status"] == "True"
        assert (
            conditions["Ready"]["status"] == "False" and "iris-v3" in conditions["Ready"]["message"]
        )
        assert template_version(kube_api, namespace) == "iris-v2"
        warning = wait_for(
            lambda: events(kube_api, namespace, "RolledBack"), what="RolledBack event"
        )
        assert warning[0].type == "Warning" and "from iris-v3 to iris-v2" in warning[0].message
        value = REGISTRY.get_sample_value(
            "mlops_rollbacks_total", {"namespace": namespace, "deployment": "iris"}
        )
        assert value == 1.0

        # The failed version is not retried while the spec stays the same: a change that is
        # not the spec (a label) makes the operator reconcile once more, and its reconcile
        # counter says when that reconcile has run.
        before = reconciles("ModelDeployment")
        objects.patch("ModelDeployment", "iris", {"metadata": {"labels": {"touched": "yes"}}})
        wait_for(lambda: reconciles("ModelDeployment") > before, what="one more reconcile")
        assert status(objects)["phase"] == "RolledBack"
        assert template_version(kube_api, namespace) == "iris-v2"
        assert len(events(kube_api, namespace, "RolloutStarted")) == 3  # v1, v2, v3 once each
        table = kubectl(control_plane, "-n", namespace, "get", "mdep")
        described = kubectl(control_plane, "-n", namespace, "describe", "mdep", "iris")
        assert "RolledBack" in table and "iris-v3" in table
        assert "rolled back from iris-v3 to iris-v2" in described

        # A spec change is a new decision: back to the good version.
        point_at(objects, "iris-v2")
        back = wait_phase(objects, "Healthy", servingVersion="iris-v2")
        assert {c["type"]: c["status"] for c in back["conditions"]}["Ready"] == "True"
    # KopfRunner captures stdout while the operator runs; show what kubectl users see here.
    print(f"\n$ kubectl get mdep\n{table}\n$ kubectl describe mdep iris\n{described}")


def test_progress_deadline_exceeded_rolls_back(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    pods: PodDriver,
) -> None:
    objects.create(model_deployment("iris-v1", progressDeadlineSeconds=10))
    pods.behaviour["iris-v2"] = "hang"  # running, never ready
    with running_operator(namespace):
        wait_versions_ready(objects, list(versions))
        wait_phase(objects, "Healthy", servingVersion="iris-v1")
        point_at(objects, "iris-v2")
        rolled = wait_phase(objects, "RolledBack", timeout=60)
    assert rolled["failedVersion"]["reason"] == "ProgressDeadlineExceeded"
    assert "progressing" in rolled["failedVersion"]["message"]  # the Deployment controller's words
    assert template_version(kube_api, namespace) == "iris-v1"


def infer(address: str) -> requests.Response:
    payload = {
        "inputs": [
            {"name": n, "datatype": "FP32", "shape": [len(ROWS), 1], "data": [r[i] for r in ROWS]}
            for i, n in enumerate(IRIS_FEATURES)
        ]
    }
    return requests.post(f"http://{address}:8080/v2/models/iris/infer", json=payload, timeout=5)


class Traffic:
    """Bounded background load on the ready serving pods of one version."""

    def __init__(self, pods: PodDriver, version: str, limit: int = 2000) -> None:
        self.pods, self.version, self.limit = pods, version, limit
        self.sent = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set() and self.sent < self.limit:
            servers = self.pods.servers(self.version)
            if not servers:
                self._stop.wait(0.2)
                continue
            answer = infer(random.choice(servers))
            self.sent += 1
            if answer.status_code != 200:
                self.failed.append(f"{answer.status_code} {answer.text[:200]}")
            self._stop.wait(0.02)


def test_canary_promoted_when_gates_pass(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    pods: PodDriver,
) -> None:
    canary = {
        "type": "Canary",
        "canary": {
            "steps": [{"weight": 50, "pauseSeconds": 3}],
            "analysis": {"maxErrorRate": 0.0, "minRequestCount": 20, "maxP99LatencyMs": 2000},
        },
    }
    objects.create(model_deployment("iris-v1", strategy=canary))
    pods.behaviour["iris-v2"] = "serve"
    with running_operator(namespace):
        wait_versions_ready(objects, list(versions))
        wait_phase(objects, "Healthy", servingVersion="iris-v1")
        with Traffic(pods, "iris-v2") as load:
            point_at(objects, "iris-v2")
            stepping = wait_for(
                lambda: (status(objects).get("canary") or {}).get("weight") == 50,
                timeout=60,
                what="canary at 50%",
            )
            assert stepping
            assert deployment(kube_api, namespace).spec.replicas == 1  # stable keeps one replica
            canary_deployment = deployment(kube_api, namespace, "iris-canary")
            assert canary_deployment.spec.replicas == 1
            done = wait_phase(objects, "Healthy", timeout=120, servingVersion="iris-v2")
        assert load.sent >= 20 and not load.failed
    assert done["previousGoodVersion"] == "iris-v1" and done.get("canary") is None
    passed = events(kube_api, namespace, "CanaryStep")
    assert passed and "gates passed" in passed[0].message
    apps = kubernetes.client.AppsV1Api(kube_api)
    names = [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items]
    assert names == ["iris"]  # the canary Deployment is gone


def test_canary_aborted_by_a_failing_gate(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    pods: PodDriver,
) -> None:
    canary = {
        "type": "Canary",
        "canary": {
            "steps": [{"weight": 50, "pauseSeconds": 2}, {"weight": 75, "pauseSeconds": 2}],
            # No real server answers within a microsecond: the latency gate must fail.
            "analysis": {"minRequestCount": 10, "maxP99LatencyMs": 0.001},
        },
    }
    objects.create(model_deployment("iris-v1", strategy=canary))
    pods.behaviour["iris-v2"] = "serve"
    with running_operator(namespace):
        wait_versions_ready(objects, list(versions))
        wait_phase(objects, "Healthy", servingVersion="iris-v1")
        with Traffic(pods, "iris-v2"):
            point_at(objects, "iris-v2")
            rolled = wait_phase(objects, "RolledBack", timeout=120)
    assert rolled["failedVersion"]["reason"] == "AnalysisFailed"
    assert "maxP99LatencyMs 0.001" in rolled["failedVersion"]["message"]
    assert rolled["servingVersion"] == "iris-v1"
    apps = kubernetes.client.AppsV1Api(kube_api)
    wait_for(
        lambda: (
            [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == ["iris"]
        ),
        what="the canary Deployment deleted",
    )
    assert deployment(kube_api, namespace).spec.replicas == 2


def endpoints(kube_api: kubernetes.client.ApiClient, namespace: str) -> list[str]:
    """Ready endpoint addresses of the Service, as kube-proxy would read them."""
    slices = kubernetes.client.DiscoveryV1Api(kube_api).list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=iris"
    )
    return [
        address
        for s in slices.items
        for e in s.endpoints or []
        if e.conditions and e.conditions.ready
        for address in e.addresses
    ]


def test_zero_failed_requests_during_a_rolling_update(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    node: str,
    tmp_path: Path,
) -> None:
    """Load through the Service's endpoints (refreshed as kube-proxy would) while v1 → v2."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    objects.create(model_deployment("iris-v1", strategy=strategy))
    answered: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        session = requests.Session()
        targets: list[str] = []
        refreshed = 0.0
        deadline = time.monotonic() + 150
        while not stop.is_set() and time.monotonic() < deadline and sum(answered.values()) < 20000:
            if time.monotonic() - refreshed > 0.2:
                targets = endpoints(kube_api, namespace) or targets
                refreshed = time.monotonic()
            if not targets:
                time.sleep(0.1)
                continue
            address = pods.listen_address(random.choice(targets))
            try:
                answer = session.post(
                    f"http://{address}:8080/v2/models/iris/infer",
                    json={
                        "inputs": [
                            {"name": n, "datatype": "FP32", "shape": [1, 1], "data": [ROWS[0][i]]}
                            for i, n in enumerate(IRIS_FEATURES)
                        ]
                    },
                    timeout=5,
                )
            except requests.RequestException as error:
                failures.append(f"{address}: {error}")
                continue
            if answer.status_code == 200:
                answered[answer.json()["model_version"]] += 1
            else:
                failures.append(f"{address}: {answer.status_code} {answer.text[:200]}")

    with driver(kube_api, namespace, tmp_path, node) as pods, running_operator(namespace):
        pods.behaviour.update({"iris-v1": "serve", "iris-v2": "serve"})
        wait_versions_ready(objects, list(versions))
        wait_phase(objects, "Healthy", timeout=120, servingVersion="iris-v1")
        wait_for(lambda: len(endpoints(kube_api, namespace)) == 2, timeout=30, what="two endpoints")
        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        wait_for(lambda: answered["1"] > 0, timeout=30, what="v1 answering the load")
        point_at(objects, "iris-v2")
        wait_phase(objects, "Healthy", timeout=150, servingVersion="iris-v2")
        # the old servers drain and stop after their pods are gone; load goes on meanwhile
        wait_for(lambda: not pods.servers("iris-v1"), timeout=60, what="v1 servers stopped")
        after = answered["2"]
        wait_for(lambda: answered["2"] > after + 20, timeout=30, what="v2 answering after")
        stop.set()
        worker.join(timeout=30)
    print(f"\nrolling update under load: {dict(answered)} answered, {len(failures)} failed")
    assert not failures, failures[:5]
    assert not pods.errors, pods.errors[:3]
    assert answered["1"] > 20 and answered["2"] > 20


def test_canary_aborted_by_a_prometheus_gate(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: dict[str, Served],
    pods: PodDriver,
    tmp_path: Path,
) -> None:
    """The optional PromQL gate, answered by a real Prometheus over its HTTP API."""
    prometheus = Prometheus(tmp_path / "prometheus", targets=[])
    prometheus.start()
    try:
        canary = {
            "type": "Canary",
            "canary": {
                "steps": [{"weight": 50, "pauseSeconds": 1}],
                "analysis": {
                    "prometheus": {"address": prometheus.url, "query": "vector(5)", "max": 1}
                },
            },
        }
        objects.create(model_deployment("iris-v1", strategy=canary))
        pods.behaviour["iris-v2"] = "serve"
        with running_operator(namespace):
            wait_versions_ready(objects, list(versions))
            wait_phase(objects, "Healthy", servingVersion="iris-v1")
            point_at(objects, "iris-v2")
            rolled = wait_phase(objects, "RolledBack", timeout=120)
    finally:
        prometheus.stop()
    assert rolled["failedVersion"]["reason"] == "AnalysisFailed"
    assert "Prometheus query = 5 > max 1" in rolled["failedVersion"]["message"]
    assert rolled["servingVersion"] == "iris-v1"
