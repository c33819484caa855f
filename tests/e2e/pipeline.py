"""The iris pipeline the e2e tests share: the chart installed (the image `make image` built)
into a namespace that enforces the Pod Security Standard `restricted`, and
manifests/examples/iris applied once per session. Requests go from this host to the Service's
ClusterIP (kube-proxy)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
from tests.support.cluster import Objects, wait_for
from tests.support.load import ROWS
from tests.support.local_cluster import LocalCluster
from tests.support.release import build_image, install, kubectl, remove_everything

NAMESPACE = "mlops-e2e"
RELEASE = "e2e"
KINDS = ("Dataset", "TrainingJob", "ModelVersion", "ModelDeployment", "DriftMonitor")
TRAINING_LABEL = "mlops.dev/trainingjob"


@dataclass
class Pipeline:
    cluster: LocalCluster
    api: kubernetes.client.ApiClient
    objects: Objects
    url: str
    apply_to_prediction: float

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    @property
    def batch(self) -> kubernetes.client.BatchV1Api:
        return kubernetes.client.BatchV1Api(self.api)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return self.objects.get(kind, name).get("status") or {}

    def wait_status(
        self, kind: str, name: str, timeout: float, what: str, **fields: Any
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(kind, name)
            return status if all(status.get(k) == v for k, v in fields.items()) else None

        try:
            return wait_for(reached, timeout=timeout, interval=1, what=f"{kind} {name} {what}")
        except TimeoutError as error:
            raise AssertionError(f"{error}\nstatus: {self.status(kind, name)}") from None

    def wait_condition(self, kind: str, name: str, type_: str, status: str, timeout: float) -> None:
        def reached() -> bool:
            found = self.objects.condition(kind, name, type_)
            return bool(found and found["status"] == status)

        try:
            wait_for(reached, timeout=timeout, interval=1, what=f"{kind} {name} {type_}={status}")
        except TimeoutError as error:
            raise AssertionError(f"{error}\nstatus: {self.status(kind, name)}") from None

    def jobs_of(self, training_job: str) -> list[Any]:
        selector = f"{TRAINING_LABEL}={training_job}"
        return list(self.batch.list_namespaced_job(NAMESPACE, label_selector=selector).items)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result


@pytest.fixture(scope="session")
def pipeline(local_cluster: LocalCluster) -> Iterator[Pipeline]:
    kubeconfig = local_cluster.kubeconfig
    build_image()
    remove_everything(kubeconfig, [NAMESPACE])
    install(kubeconfig, RELEASE, NAMESPACE)  # default settings: events drive every step
    with kubernetes.client.ApiClient(local_cluster.config) as api:
        objects = Objects(api, NAMESPACE)
        applied = time.monotonic()
        kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-k", "manifests/examples/iris")
        probe = Pipeline(local_cluster, api, objects, "", 0.0)
        probe.wait_status("ModelDeployment", "iris", 300, "serving", servingVersion="iris-v1")
        service = kubernetes.client.CoreV1Api(api).read_namespaced_service("iris", NAMESPACE)
        url = f"http://{service.spec.cluster_ip}"
        probe.url = url
        wait_for(
            lambda: probe.post("/v1/models/iris:predict", {"instances": ROWS[:1]}),
            timeout=60,
            interval=0.5,
            what=f"a prediction through Service iris at {url}",
        )
        probe.apply_to_prediction = time.monotonic() - applied
        print(
            f"\nkubectl apply -> first prediction through the Service: {probe.apply_to_prediction:.0f}s"
        )
        try:
            yield probe
        finally:
            if os.environ.get("MLOPS_E2E_KEEP") != "1":
                remove_everything(kubeconfig, [NAMESPACE])
