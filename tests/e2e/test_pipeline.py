"""The iris pipeline on the local cluster, as `make demo` runs it, with assertions.

The chart is installed (the image `make image` built) into a namespace that enforces the Pod
Security Standard `restricted`, and manifests/examples/iris is applied once for the module; the
tests then run in order on that one pipeline: train and serve, drift and retrain, kstatus and
the Argo CD health check on the real objects, a broken version rolled back under load, and the
operator killed mid-training. Requests go from this host to the Service's ClusterIP (kube-proxy).
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
from tests.support.cluster import Objects, wait_for
from tests.support.load import ROWS, Load, v2_body
from tests.support.local_cluster import LocalCluster
from tests.support.release import (
    build_image,
    install,
    kubectl,
    operator_pods,
    remove_everything,
    wait_operator_ready,
)
from tests.unit.test_gitops_health import health

pytestmark = pytest.mark.e2e

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


@pytest.fixture(scope="module")
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


def test_dataset_training_model_version_and_serving(pipeline: Pipeline) -> None:
    dataset = pipeline.wait_status("Dataset", "iris", 60, "Ready", phase="Ready")
    assert re.fullmatch(r"[0-9a-f]{64}", dataset["version"]) and dataset["rows"] == 150
    assert dataset["profileUri"].endswith(f"{dataset['version']}/profile.json")

    training = pipeline.status("TrainingJob", "iris-logreg")
    assert training["phase"] == "Succeeded" and training["modelVersion"] == "iris-v1"
    assert training["metrics"]["accuracy"] >= 0.9 and 0 < training["metrics"]["f1"] <= 1
    assert training["datasetVersion"] == dataset["version"]
    assert [j.metadata.name for j in pipeline.jobs_of("iris-logreg")] == [training["jobName"]]

    version = pipeline.objects.get("ModelVersion", "iris-v1")
    assert pipeline.objects.condition("ModelVersion", "iris-v1", "Ready")["status"] == "True"
    assert version["spec"]["model"] == "iris" and version["spec"]["version"] == 1
    assert version["spec"]["artifact"]["format"] == "onnx"

    deployment = pipeline.status("ModelDeployment", "iris")
    assert deployment["phase"] == "Healthy" and deployment["servingVersion"] == "iris-v1"

    v1 = pipeline.post("/v1/models/iris:predict", {"instances": ROWS[:2]})
    assert v1["predictions"] == ["setosa", "virginica"]
    v2 = pipeline.post("/v2/models/iris/infer", v2_body(ROWS[0]))
    assert v2["model_version"] == "1"
    assert pipeline.apply_to_prediction < 240


def send_labeled(pipeline: Pipeline, rows: list[list[float]], species: list[str]) -> float:
    """Predict `rows` 10 at a time through the Service, then send each prediction's true
    species to the feedback endpoint by its id; returns the share of right answers."""
    right = 0
    for start in range(0, len(rows), 10):
        answer = pipeline.post("/v1/models/iris:predict", {"instances": rows[start : start + 10]})
        truth = species[start : start + 10]
        right += sum(p == t for p, t in zip(answer["predictions"], truth, strict=True))
        labels = [{"id": i, "label": t} for i, t in zip(answer["ids"], truth, strict=True)]
        accepted = pipeline.post("/v2/models/iris/feedback", {"labels": labels})
        assert accepted == {"accepted": len(labels)}
    return right / len(rows)


def judged(pipeline: Pipeline, version: str, labeled: int) -> dict[str, Any] | None:
    performance = pipeline.status("DriftMonitor", "iris").get("performance") or {}
    if performance.get("version") == version and performance.get("labeled", 0) >= labeled:
        return performance if performance.get("realized") is not None else None
    return None


def test_the_loop_learns_from_labeled_production_traffic(pipeline: Pipeline) -> None:
    """The demo's story: live accuracy from labels sent to the feedback API; the world shifts
    and accuracy falls; one retrain on the labeled production rows; the challenger beats the
    champion on held-out production rows; canary under load; accuracy recovers."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    flowers = bunch.data.tolist()
    species = [str(bunch.target_names[t]) for t in bunch.target]
    order = list(range(150))
    plain = [flowers[i] for i in order[::-1]] + flowers[:50]
    plain_species = [species[i] for i in order[::-1]] + species[:50]
    shifted = [[a, b, c + 3.0, d + 3.0] for a, b, c, d in flowers]

    answered = send_labeled(pipeline, plain, plain_species)
    before = wait_for(lambda: judged(pipeline, "iris-v1", 200), 180, 2, "accuracy of iris-v1")
    print(f"\nlive accuracy before the shift: {before['realized']} ({before['labeled']} labels)")
    assert before["realized"] >= 0.9 and abs(before["realized"] - answered) < 0.02
    assert before["estimated"] is not None and before["training"] >= 0.9

    shifted_answers = send_labeled(pipeline, (shifted * 3)[:400], (species * 3)[:400])
    assert shifted_answers < 0.6  # the served model is wrong about the new instrument
    pipeline.wait_condition("DriftMonitor", "iris", "PerformanceDegraded", "True", timeout=180)
    after = pipeline.status("DriftMonitor", "iris")["performance"]
    print(f"live accuracy after the shift: {after['realized']} ({after['labeled']} labels)")
    assert after["realized"] < before["realized"] - 0.1
    monitor = pipeline.status("DriftMonitor", "iris")
    assert monitor["retrainsTriggered"] == 1
    assert monitor["lastRetrain"]["trigger"] == "performance"
    retrain = monitor["lastRetrain"]["trainingJob"]
    dataset = pipeline.objects.get("Dataset", monitor["lastRetrain"]["dataset"])
    assert dataset["spec"]["source"]["uri"].endswith("/train.parquet")  # productionData: replace

    trained = pipeline.wait_status("TrainingJob", retrain, 300, "Succeeded", phase="Succeeded")
    assert trained["modelVersion"] == "iris-v2"
    lineage = pipeline.objects.get("ModelVersion", "iris-v2")["spec"]["lineage"]
    assert lineage["productionWindow"]["monitor"] == "iris"

    def verdict() -> dict[str, Any] | None:
        challenge = pipeline.status("ModelVersion", "iris-v2").get("challenge")
        return challenge if challenge and challenge.get("verdict") else None

    challenge = wait_for(verdict, 300, 2, "the champion/challenger verdict")
    print(f"champion vs challenger: {pipeline.status('ModelDeployment', 'iris')['challenge']}")
    assert challenge["verdict"] == "Won" and challenge["data"] == "production-holdout"
    assert challenge["challengerValue"] > challenge["championValue"]

    with Load(pipeline.url, threads=4, rate=20) as load:
        pipeline.wait_status(
            "ModelDeployment",
            "iris",
            300,
            "serving iris-v2",
            servingVersion="iris-v2",
            phase="Healthy",
        )
        load.stop()
    print(f"load during the rollout: {load.summary()}")
    assert load.failures == [] and load.versions["1"] > 0 and load.versions["2"] > 0
    assert pipeline.post("/v2/models/iris/infer", v2_body(shifted[120]))["model_version"] == "2"

    send_labeled(pipeline, shifted[::-1], species[::-1])
    recovered = wait_for(lambda: judged(pipeline, "iris-v2", 100), 180, 2, "accuracy of iris-v2")
    print(f"live accuracy after promotion: {recovered['realized']} ({recovered['labeled']} labels)")
    assert recovered["realized"] >= 0.9
    pipeline.wait_condition("DriftMonitor", "iris", "PerformanceDegraded", "False", timeout=120)
    training_jobs = {t["metadata"]["name"] for t in pipeline.objects.list("TrainingJob")}
    assert training_jobs == {"iris-logreg", retrain}
    assert pipeline.status("DriftMonitor", "iris")["retrainsTriggered"] == 1


