"""`helm upgrade` from the previous release to this checkout, with the iris pipeline live and
traffic flowing through its Service (docs/upgrading.md).

The previous release is rebuilt from its git tag (`hack/build-release.sh previous`: its chart
as it was, its image `mlops-operator:<its version>` imported into the node's containerd) and
installed with its own CRDs and its own iris example. Under load, the new CRDs are applied
(Helm never upgrades crds/) and the release is upgraded to this chart and image. Then: every
object is still there with the same uid, the model servers run the new image, every kind is
reconciled by the new operator and follows a spec change made after the upgrade (the
TrainingJob's retrains, registers a new ModelVersion and the ModelDeployment judges it), and
not one request failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
from tests.support.cluster import Objects, wait_for
from tests.support.in_cluster import operator_metrics, reconciles, settled
from tests.support.load import Load
from tests.support.local_cluster import LocalCluster
from tests.support.release import (
    IMAGE,
    VERSION,
    Release,
    apply_crds,
    build_image,
    build_release,
    helm,
    install,
    kubectl,
    remove_everything,
    remove_node_image,
    upgrade,
    wait_operator_ready,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "mlops-e2e-upgrade"
RELEASE = "e2e-upgrade"
KINDS = ("Dataset", "TrainingJob", "ModelVersion", "ModelDeployment", "DriftMonitor")
SERVING = "mlops.dev/modeldeployment=iris"


@dataclass
class Previous:
    cluster: LocalCluster
    api: kubernetes.client.ApiClient
    objects: Objects
    release: Release
    url: str

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return self.objects.get(kind, name).get("status") or {}

    def wait(self, what: str, check: Any, timeout: float = 300) -> Any:
        try:
            return wait_for(check, timeout=timeout, interval=1, what=what)
        except TimeoutError as error:
            found = {k: [o.get("status") for o in self.objects.list(k)] for k in KINDS}
            raise AssertionError(f"{error}\n{json.dumps(found, indent=1)[-6000:]}") from None


def ready(objects: Objects, kind: str, name: str) -> bool:
    """Ready=True at the object's current generation."""
    item = objects.get(kind, name)
    status = item.get("status") or {}
    condition = objects.condition(kind, name, "Ready") or {}
    return (
        condition.get("status") == "True"
        and status.get("observedGeneration") == item["metadata"]["generation"]
    )


def uids(objects: Objects, core: kubernetes.client.CoreV1Api) -> dict[str, str]:
    """Every object of the pipeline, the Service traffic goes through and the store claim."""
    found = {
        f"{kind}/{item['metadata']['name']}": item["metadata"]["uid"]
        for kind in KINDS
        for item in objects.list(kind)
    }
    found["Service/iris"] = core.read_namespaced_service("iris", NAMESPACE).metadata.uid
    for claim in core.list_namespaced_persistent_volume_claim(NAMESPACE).items:
        found[f"PersistentVolumeClaim/{claim.metadata.name}"] = claim.metadata.uid
    return found


def serving_images(core: kubernetes.client.CoreV1Api) -> dict[str, tuple[str, bool]]:
    """The model server pods (not terminating): image and readiness."""
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=SERVING).items
    return {
        pod.metadata.name: (
            pod.spec.containers[0].image,
            all(s.ready for s in pod.status.container_statuses or []),
        )
        for pod in pods
        if not pod.metadata.deletion_timestamp
    }


