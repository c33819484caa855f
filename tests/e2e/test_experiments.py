"""Experiments on the real cluster: a LightGBM search (4 trials, 2 at a time) and the example's
custom training container — its image built FROM the project image with buildah and imported
into the node's containerd, no registry — trained, registered and served.

Its own release watching only its own namespace (so no other release's objects are touched and
nothing here is another's), removed at the end with the trainer image.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from tests.support.cluster import Objects, wait_for
from tests.support.load import ROWS
from tests.support.local_cluster import LocalCluster
from tests.support.release import (
    IMAGE,
    ROOT,
    build_image,
    helm,
    install,
    kubectl,
    remove_leftovers,
    remove_node_image,
)

pytestmark = pytest.mark.e2e

NAMESPACE = "mlops-e2e-experiments"
RELEASE = "e2e-experiments"
EXAMPLE = ROOT / "manifests" / "examples" / "custom-trainer"
TRAINER_IMAGE = "iris-trainer:e2e"
TRAINING_LABEL = "mlops.dev/trainingjob"


def build_trainer_image(work: Path) -> None:
    """The example's Containerfile FROM the project image, imported into containerd."""
    run_dir = Path(os.environ.get("MLOPS_CLUSTER_RUN", "/run/mlops-cluster"))
    archive = work / "iris-trainer.tar"
    for command in (
        ["buildah", "bud", "--pull=never", "--isolation=chroot", "--quiet",
         "--build-arg", f"BASE={IMAGE}", "-f", str(EXAMPLE / "Containerfile"),
         "-t", TRAINER_IMAGE, str(EXAMPLE)],
        ["buildah", "push", "--quiet", TRAINER_IMAGE,
         f"docker-archive:{archive}:{TRAINER_IMAGE}"],
        ["ctr", "--address", str(run_dir / "containerd.sock"), "-n", "k8s.io", "images",
         "import", str(archive)],
    ):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{command[:2]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


def pause_other_operators(api: kubernetes.client.ApiClient) -> list[tuple[str, str, int]]:
    """Scale every other release's operator to 0 while this module runs: a cluster-wide one
    (a finished `make demo` leaves one) would reconcile this namespace's objects too, with its
    own store claim. Returned to be restored, as (namespace, name, replicas)."""
    apps = kubernetes.client.AppsV1Api(api)
    paused = []
    selector = "app.kubernetes.io/name=mlops-operator"
    for deployment in apps.list_deployment_for_all_namespaces(label_selector=selector).items:
        meta = deployment.metadata
        if meta.namespace == NAMESPACE or not deployment.spec.replicas:
            continue
        paused.append((meta.namespace, meta.name, deployment.spec.replicas))
        apps.patch_namespaced_deployment_scale(meta.name, meta.namespace,
                                               {"spec": {"replicas": 0}})  # fmt: skip
    return paused


def restore_operators(api: kubernetes.client.ApiClient, paused: list[tuple[str, str, int]]) -> None:
    apps = kubernetes.client.AppsV1Api(api)
    for namespace, name, replicas in paused:
        with contextlib.suppress(kubernetes.client.ApiException):  # uninstalled meanwhile
            apps.patch_namespaced_deployment_scale(
                name, namespace, {"spec": {"replicas": replicas}}
            )


class Lab:
    def __init__(self, cluster: LocalCluster, api: kubernetes.client.ApiClient) -> None:
        self.cluster, self.api = cluster, api
        self.objects = Objects(api, NAMESPACE)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return self.objects.get(kind, name).get("status") or {}

    def wait_phase(self, kind: str, name: str, phase: str, timeout: float) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(kind, name)
            if status.get("phase") == "Failed" and phase != "Failed":
                raise AssertionError(f"{kind} {name} failed: {status}")
            return status if status.get("phase") == phase else None

        return wait_for(reached, timeout=timeout, interval=2, what=f"{kind} {name} {phase}")

    def kubectl(self, *args: str) -> str:
        return kubectl(self.cluster.kubeconfig, *args, "-n", NAMESPACE).stdout

    def trial_jobs(self, name: str) -> list[Any]:
        batch = kubernetes.client.BatchV1Api(self.api)
        jobs = batch.list_namespaced_job(NAMESPACE, label_selector=f"{TRAINING_LABEL}={name}")
        return list(jobs.items)


@pytest.fixture(scope="module")
def lab(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    kubeconfig = local_cluster.kubeconfig
    build_image()
    build_trainer_image(tmp_path_factory.mktemp("trainer-image"))
    api = kubernetes.client.ApiClient(local_cluster.config)
    paused = pause_other_operators(api)
    try:
        remove_leftovers(kubeconfig, RELEASE, NAMESPACE)  # of an interrupted earlier run
        install(kubeconfig, RELEASE, NAMESPACE, {"watchNamespaces": [NAMESPACE]})
        lab = Lab(local_cluster, api)
        lab.kubectl("apply", "-f", str(ROOT / "manifests/examples/iris/dataset.yaml"))
        lab.wait_phase("Dataset", "iris", "Ready", 300)
        yield lab
    finally:
        if os.environ.get("MLOPS_E2E_KEEP") != "1":
            helm(kubeconfig, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
            kubectl(kubeconfig, "delete", "namespace", NAMESPACE, "--ignore-not-found",
                    "--wait=true", "--timeout=240s", timeout=300, check=False)  # fmt: skip
            remove_node_image(TRAINER_IMAGE)
        restore_operators(api, paused)  # after this namespace is gone
        api.close()


def test_a_lightgbm_search_on_the_cluster(lab: Lab) -> None:
    name = "iris-lgbm-search"
    lab.objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": name},
        "spec": {
            "datasetRef": {"name": "iris"}, "model": "iris-lgbm", "estimator": "LGBMClassifier",
            "hyperparameters": {"n_estimators": 20, "min_child_samples": 5},
            "target": "target", "acceptance": [{"metric": "accuracy", "min": 0.85}],
            "search": {"algorithm": "random", "objective": {"metric": "accuracy"},
                       "maxTrials": 4, "parallelism": 2, "seed": 1,
                       "parameters": [
                           {"name": "num_leaves", "type": "int", "min": 4, "max": 16},
                           {"name": "learning_rate", "type": "float", "min": 0.05, "max": 0.5,
                            "log": True}]},
        },
    })  # fmt: skip
    status = lab.wait_phase("TrainingJob", name, "Succeeded", 600)
    shown = lab.kubectl("get", "tj", name, "-o", "wide")
    print(f"\n{shown}")
    search = status["search"]
    assert (search["progress"], search["succeeded"], search["failed"]) == ("4/4", 4, 0)
    assert len(lab.trial_jobs(name)) == 4
    assert shown.splitlines()[1].split()[5] == "4/4"
    mv = lab.objects.get("ModelVersion", status["modelVersion"])["spec"]
    assert mv["estimator"] == "LGBMClassifier" and mv["artifact"]["format"] == "onnx"
    assert mv["lineage"]["search"]["trials"] == 4
    assert mv["lineage"]["search"]["value"] == search["best"]["value"] >= 0.85
    assert mv["metrics"]["accuracy"] == search["best"]["metrics"]["accuracy"]


def test_the_custom_trainer_example_trains_and_serves(lab: Lab) -> None:
    manifest = yaml.safe_load((EXAMPLE / "trainingjob.yaml").read_text())
    manifest["spec"]["container"]["image"] = TRAINER_IMAGE
    name = manifest["metadata"]["name"]
    lab.objects.create(manifest)
    status = lab.wait_phase("TrainingJob", name, "Succeeded", 900)
    print(f"\n{lab.kubectl('get', 'tj', name, '-o', 'wide')}")
    budget = manifest["spec"]["search"]["maxTrials"]
    assert status["search"]["progress"] == f"{budget}/{budget}"
    jobs = lab.trial_jobs(name)
    assert len(jobs) == budget
    assert {j.spec.template.spec.init_containers[0].image for j in jobs} == {TRAINER_IMAGE}
    version = status["modelVersion"]
    mv = lab.objects.get("ModelVersion", version)
    assert mv["spec"]["estimator"] == f"container:{TRAINER_IMAGE}"
    assert mv["spec"]["lineage"]["image"] == TRAINER_IMAGE
    assert mv["spec"]["artifact"]["format"] == "onnx"
    # The TrainingJob succeeds once the version is registered; verifying it is the
    # ModelVersion's own step (a Job of its own), which may still be running.
    verified = wait_for(
        lambda: (lab.objects.condition("ModelVersion", version, "Ready") or {}).get("reason")
        in ("Verified", "VerificationFailed", "ArtifactInvalid")
        and lab.objects.condition("ModelVersion", version, "Ready"),
        timeout=300, interval=2, what=f"ModelVersion {version} verified",
    )  # fmt: skip
    assert verified["reason"] == "Verified", verified

    lab.objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
        "metadata": {"name": "iris-custom"},
        "spec": {"modelVersionRef": {"name": version}, "replicas": 1,
                 "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}}},
    })  # fmt: skip
    wait_for(
        lambda: lab.status("ModelDeployment", "iris-custom").get("servingVersion") == version,
        timeout=300, interval=2, what=f"ModelDeployment iris-custom serving {version}",
    )  # fmt: skip
    service = kubernetes.client.CoreV1Api(lab.api).read_namespaced_service("iris-custom", NAMESPACE)
    url = f"http://{service.spec.cluster_ip}/v1/models/iris-custom:predict"

    def predict() -> dict[str, Any]:
        request = urllib.request.Request(
            url, data=json.dumps({"instances": list(ROWS)}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    answer = wait_for(predict, timeout=60, interval=1, what=f"a prediction at {url}")
    print(f"\nPOST {url} {json.dumps({'instances': list(ROWS)})}\n-> {json.dumps(answer)}")
    labels = [p["label"] if isinstance(p, dict) else p for p in answer["predictions"]]
    assert labels == ["setosa", "virginica", "versicolor"]
