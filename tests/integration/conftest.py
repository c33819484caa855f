"""The integration tier: a real etcd + kube-apiserver + kube-controller-manager per session."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator

import kubernetes
import pytest
from tests.support.cluster import Objects, configuration, install_crds
from tests.support.control_plane import ROOT, ControlPlane

# The in-process operator reads its settings once, when its handlers are imported.
STORE_DIR = ROOT / ".tmp" / f"store-{os.getpid()}"
os.environ.setdefault("MLOPS_STORE", f"file://{STORE_DIR}")
os.environ.setdefault("MLOPS_METRICS_PORT", "0")
# An hour: every test passes only if children's events, not the safety-net resync, drive it.
os.environ.setdefault("MLOPS_RESYNC_SECONDS", "3600")
os.environ.setdefault("MLOPS_IMAGE", "mlops-operator:test")

_failed: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        _failed.append(item.nodeid)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    workdir = ROOT / ".tmp" / f"integration-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    plane = ControlPlane(workdir)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
        if _failed:
            print(f"\ncontrol-plane logs kept for failed tests: {plane.logs}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kube_config(control_plane: ControlPlane) -> kubernetes.client.Configuration:
    os.environ["KUBECONFIG"] = str(control_plane.kubeconfig)
    config = configuration(control_plane.kubeconfig)
    with kubernetes.client.ApiClient(config) as api:
        install_crds(api)
    return config


@pytest.fixture
def kube_api(kube_config: kubernetes.client.Configuration) -> Iterator[kubernetes.client.ApiClient]:
    with kubernetes.client.ApiClient(kube_config) as api:
        yield api


@pytest.fixture
def namespace(kube_api: kubernetes.client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = kubernetes.client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name, "labels": {"mlops.dev/test": "true"}}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def objects(kube_api: kubernetes.client.ApiClient, namespace: str) -> Objects:
    return Objects(kube_api, namespace)


@pytest.fixture(scope="session")
def store() -> Iterator[str]:
    """The file:// artifact store shared by the in-process operator and Job commands."""
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    yield os.environ["MLOPS_STORE"]
    shutil.rmtree(STORE_DIR, ignore_errors=True)
