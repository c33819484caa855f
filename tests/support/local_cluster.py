"""The local single-node cluster (hack/cluster-up.sh) for the e2e tier.

`local_cluster` runs `hack/cluster-up.sh`, which is idempotent: a second of checks when the
cluster already runs, about half a minute from nothing. The cluster is left running after the
session (other sessions may share it): `make cluster-down` stops it, or set
MLOPS_E2E_CLUSTER_DOWN=1 to stop it at the end of the session.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from .cluster import configuration, wait_for

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(
    os.environ.get("MLOPS_CLUSTER_DIR", Path.home() / ".cache" / "mlops-operator" / "cluster")
)
KUBECONFIG = STATE / "admin.kubeconfig"
E2E_IMAGE = "mlops.local/e2e-http:v1"
POD_CIDR = "198.18.0.0/16"
SERVICE_CIDR = "198.19.0.0/16"

# Pods of the e2e tier pass the Pod Security Standard "restricted".
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class LocalCluster:
    kubeconfig: Path
    config: kubernetes.client.Configuration
    node: str


def _cluster_script(name: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "hack" / name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip a test whose prerequisites are missing, except in CI (CI=true), where it fails:
    CI must never pass an e2e test by skipping it."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the e2e tier must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        unavailable("the local cluster needs root (make cluster-up)")
    if not (ROOT / "bin" / "kubelet").exists():
        unavailable("bin/kubelet is missing: make tools")
    up = _cluster_script("cluster-up.sh", timeout=900)
    assert up.returncode == 0, f"cluster-up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
    config = configuration(KUBECONFIG)
    with kubernetes.client.ApiClient(config) as api:
        nodes = kubernetes.client.CoreV1Api(api).list_node().items
    assert len(nodes) == 1, [n.metadata.name for n in nodes]
    try:
        yield LocalCluster(KUBECONFIG, config, nodes[0].metadata.name)
    finally:
        if os.environ.get("MLOPS_E2E_CLUSTER_DOWN") == "1":
            _cluster_script("cluster-down.sh", timeout=300)


@pytest.fixture
def cluster_api(local_cluster: LocalCluster) -> Iterator[kubernetes.client.ApiClient]:
    with kubernetes.client.ApiClient(local_cluster.config) as api:
        yield api


@pytest.fixture
def namespace(cluster_api: kubernetes.client.ApiClient) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    core = kubernetes.client.CoreV1Api(cluster_api)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(
        lambda: core.read_namespaced_service_account("default", name),
        timeout=60,
        what=f"the default ServiceAccount in {name}",
    )
    yield name
    core.delete_namespace(name, grace_period_seconds=0)


def e2e_pod(name: str, args: list[str], **spec: Any) -> dict[str, Any]:
    """A pod running the e2e-http test image (hack/cluster/e2e-http) as a restricted pod."""
    container: dict[str, Any] = {
        "name": "main",
        "image": E2E_IMAGE,
        "imagePullPolicy": "Never",
        "args": args,
        "securityContext": RESTRICTED,
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], "restartPolicy": "Never", **spec},
    }


def wait_pod(
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    name: str,
    phases: tuple[str, ...] = ("Running",),
    timeout: float = 90,
) -> Any:
    def check() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase in phases:
            return pod
        if pod.status.phase in ("Failed", "Succeeded"):
            log = core.read_namespaced_pod_log(name, namespace)
            raise AssertionError(f"pod {name} ended {pod.status.phase}: {log}")
        return None

    try:
        return wait_for(check, timeout=timeout, interval=0.5, what=f"pod {name} {phases}")
    except AssertionError:
        raise
    except TimeoutError as error:
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        detail = "\n".join(f"{e.reason}: {e.message}" for e in events.items)
        raise TimeoutError(f"{error}\nevents:\n{detail}") from None