@pytest.fixture(scope="module")
def previous(local_cluster: LocalCluster) -> Iterator[Previous]:
    """The previous release installed, its iris example served and monitored."""
    kubeconfig = local_cluster.kubeconfig
    release = build_release("previous")
    assert release.version != VERSION, (release, VERSION)
    build_image()
    remove_everything(kubeconfig, [NAMESPACE])
    try:
        install(kubeconfig, RELEASE, NAMESPACE, chart=release.chart, version=release.version)
        example = release.chart.parents[1] / "manifests" / "examples" / "iris"
        kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-k", str(example))
        with kubernetes.client.ApiClient(local_cluster.config) as api:
            objects = Objects(api, NAMESPACE)
            found = Previous(local_cluster, api, objects, release, "")
            found.wait(
                "iris-v1 served by the previous release",
                lambda: (
                    found.status("ModelDeployment", "iris").get("servingVersion") == "iris-v1"
                    and ready(objects, "ModelDeployment", "iris")
                ),
            )
            service = found.core.read_namespaced_service("iris", NAMESPACE)
            found.url = f"http://{service.spec.cluster_ip}"
            yield found
    finally:
        remove_everything(kubeconfig, [NAMESPACE])
        apply_crds(kubeconfig)  # leave this checkout's CRDs on the shared cluster
        remove_node_image(release.image)


