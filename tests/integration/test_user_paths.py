"""Paths users take that nothing else here walks, each on the real control plane.

- an autoscaled ModelDeployment: its HorizontalPodAutoscaler accepted by the API server and
  acted on by the real HPA controller; deleting the ModelDeployment removes every child;
- a Dataset with `refreshIntervalSeconds` whose source changed: the refresh makes a new
  version, and a DriftMonitor with a `datasetRef` target finds the drift between versions;
- a Dataset read from an `https://` source over TLS.

Job pods run here as in test_training_flow.py (their own command, then reported terminated).
"""

from __future__ import annotations

import functools
import http.server
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
import numpy as np
import pandas as pd
import pytest
from tests.integration.operator import running_operator
from tests.integration.test_model_deployment import model_deployment, versions, wait_phase
from tests.integration.test_training_flow import complete, ready
from tests.support.cluster import Objects, wait_for
from tests.support.kubelet import finish_pod
from tests.support.pki import Authority
from tests.support.pods import PodDriver

pytestmark = pytest.mark.integration

__all__ = ["versions"]  # the fixture, used by name

FEATURES = ["a", "b", "c", "d"]


def write_csv(path: Path, shift: float = 0.0, rows: int = 500) -> None:
    """Four normal columns (seeded); `shift` moves c and d."""
    values = np.random.default_rng(7).normal(size=(rows, 4))
    values[:, 2:] += shift
    staged = path.with_suffix(".tmp")
    pd.DataFrame(values, columns=FEATURES).to_csv(staged, index=False)
    staged.replace(path)


def dataset(name: str, uri: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {"source": {"uri": uri}, "validation": {"minRows": 100}, **spec},
    }


def profile_jobs(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[Any]:
    batch = kubernetes.client.BatchV1Api(api)
    found = batch.list_namespaced_job(namespace, label_selector=f"mlops.dev/dataset={name}")
    return sorted(found.items, key=lambda j: j.metadata.creation_timestamp)


def profiled(objects: Objects, name: str) -> dict[str, Any] | None:
    return objects.get("Dataset", name)["status"] if ready(objects, "Dataset", name) else None


def test_an_autoscaled_deployment_gets_a_real_hpa_and_deleting_it_removes_every_child(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: Any,
    tmp_path: Path,
) -> None:
    body = model_deployment("iris-v1", autoscaling={"minReplicas": 2, "maxReplicas": 5})
    objects.create(body)
    apps = kubernetes.client.AppsV1Api(kube_api)
    scaling = kubernetes.client.AutoscalingV2Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    with (
        PodDriver(kube_api, namespace, "iris", logs=tmp_path) as pods,
        running_operator(namespace),
    ):
        hpa = wait_for(
            lambda: scaling.list_namespaced_horizontal_pod_autoscaler(namespace).items,
            timeout=90,
            what="the HorizontalPodAutoscaler",
        )[0]
        assert hpa.spec.scale_target_ref.kind == "Deployment"
        assert hpa.spec.scale_target_ref.name == "iris"
        assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 5)
        assert hpa.spec.metrics[0].resource.name == "cpu"
        assert hpa.metadata.owner_references[0].kind == "ModelDeployment"

        # The real HPA controller found its target and raised it to minReplicas (no metrics
        # server runs here, so that is all it can do); the operator leaves replicas to it.
        def scaled_by_the_hpa() -> Any:
            current = scaling.read_namespaced_horizontal_pod_autoscaler("iris", namespace)
            able = {c.type: c for c in current.status.conditions or []}.get("AbleToScale")
            if not (able and able.status == "True"):
                return None
            if apps.read_namespaced_deployment("iris", namespace).spec.replicas != 2:
                return None
            return current

        current = wait_for(scaled_by_the_hpa, timeout=120, interval=1, what="the HPA scaling")
        assert current.status.desired_replicas == 2
        healthy = wait_phase(objects, "Healthy", timeout=120, servingVersion="iris-v1")
        assert healthy["readyReplicas"] == 2
        assert apps.read_namespaced_deployment("iris", namespace).spec.replicas == 2

        objects.delete("ModelDeployment", "iris")

        def children() -> dict[str, list[str]]:
            selector = "mlops.dev/modeldeployment=iris"
            return {
                kind: [item.metadata.name for item in listed.items]
                for kind, listed in (
                    ("Deployment", apps.list_namespaced_deployment(namespace)),
                    ("ReplicaSet", apps.list_namespaced_replica_set(namespace)),
                    ("Service", core.list_namespaced_service(namespace)),
                    (
                        "HorizontalPodAutoscaler",
                        scaling.list_namespaced_horizontal_pod_autoscaler(namespace),
                    ),
                    ("Pod", core.list_namespaced_pod(namespace, label_selector=selector)),
                )
                if listed.items
            }

        try:
            wait_for(lambda: not children(), timeout=120, interval=1, what="no child left")
        except TimeoutError as error:
            raise AssertionError(f"{error}: {children()}") from None
    assert not pods.errors, pods.errors[:3]


