"""Two operator processes against one control plane, with leader election over a Lease.

Only the replica holding the Lease reconciles: the standby's reconcile counter and its writes to
the API server stay at zero while it watches. The leader is killed (SIGKILL) while a burst of
Datasets, TrainingJobs and ModelDeployments is being reconciled; the standby takes the Lease once
it has gone unrenewed for its duration (15 s) and reconciles everything again from the current
state. Afterwards every object has exactly one child of each kind it owns (deterministic names:
a re-reconcile creates nothing twice) and every status is current. The handover time, from the
kill to the new leader's first reconcile, is printed; the only bound on it is the wait's timeout.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.test_model_deployment import versions
from tests.integration.test_training_flow import IRIS, complete, get_job, ready, training_job
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

__all__ = ["versions"]  # the fixture, used by name

LEASE = "mlops-operator"
DATASETS = 12
TRAININGS = 4
DEPLOYMENTS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """One operator process with leader election on and its own /metrics port."""

    def __init__(self, plane: ControlPlane, namespace: str, logs: Path, identity: str) -> None:
        self.identity = identity
        self.metrics_port = _free_port()
        env = {
            "MLOPS_LEADER_ELECTION": "true",
            "MLOPS_LEADER_ELECTION_NAMESPACE": namespace,
            "MLOPS_LEADER_ELECTION_LEASE": LEASE,
            "MLOPS_LEADER_ELECTION_IDENTITY": identity,
            "MLOPS_METRICS_PORT": str(self.metrics_port),
        }
        self.process = OperatorProcess(plane.kubeconfig, namespace, logs, env=env, name=identity)

    def samples(self, metric: str) -> list[tuple[dict[str, str], float]]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=60) as answer:
            text = answer.read().decode()
        return [
            (sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == metric
        ]

    def reconciles(self) -> float:
        return sum(value for _, value in self.samples("mlops_reconcile_total"))

    def writes(self) -> float:
        """Requests other than GET the operator's own code sent (Kopf's watches not counted)."""
        return sum(
            value
            for labels, value in self.samples("mlops_operator_api_requests_total")
            if labels["method"] != "GET"
        )

    def leader(self) -> float:
        return sum(value for _, value in self.samples("mlops_operator_leader"))

    def probe(self) -> str:
        url = f"http://127.0.0.1:{self.process.health_port}/healthz"
        # generous: a new leader's first burst of reconciles shares 2 busy cores
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.read().decode()


@pytest.fixture
def replicas(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[tuple[Replica, Replica]]:
    a = Replica(control_plane, namespace, tmp_path, "replica-a")
    b = Replica(control_plane, namespace, tmp_path, "replica-b")
    try:
        yield a, b
    finally:
        a.process.stop()
        b.process.stop()


def lease(api: kubernetes.client.ApiClient, namespace: str) -> Any:
    coordination = kubernetes.client.CoordinationV1Api(api)
    try:
        return coordination.read_namespaced_lease(LEASE, namespace)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise


def holder(api: kubernetes.client.ApiClient, namespace: str) -> str:
    found = lease(api, namespace)
    return str(found.spec.holder_identity or "") if found is not None else ""


def dataset(name: str) -> dict[str, Any]:
    return {**IRIS, "metadata": {"name": name}}


def model_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"modelVersionRef": {"name": "iris-v1"}, "replicas": 1},
    }


def children(api: kubernetes.client.ApiClient, namespace: str) -> dict[str, Counter[str]]:
    """Per child kind, how many children each owner (by uid) controls."""
    batch = kubernetes.client.BatchV1Api(api)
    apps = kubernetes.client.AppsV1Api(api)
    core = kubernetes.client.CoreV1Api(api)
    found: dict[str, Counter[str]] = {}
    for kind, items in (
        ("Job", batch.list_namespaced_job(namespace).items),
        ("Deployment", apps.list_namespaced_deployment(namespace).items),
        ("Service", core.list_namespaced_service(namespace).items),
    ):
        counts: Counter[str] = Counter()
        for item in items:
            for ref in item.metadata.owner_references or []:
                if ref.controller:
                    counts[ref.uid] += 1
        found[kind] = counts
    return found


def current(obj: dict[str, Any]) -> bool:
    """The status was written for the object's present generation and says whether it is Ready."""
    status = obj.get("status") or {}
    generation = obj["metadata"]["generation"]
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    return status.get("observedGeneration") == generation and "Ready" in conditions


