"""Two operator replicas on the local cluster: `kill -9` of the leader hands over within 30 s.

It installs its own release (`e2e-ha`, namespace `mlops-e2e-ha`) with `replicas: 2` and removes it
afterwards; it does not touch the session's `pipeline` release.

- The kill is a real SIGKILL of the leader's operator process, sent from the node (this host:
  the local cluster is single-node, kubelet and containerd run here, the test runs as root):
  the process is found by its cgroup, which names the pod's UID. `kubectl delete pod
  --grace-period=0 --force` is NOT used: the kubelet still sends SIGTERM first, and the operator
  would release its Lease cleanly — a different, faster path (docs/high-availability.md).
- The container restarts in the same pod (restartPolicy Always) as a new candidate, and stands by.
- Both replicas mount the store's ReadWriteOnce claim: fine on one node (RWO is per node).
- Measured: kill -> the Lease held by the other pod, and kill -> the first child created for an
  object applied right after the kill (a new Dataset's profile Job). Asserted <= 30 s (the issue's
  bound; the design gives 10-17 s). Predictions through the ModelDeployment's Service continue
  throughout: model servers do not depend on the operator; 0 failed requests asserted.
- Afterwards: one child per owner (Jobs, Deployments, Services), every status at its generation.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.support.cluster import Objects, wait_for
from tests.support.in_cluster import operator_metrics, reconciles
from tests.support.load import ROWS
from tests.support.local_cluster import LocalCluster
from tests.support.release import (
    build_image,
    install,
    kubectl,
    operator_pods,
    remove_everything,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "mlops-e2e-ha"
RELEASE = "e2e-ha"
FULLNAME = f"{RELEASE}-mlops-operator"  # also the Lease's name
BOUND_SECONDS = 30.0


@dataclass
class Installed:
    cluster: LocalCluster
    api: kubernetes.client.ApiClient
    objects: Objects

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)


@pytest.fixture(scope="module")
def installed(local_cluster: LocalCluster) -> Iterator[Installed]:
    build_image()
    remove_everything(local_cluster.kubeconfig, [NAMESPACE])
    install(local_cluster.kubeconfig, RELEASE, NAMESPACE, values={"replicas": 2})
    with kubernetes.client.ApiClient(local_cluster.config) as api:
        try:
            yield Installed(local_cluster, api, Objects(api, NAMESPACE))
        finally:
            if os.environ.get("MLOPS_E2E_KEEP") != "1":
                remove_everything(local_cluster.kubeconfig, [NAMESPACE])


def holder(api: kubernetes.client.ApiClient) -> str:
    lease = kubernetes.client.CoordinationV1Api(api).read_namespaced_lease(FULLNAME, NAMESPACE)
    return str(lease.spec.holder_identity or "")


def pod_of(identity: str) -> str:
    """The pod name in a holderIdentity `<pod>_<random>`."""
    return identity.rpartition("_")[0]


def ready_pods(installed: Installed) -> list[Any]:
    return [
        p
        for p in operator_pods(installed.core, NAMESPACE, RELEASE)
        if not p.metadata.deletion_timestamp
        and p.status.container_statuses
        and all(s.ready for s in p.status.container_statuses)
    ]


def operator_pid(pod_uid: str) -> int:
    """The host PID of the `mlops-operator run` process in the pod with this UID."""
    marker = pod_uid.replace("-", "_")
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cgroup = (proc / "cgroup").read_text()
        except OSError:
            continue
        if (
            (marker in cgroup or pod_uid in cgroup)
            and b"run" in cmdline
            and any(part.endswith(b"mlops-operator") for part in cmdline)
        ):
            found.append(int(proc.name))
    assert len(found) == 1, f"operator processes of pod {pod_uid}: {found}"
    return found[0]


@dataclass
class Traffic:
    """Predictions through the ModelDeployment's Service, in a thread, until stopped."""

    url: str
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        body = json.dumps({"instances": ROWS[:2]}).encode()
        while not self._stop.is_set():
            request = urllib.request.Request(
                f"{self.url}/v1/models/iris:predict",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answer.read()
            except Exception as error:  # counted, reported by the assert
                self.failed.append(repr(error))
            self.sent += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def children(installed: Installed) -> dict[str, Counter[str]]:
    batch = kubernetes.client.BatchV1Api(installed.api)
    apps = kubernetes.client.AppsV1Api(installed.api)
    found: dict[str, Counter[str]] = {}
    for kind, items in (
        ("Job", batch.list_namespaced_job(NAMESPACE).items),
        ("Deployment", apps.list_namespaced_deployment(NAMESPACE).items),
        ("Service", installed.core.list_namespaced_service(NAMESPACE).items),
    ):
        counts: Counter[str] = Counter()
        for item in items:
            for ref in item.metadata.owner_references or []:
                if ref.controller and ref.api_version.startswith("mlops.dev/"):
                    counts[
                        f"{ref.kind}/{ref.name}/{item.metadata.labels.get('mlops.dev/track', '')}"
                    ] += 1
        found[kind] = counts
    return found


def test_kill_9_of_the_leader_hands_over_within_30s(installed: Installed) -> None:
    kubeconfig = installed.cluster.kubeconfig
    wait_for(lambda: len(ready_pods(installed)) == 2, 300, 1, "both operator replicas Ready")
    wait_for(lambda: holder(installed.api), 120, 1, "a leader")
    leader_pod = installed.core.read_namespaced_pod(pod_of(holder(installed.api)), NAMESPACE)
    [standby_pod] = [
        p for p in ready_pods(installed) if p.metadata.name != leader_pod.metadata.name
    ]
    assert operator_metrics(leader_pod)[("mlops_operator_leader", "")] == 1
    assert operator_metrics(standby_pod)[("mlops_operator_leader", "")] == 0

    # The iris pipeline, served; the standby reconciles nothing meanwhile.
    kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-k", "manifests/examples/iris")
    wait_for(
        lambda: (
            (installed.objects.get("ModelDeployment", "iris").get("status") or {}).get(
                "servingVersion"
            )
            == "iris-v1"
        ),
        420,
        1,
        "iris served",
    )
    assert all(
        reconciles(standby_pod, k) == 0 for k in ("Dataset", "TrainingJob", "ModelDeployment")
    )
    service = installed.core.read_namespaced_service("iris", NAMESPACE)
    url = f"http://{service.spec.cluster_ip}"
    before = children(installed)

    with Traffic(url) as traffic:
        wait_for(lambda: traffic.sent >= 20, 60, 0.5, "traffic flowing")
        pid = operator_pid(leader_pod.metadata.uid)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        # work for the next leader, applied while nobody leads
        installed.objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "Dataset",
                "metadata": {"name": "iris-during-failover"},
                "spec": {"source": {"uri": "sklearn://iris"}},
            }
        )
        wait_for(
            lambda: pod_of(holder(installed.api)) == standby_pod.metadata.name,
            60,
            0.2,
            "the standby to take the Lease",
        )
        lease_handover = time.monotonic() - killed
        batch = kubernetes.client.BatchV1Api(installed.api)
        wait_for(
            lambda: (
                batch.list_namespaced_job(
                    NAMESPACE, label_selector="mlops.dev/dataset=iris-during-failover"
                ).items
            ),
            60,
            0.2,
            "the new leader's first child",
        )
        first_child = time.monotonic() - killed
        time.sleep(5)  # traffic after the handover too (not a synchronisation)
    print(
        f"\nfailover after kill -9 of {leader_pod.metadata.name}: Lease taken in "
        f"{lease_handover:.1f} s, first child by the new leader in {first_child:.1f} s; "
        f"{traffic.sent} predictions, {len(traffic.failed)} failed"
    )
    assert lease_handover <= BOUND_SECONDS and first_child <= BOUND_SECONDS
    assert not traffic.failed, traffic.failed[:3]

    # The killed container restarts in its pod as a standby.
    def restarted_standby() -> bool:
        pod = installed.core.read_namespaced_pod(leader_pod.metadata.name, NAMESPACE)
        statuses = pod.status.container_statuses or []
        return bool(statuses) and statuses[0].restart_count >= 1 and statuses[0].ready

    wait_for(restarted_standby, 180, 1, "the killed replica back as a standby")
    old = installed.core.read_namespaced_pod(leader_pod.metadata.name, NAMESPACE)
    assert operator_metrics(old)[("mlops_operator_leader", "")] == 0

    # Nothing made twice, everything current.
    after = children(installed)
    for kind, counts in after.items():
        assert all(n == 1 for n in counts.values()), (kind, counts)
        assert set(before[kind]) <= set(counts), kind
    for kind in ("Dataset", "TrainingJob", "ModelVersion", "ModelDeployment"):
        for item in installed.objects.list(kind):
            status = item.get("status") or {}
            wait_for(
                lambda k=kind, n=item["metadata"]["name"]: (
                    (installed.objects.get(k, n).get("status") or {}).get("observedGeneration")
                    == installed.objects.get(k, n)["metadata"]["generation"]
                ),
                120,
                1,
                f"{kind} {item['metadata']['name']} current ({status.get('phase')})",
            )
    events = installed.core.list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.kind=Lease,involvedObject.name={FULLNAME}"
    )
    assert any(
        e.reason == "LeaderElected" and standby_pod.metadata.name in e.message for e in events.items
    )