def test_a_refresh_makes_a_new_version_and_a_dataset_monitor_finds_the_drift(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    # Users' own files live in their namespace's part of the store (docs/security.md).
    source = Path(store.removeprefix("file://")) / "inputs" / namespace / "flowers.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    write_csv(source)
    objects.create(dataset("flowers", source.as_uri(), refreshIntervalSeconds=60))
    with running_operator(namespace):
        [first] = wait_for(lambda: profile_jobs(kube_api, namespace, "flowers"), 60, what="Job")
        complete(kube_api, namespace, first, tmp_path)
        before = wait_for(lambda: profiled(objects, "flowers"), 60, what="first version")
        objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "DriftMonitor",
                "metadata": {"name": "flowers"},
                "spec": {"target": {"datasetRef": {"name": "flowers"}}, "intervalSeconds": 10},
            }
        )
        write_csv(source, shift=3.0)  # the source changes; only the refresh can notice

        def second_job() -> Any:
            jobs = profile_jobs(kube_api, namespace, "flowers")
            return jobs[1] if len(jobs) == 2 else None

        second = wait_for(second_job, timeout=180, interval=1, what="the refresh's profile Job")
        complete(kube_api, namespace, second, tmp_path)
        after = wait_for(
            lambda: (s := profiled(objects, "flowers")) and s["version"] != before["version"] and s,
            timeout=60,
            what="the refreshed version",
        )
        drifted = wait_for(
            lambda: (
                (objects.condition("DriftMonitor", "flowers", "Drifted") or {}).get("status")
                == "True"
            ),
            timeout=120,
            what="the DriftMonitor to find the drift between the two versions",
        )
        assert drifted
        monitor = objects.get("DriftMonitor", "flowers")["status"]
    assert second.metadata.name != first.metadata.name
    assert [h["version"] for h in after["history"]][:2] == [after["version"], before["version"]]
    waited = _time(after["lastProfiledAt"]) - _time(before["lastProfiledAt"])
    assert waited.total_seconds() >= 60  # not before the interval
    assert sorted(f["name"] for f in monitor["features"] if f["drifted"]) == ["c", "d"]
    assert monitor["sourceUri"].endswith(f"/{after['version']}/data.parquet")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class _Files(http.server.SimpleHTTPRequestHandler):
    served: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        self.served.append(f"{self.command} {self.path}")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, the CA certificate to trust, requests served) of a TLS file server."""
    authority = Authority(tmp_path / "pki")
    pair = authority.issue("web", "127.0.0.1", hosts=("127.0.0.1",), server=True)
    www = tmp_path / "www"
    www.mkdir()
    served: list[str] = []
    handler = type("Files", (_Files,), {"served": served})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(www))
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", authority.pair.cert, served
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_source_is_read_over_tls(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
    https_server: tuple[str, Path, list[str]],
) -> None:
    url, ca, served = https_server
    write_csv(tmp_path / "www" / "flowers.csv")
    local = Path(store.removeprefix("file://")) / "inputs" / namespace / "flowers.csv"
    local.parent.mkdir(parents=True, exist_ok=True)
    write_csv(local)
    objects.create(dataset("remote", f"{url}/flowers.csv"))
    objects.create(dataset("local", local.as_uri()))
    with running_operator(namespace):
        [job] = wait_for(lambda: profile_jobs(kube_api, namespace, "remote"), 60, what="Job")
        # The pod's own command in its own process, trusting the server's CA as a pod whose
        # image carries it would.
        args = list(job.spec.template.spec.containers[0].args)
        command = [str(Path(sys.executable).parent / "mlops-operator"), *args]
        command += ["--termination-log", str(tmp_path / "termination.log")]
        env = {**os.environ, "SSL_CERT_FILE": str(ca)}
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        finish_pod(kube_api, namespace, job.metadata.name)
        remote = wait_for(lambda: profiled(objects, "remote"), 60, what="the https Dataset")
        [local_job] = wait_for(lambda: profile_jobs(kube_api, namespace, "local"), 60, what="Job")
        complete(kube_api, namespace, local_job, tmp_path)
        local = wait_for(lambda: profiled(objects, "local"), 60, what="the file Dataset")
    assert "GET /flowers.csv" in served
    assert remote["rows"] == 500 and remote["columns"] == 4
    assert remote["version"] == local["version"]  # the same content, read over TLS
