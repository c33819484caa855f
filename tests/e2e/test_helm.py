"""The Helm chart's lifecycle on the local cluster: `helm upgrade` to changed values replaces the
operator and nothing is reconciled twice; `helm uninstall` removes the operator, its RBAC and
Service and keeps what the chart README says it keeps (CRDs, every mlops.dev object, the
artifact store claim)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
from tests.support.cluster import Objects, wait_for
from tests.support.in_cluster import reconciles, settled
from tests.support.local_cluster import LocalCluster
from tests.support.release import (
    build_image,
    helm,
    install,
    kubectl,
    operator_pods,
    remove_everything,
    upgrade,
    wait_operator_ready,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "mlops-e2e-helm"
RELEASE = "e2e-helm"
FULLNAME = f"{RELEASE}-mlops-operator"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
CRDS = ("datasets", "trainingjobs", "modelversions", "modeldeployments", "driftmonitors")


@dataclass
class Installed:
    cluster: LocalCluster
    api: kubernetes.client.ApiClient
    objects: Objects


@pytest.fixture(scope="module")
def installed(local_cluster: LocalCluster) -> Iterator[Installed]:
    build_image()
    remove_everything(local_cluster.kubeconfig, [NAMESPACE])
    install(local_cluster.kubeconfig, RELEASE, NAMESPACE)
    with kubernetes.client.ApiClient(local_cluster.config) as api:
        try:
            yield Installed(local_cluster, api, Objects(api, NAMESPACE))
        finally:
            remove_everything(local_cluster.kubeconfig, [NAMESPACE])


def trained(objects: Objects) -> dict[str, Any] | None:
    status = objects.get("TrainingJob", "iris-logreg").get("status") or {}
    return status if status.get("phase") == "Succeeded" else None


def snapshot(installed: Installed) -> dict[str, Any]:
    """What reconciling must not change: children, versions and the objects' statuses."""
    batch = kubernetes.client.BatchV1Api(installed.api)
    jobs = batch.list_namespaced_job(NAMESPACE).items
    return {
        "jobs": sorted(j.metadata.uid for j in jobs),
        "versions": sorted(v["metadata"]["uid"] for v in installed.objects.list("ModelVersion")),
        "dataset": installed.objects.get("Dataset", "iris")["status"]["version"],
        "model": installed.objects.get("TrainingJob", "iris-logreg")["status"]["modelVersion"],
    }