def test_every_kind_is_current_and_healthy_for_argocd(pipeline: Pipeline) -> None:
    """kstatus "Current" (Ready=True at the observed generation) and Argo CD's Lua health check
    (manifests/gitops/argocd-health.lua) on the objects as the API server returns them."""

    def verdicts() -> dict[str, tuple[str, str]]:
        out = {}
        for kind in KINDS:
            for item in pipeline.objects.list(kind):
                status = item.get("status") or {}
                ready = next(
                    (c for c in status.get("conditions") or [] if c["type"] == "Ready"), {}
                )
                current = (
                    ready.get("status") == "True"
                    and status.get("observedGeneration") == item["metadata"]["generation"]
                )
                out[f"{kind}/{item['metadata']['name']}"] = (
                    "Current" if current else f"not current: {status}",
                    health(item)[0],
                )
        return out

    def all_healthy() -> dict[str, tuple[str, str]] | None:
        found = verdicts()
        return found if all(v == ("Current", "Healthy") for v in found.values()) else None

    try:
        found = wait_for(all_healthy, timeout=90, interval=2, what="every object Current, Healthy")
    except TimeoutError as error:
        raise AssertionError(f"{error}: {verdicts()}") from None
    assert {name.split("/")[0] for name in found} == set(KINDS)
    assert len(found) >= 7  # ds, 2 tj, 2 mv, mdep, dm