def test_helm_upgrade_from_the_previous_release_under_load(previous: Previous) -> None:
    kubeconfig = previous.cluster.kubeconfig
    objects, core = previous.objects, previous.core
    apps = kubernetes.client.AppsV1Api(previous.api)
    old_image = previous.release.image
    assert {image for image, _ in serving_images(core).values()} == {old_image}

    with Load(previous.url, threads=2, rate=20) as load:
        # The old operator checks the old servers' samples (its flat layout) before the upgrade.
        previous.wait(
            "a drift check of the previous release on 100 samples",
            lambda: (
                (previous.status("DriftMonitor", "iris").get("samples") or 0) >= 100
                and ready(objects, "DriftMonitor", "iris")
            ),
        )
        for kind in KINDS:
            for item in objects.list(kind):
                assert ready(objects, kind, item["metadata"]["name"]), (kind, item.get("status"))
        before = uids(objects, core)
        assert set(before) >= {
            "Dataset/iris", "TrainingJob/iris-logreg", "ModelVersion/iris-v1",
            "ModelDeployment/iris", "DriftMonitor/iris", "Service/iris",
            f"PersistentVolumeClaim/{RELEASE}-mlops-operator-store",
        }, before  # fmt: skip
        last_check = previous.status("DriftMonitor", "iris")["lastCheckTime"]
        at_upgrade = load.requests
        assert at_upgrade > 0 and load.failures == [], load.summary()

        # The upgrade as docs/upgrading.md says: the new CRDs first, then helm upgrade.
        load.mark("upgrade")
        apply_crds(kubeconfig)
        upgrade(kubeconfig, RELEASE, NAMESPACE, {})
        operator = wait_operator_ready(core, NAMESPACE, RELEASE)
        load.mark("new operator ready")
        assert operator.spec.containers[0].image == IMAGE
        history = json.loads(
            helm(kubeconfig, "history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout
        )
        assert [(h["revision"], h["chart"], h["status"]) for h in history] == [
            (1, f"mlops-operator-{previous.release.version}", "superseded"),
            (2, f"mlops-operator-{VERSION}", "deployed"),
        ], history

        # The new operator re-applies the model servers with its image: they roll (maxUnavailable
        # 0) while the Service keeps answering.
        def servers_replaced() -> bool:
            found = serving_images(core)
            deployment = apps.read_namespaced_deployment("iris", NAMESPACE)
            return (
                len(found) == deployment.spec.replicas
                and all(image == IMAGE and up for image, up in found.values())
                and deployment.status.updated_replicas == deployment.spec.replicas
            )

        previous.wait("the model servers on the new image", servers_replaced)
        load.mark("servers replaced")
        at_replaced = load.requests
        assert uids(objects, core) == before

        # Every kind follows a spec change made after the upgrade (ModelVersion specs are
        # immutable: the new operator's verification and iris-v2 below stand for it).
        changes: dict[str, dict[str, Any]] = {
            "Dataset": {"spec": {"validation": {"minRows": 120}}},
            "DriftMonitor": {"spec": {"intervalSeconds": 20}},
            "ModelDeployment": {"spec": {"progressDeadlineSeconds": 360}},
        }
        generations = {}
        for kind, patch in changes.items():
            generations[kind] = objects.patch(kind, "iris", patch)["metadata"]["generation"]
        for kind in changes:
            previous.wait(
                f"{kind} iris Ready at generation {generations[kind]}",
                lambda kind=kind: (
                    ready(objects, kind, "iris")
                    and objects.get(kind, "iris")["metadata"]["generation"] == generations[kind]
                ),
            )
        assert previous.status("Dataset", "iris")["phase"] == "Ready"
        assert objects.get("Dataset", "iris")["spec"]["validation"]["minRows"] == 120
        # a check by the new operator, of samples written by both servers
        previous.wait(
            "a drift check of the new operator",
            lambda: (
                previous.status("DriftMonitor", "iris").get("lastCheckTime") != last_check
                and (previous.status("DriftMonitor", "iris").get("samples") or 0) >= 100
            ),
        )

        load.mark("retrain")
        trained = objects.patch(
            "TrainingJob", "iris-logreg", {"spec": {"hyperparameters": {"C": 0.5}}}
        )["metadata"]["generation"]
        previous.wait(
            f"TrainingJob iris-logreg retrained at generation {trained}",
            lambda: (
                ready(objects, "TrainingJob", "iris-logreg")
                and previous.status("TrainingJob", "iris-logreg").get("observedGeneration")
                == trained
                and previous.status("TrainingJob", "iris-logreg").get("modelVersion") == "iris-v2"
            ),
            timeout=420,
        )
        previous.wait(
            "ModelVersion iris-v2 Ready", lambda: ready(objects, "ModelVersion", "iris-v2")
        )

        # The ModelDeployment judges iris-v2 (champion vs challenger, then the canary or not).
        def judged() -> dict[str, Any] | None:
            status = previous.status("ModelDeployment", "iris")
            lost = status.get("lostChallengers") or []
            done = status.get("servingVersion") == "iris-v2" or "iris-v2" in lost
            healthy = status.get("phase") == "Healthy" and ready(objects, "ModelDeployment", "iris")
            return status if done and healthy else None

        load.mark("iris-v2 registered")
        deployment = previous.wait("ModelDeployment iris judged iris-v2", judged, timeout=420)
        load.mark("iris-v2 judged")
        # traffic goes on after everything settled
        answered = load.requests
        previous.wait("100 more requests", lambda: load.requests >= answered + 100, timeout=120)
        load.stop()

    print(
        f"\nhelm upgrade {previous.release.tag} -> {VERSION} under load: {load.summary()}; "
        f"{at_upgrade} before the upgrade, {at_replaced - at_upgrade} during it (operator "
        f"replaced, CRDs applied, model servers rolled to {IMAGE}), "
        f"{load.requests - at_replaced} after; iris now serves {deployment['servingVersion']}"
    )
    assert load.failures == [], load.summary()
    assert at_replaced - at_upgrade > 0

    # Nothing lost: every object of the previous release, the same uids; one new ModelVersion.
    after = uids(objects, core)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"ModelVersion/iris-v2"}
    for kind in KINDS:
        for item in objects.list(kind):
            assert ready(objects, kind, item["metadata"]["name"]), (kind, item.get("status"))

    # Every object was reconciled by the new operator, whose queue is empty, and its first store
    # sweep (compaction, retention, GC) went through a store the previous release wrote.
    operator = wait_operator_ready(core, NAMESPACE, RELEASE)
    counts = {kind: reconciles(operator, kind) for kind in KINDS}
    assert all(counts[kind] >= len(objects.list(kind)) for kind in KINDS), counts
    previous.wait("the operator settled", lambda: settled(operator), timeout=120)
    previous.wait(
        "a store sweep of the new operator",
        lambda: (
            operator_metrics(operator).get(("mlops_store_sweeps_total", '{outcome="ok"}'), 0) >= 1
        ),
        timeout=180,
    )
    assert operator_metrics(operator).get(("mlops_store_sweeps_total", '{outcome="error"}'), 0) == 0