def chart_objects(installed: Installed) -> dict[str, list[str]]:
    """Every object of the release's kinds still labelled with its instance."""
    core = kubernetes.client.CoreV1Api(installed.api)
    apps = kubernetes.client.AppsV1Api(installed.api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(installed.api)
    found = {
        "Deployment": apps.list_deployment_for_all_namespaces(label_selector=INSTANCE).items,
        "Pod": core.list_pod_for_all_namespaces(label_selector=INSTANCE).items,
        "ServiceAccount": core.list_service_account_for_all_namespaces(
            label_selector=INSTANCE
        ).items,
        "Service": core.list_service_for_all_namespaces(label_selector=INSTANCE).items,
        "ConfigMap": core.list_config_map_for_all_namespaces(label_selector=INSTANCE).items,
        "Role": rbac.list_role_for_all_namespaces(label_selector=INSTANCE).items,
        "RoleBinding": rbac.list_role_binding_for_all_namespaces(label_selector=INSTANCE).items,
        "ClusterRole": rbac.list_cluster_role(label_selector=INSTANCE).items,
        "ClusterRoleBinding": rbac.list_cluster_role_binding(label_selector=INSTANCE).items,
        "PersistentVolumeClaim": core.list_persistent_volume_claim_for_all_namespaces(
            label_selector=INSTANCE
        ).items,
    }
    return {kind: sorted(o.metadata.name for o in items) for kind, items in found.items()}


def test_upgrade_to_changed_values_then_uninstall_leaves_no_orphans(installed: Installed) -> None:
    kubeconfig = installed.cluster.kubeconfig
    core = kubernetes.client.CoreV1Api(installed.api)
    apps = kubernetes.client.AppsV1Api(installed.api)
    for part in ("dataset.yaml", "trainingjob.yaml"):
        kubectl(kubeconfig, "apply", "-n", NAMESPACE, "-f", f"manifests/examples/iris/{part}")
    wait_for(lambda: trained(installed.objects), timeout=300, interval=1, what="iris-logreg")
    before = snapshot(installed)
    assert len(before["jobs"]) == 2 and before["model"] == "iris-v1"  # profile + train
    installed_objects = chart_objects(installed)
    assert installed_objects["Deployment"] == [FULLNAME]
    assert installed_objects["ClusterRole"] == [FULLNAME]
    assert installed_objects["PersistentVolumeClaim"] == [f"{FULLNAME}-store"]
    [old_pod] = operator_pods(core, NAMESPACE, RELEASE)

    # helm upgrade to changed values: a new operator pod (Recreate) with the new settings
    upgrade(kubeconfig, RELEASE, NAMESPACE, {"operator": {"workers": 3, "resyncSeconds": 5}})
    new_pod = wait_operator_ready(core, NAMESPACE, RELEASE)
    assert new_pod.metadata.name != old_pod.metadata.name
    env = {e.name: e.value for e in new_pod.spec.containers[0].env}
    assert env["MLOPS_WORKERS"] == "3" and env["MLOPS_RESYNC_SECONDS"] == "5"
    assert apps.read_namespaced_deployment(FULLNAME, NAMESPACE).spec.strategy.type == "Recreate"
    history = json.loads(helm(kubeconfig, "history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert [h["revision"] for h in history] == [1, 2] and history[-1]["status"] == "deployed"

    # The new operator reconciles every object once as its watches list them, then resyncs
    # every 5 s: neither may create anything twice or change a finished pipeline. Its own
    # reconcile counters say when every object has been through both, twice over.
    def resynced() -> bool:
        return settled(new_pod) and all(
            reconciles(new_pod, kind) >= 3 * len(installed.objects.list(kind))
            for kind in ("Dataset", "TrainingJob", "ModelVersion")
        )

    wait_for(resynced, timeout=120, interval=1, what="three reconciles of every object")
    assert snapshot(installed) == before
    for kind, name in (
        ("Dataset", "iris"),
        ("TrainingJob", "iris-logreg"),
        ("ModelVersion", "iris-v1"),
    ):
        item = installed.objects.get(kind, name)
        ready = installed.objects.condition(kind, name, "Ready")
        assert ready and ready["status"] == "True", (kind, item.get("status"))
        assert item["status"]["observedGeneration"] == item["metadata"]["generation"]

    # helm uninstall: the operator, its RBAC and Services go; CRDs, objects and the store stay
    helm(kubeconfig, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "3m")
    wait_for(
        lambda: not operator_pods(core, NAMESPACE, RELEASE), timeout=120, what="operator pod gone"
    )
    left = chart_objects(installed)
    assert left == {
        "Deployment": [],
        "Pod": [],
        "ServiceAccount": [],
        "Service": [],
        "ConfigMap": [],
        "Role": [],
        "RoleBinding": [],
        "ClusterRole": [],
        "ClusterRoleBinding": [],
        # helm.sh/resource-policy: keep — the ModelVersions point into it
        "PersistentVolumeClaim": [f"{FULLNAME}-store"],
    }
    ext = kubernetes.client.ApiextensionsV1Api(installed.api)
    crds = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    assert {f"{plural}.mlops.dev" for plural in CRDS} <= crds
    assert snapshot(installed) == before
    assert [v["metadata"]["name"] for v in installed.objects.list("ModelVersion")] == ["iris-v1"]
    listed = helm(kubeconfig, "list", "-n", NAMESPACE, "-o", "json").stdout
    assert json.loads(listed) == []