def test_broken_version_is_rolled_back_without_failed_requests(pipeline: Pipeline) -> None:
    """A Ready ModelVersion whose signature names inputs the ONNX graph does not have: its
    artifact verifies, but the server refuses to load it and never turns ready."""
    objects = pipeline.objects
    # Without the champion/challenger comparison: it would refuse the broken version before
    # any rollout (the compare run cannot load it), and this test is about the rollback.
    objects.patch(
        "ModelDeployment",
        "iris",
        {"spec": {"progressDeadlineSeconds": 30, "model": {"promotion": {"compare": False}}}},
    )
    generation = objects.get("ModelDeployment", "iris")["metadata"]["generation"]
    pipeline.wait_status(
        "ModelDeployment", "iris", 60, "observed", observedGeneration=generation, phase="Healthy"
    )
    good = objects.get("ModelVersion", "iris-v2")["spec"]
    broken = copy.deepcopy(good)
    broken["version"] = 3
    for column in broken["signature"]["inputs"]:
        column["name"] = f"{column['name']}_renamed"

    with Load(pipeline.url, threads=4, rate=20) as load:
        objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "iris-v3"},
                "spec": broken,
            }
        )
        pipeline.wait_condition("ModelVersion", "iris-v3", "Ready", "True", timeout=120)
        status = pipeline.wait_status(
            "ModelDeployment",
            "iris",
            240,
            "rolled back",
            phase="RolledBack",
            servingVersion="iris-v2",
        )
        time.sleep(5)  # traffic after the rollback, too
        load.stop()
    print(f"\nload during the failed rollout: {load.summary()}")
    assert status["failedVersion"]["name"] == "iris-v3"
    assert status["failedVersion"]["reason"], status["failedVersion"]
    assert load.failures == [] and load.requests > 200
    assert set(load.versions) == {"2"}  # the broken version never answered
    apps = kubernetes.client.AppsV1Api(pipeline.api)
    names = {d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items}
    assert "iris-canary" not in names
    events = pipeline.core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.kind=ModelDeployment,reason=RolledBack"
    ).items
    assert any("iris-v3" in e.message for e in events), [e.message for e in events]
    rolled_back = objects.condition("ModelDeployment", "iris", "RolledBack")
    assert rolled_back and rolled_back["status"] == "True"


def test_operator_killed_mid_training_recovers_without_a_duplicate_job(pipeline: Pipeline) -> None:
    base = pipeline.objects.get("TrainingJob", "iris-logreg")["spec"]
    spec = {**copy.deepcopy(base), "model": "iris-restart"}
    pipeline.objects.create(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": "iris-restart"},
            "spec": spec,
        }
    )

    def running_pod() -> Any:
        pods = pipeline.core.list_namespaced_pod(
            NAMESPACE, label_selector=f"{TRAINING_LABEL}=iris-restart"
        ).items
        return next((p for p in pods if p.status.phase in ("Pending", "Running")), None)

    wait_for(running_pod, timeout=120, interval=0.1, what="the training pod of iris-restart")
    [operator] = operator_pods(pipeline.core, NAMESPACE, RELEASE)
    pipeline.core.delete_namespaced_pod(
        operator.metadata.name, NAMESPACE, grace_period_seconds=0, propagation_policy="Background"
    )
    [job] = pipeline.jobs_of("iris-restart")
    active_when_killed = bool(job.status.active)
    replacement = wait_operator_ready(pipeline.core, NAMESPACE, RELEASE)
    assert replacement.metadata.name != operator.metadata.name

    status = pipeline.wait_status(
        "TrainingJob", "iris-restart", 300, "Succeeded", phase="Succeeded"
    )
    print(f"\nJob {job.metadata.name} active when the operator was killed: {active_when_killed}")
    assert [j.metadata.name for j in pipeline.jobs_of("iris-restart")] == [job.metadata.name]
    assert status["jobName"] == job.metadata.name
    registered = [
        v["metadata"]["name"]
        for v in pipeline.objects.list("ModelVersion")
        if v["spec"]["model"] == "iris-restart"
    ]
    assert registered == [status["modelVersion"]] == ["iris-restart-v1"]
    # give the restarted operator a few reconcile rounds: still one Job, one version
    time.sleep(10)
    assert len(pipeline.jobs_of("iris-restart")) == 1
    assert (
        len(
            [
                v
                for v in pipeline.objects.list("ModelVersion")
                if v["spec"]["model"] == "iris-restart"
            ]
        )
        == 1
    )