def test_one_replica_reconciles_and_the_standby_takes_over_after_a_kill(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    versions: dict[str, Any],
    replicas: tuple[Replica, Replica],
    tmp_path: Path,
) -> None:
    a, b = replicas
    a.process.start()
    wait_for(lambda: holder(kube_api, namespace) == a.identity, 60, what="replica-a to lead")
    b.process.start()
    wait_for(lambda: "standby" in b.probe(), 60, what="replica-b to stand by")
    assert b.leader() == 0 and a.leader() == 1

    # A Ready Dataset for the TrainingJobs, made by the leader alone.
    objects.create(dataset("base"))
    profile = wait_for(
        lambda: get_job(kube_api, namespace, "mlops.dev/dataset=base"), 60, what="base Job"
    )
    complete(kube_api, namespace, profile, tmp_path)
    wait_for(lambda: ready(objects, "Dataset", "base"), 60, what="Dataset base Ready")
    wait_for(lambda: a.reconciles() > 0, 30, what="replica-a's reconciles on /metrics")
    assert b.reconciles() == 0 and b.writes() == 0, "the standby reconciled or wrote"

    # A burst, and the leader killed as soon as the first of its children appears.
    for i in range(DATASETS):
        objects.create(dataset(f"ds-{i}"))
    for i in range(TRAININGS):
        objects.create(training_job(f"tj-{i}", datasetRef={"name": "base"}))
    for i in range(DEPLOYMENTS):
        objects.create(model_deployment(f"md-{i}"))
    batch = kubernetes.client.BatchV1Api(kube_api)
    wait_for(
        lambda: len(batch.list_namespaced_job(namespace).items) > 1,
        60,
        interval=0.02,
        what="the leader to start on the burst",
    )
    assert b.reconciles() == 0 and b.writes() == 0, "the standby reconciled or wrote"
    made_before = {kind: sum(c.values()) for kind, c in children(kube_api, namespace).items()}
    a.process.kill()
    killed = time.monotonic()

    wait_for(lambda: b.reconciles() > 0, 60, interval=0.05, what="replica-b to reconcile")
    handover = time.monotonic() - killed
    took = lease(kube_api, namespace)
    assert took.spec.holder_identity == b.identity and took.spec.lease_transitions >= 1
    print(
        f"\nhandover: {handover:.1f} s from SIGKILL of the leader to the standby's first "
        f"reconcile (lease {took.spec.lease_duration_seconds} s); children made before the "
        f"kill: {made_before}"
    )
    assert b.leader() == 1 and "leading" in b.probe()

    # Everything converges under the new leader, with one child of each kind per owner.
    names = (
        ["base"] + [f"ds-{i}" for i in range(DATASETS)],
        [f"tj-{i}" for i in range(TRAININGS)],
        [f"md-{i}" for i in range(DEPLOYMENTS)],
        ["iris-v1"],
    )
    kinds = ("Dataset", "TrainingJob", "ModelDeployment", "ModelVersion")
    owns = {
        "Dataset": ("Job",),
        "TrainingJob": ("Job",),
        "ModelDeployment": ("Deployment", "Service"),
        "ModelVersion": (),
    }

    def pending() -> list[str]:
        found = children(kube_api, namespace)
        waiting = []
        for kind, group in zip(kinds, names, strict=True):
            for name in group:
                obj = objects.get(kind, name)
                if not current(obj):
                    waiting.append(f"{kind} {name}: status {obj.get('status')}")
                uid = obj["metadata"]["uid"]
                wanted = owns[kind]
                waiting += [
                    f"{kind} {name}: {found[child][uid]} {child}; {obj.get('status')}"
                    for child in wanted
                    if found[child][uid] != 1
                ]
        return waiting

    try:
        wait_for(lambda: not pending(), 180, interval=0.5, what="every object to converge")
    except TimeoutError:
        problems = [
            line
            for line in b.process.log().splitlines()
            if " WARNING " in line or " ERROR " in line
        ]
        raise AssertionError(
            f"not converged under replica-b: {pending()}\nits warnings: {problems[-20:]}"
        ) from None
    found = children(kube_api, namespace)
    for child, counts in found.items():
        assert all(n == 1 for n in counts.values()), (child, counts)  # no child made twice
    assert sum(found["Job"].values()) == 1 + DATASETS + TRAININGS
    assert sum(found["Deployment"].values()) == DEPLOYMENTS

    # The new leader drives objects on: a profile Job that ends makes its Dataset Ready.
    job = get_job(kube_api, namespace, "mlops.dev/dataset=ds-0")
    complete(kube_api, namespace, job, tmp_path)
    wait_for(lambda: ready(objects, "Dataset", "ds-0"), 60, what="Dataset ds-0 Ready")

    events = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=Lease,involvedObject.name={LEASE}"
    )
    elected = [e.message for e in events.items if e.reason == "LeaderElected"]
    assert any(a.identity in m for m in elected) and any(b.identity in m for m in elected)

    # A clean shutdown gives the Lease up at once.
    b.process.stop()
    assert b.process.process is not None and b.process.process.returncode == 0
    assert holder(kube_api, namespace) == ""


def test_a_leader_that_finds_its_lease_taken_stops_and_exits(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    replicas: tuple[Replica, Replica],
) -> None:
    """Another holder in the Lease (as after a partition): the leader posts LeaderLost and
    exits at its next renewal, so the kubelet restarts it as a standby."""
    a, _ = replicas
    a.process.start()
    wait_for(lambda: holder(kube_api, namespace) == a.identity, 60, what="replica-a to lead")
    kubernetes.client.CoordinationV1Api(kube_api).patch_namespaced_lease(
        LEASE, namespace, {"spec": {"holderIdentity": "somebody-else"}}
    )
    process = a.process.process
    assert process is not None
    assert process.wait(timeout=60) == 3, a.process.log()[-2000:]
    events = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=Lease,involvedObject.name={LEASE}"
    )
    lost = [e for e in events.items if e.reason == "LeaderLost"]
    assert lost and lost[0].type == "Warning" and "somebody-else" in (lost[0].message or "")
    assert "lost Lease" in a.process.log()
    assert holder(kube_api, namespace) == "somebody-else"  # nothing written on the way out
