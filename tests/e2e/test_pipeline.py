"""The iris pipeline on the local cluster, as `make demo` runs it, with assertions.

The tests run in order on the one pipeline of tests/e2e/pipeline.py: train and serve, the loop
learning from labeled production traffic, kstatus and the Argo CD health check on the real
objects, and the operator killed while a training Job runs (test_rollbacks.py then fails two
versions on the same pipeline). No assert is on elapsed time: waits end on events, with
generous timeouts.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from tests.e2e.pipeline import KINDS, NAMESPACE, RELEASE, TRAINING_LABEL, Pipeline
from tests.support.cluster import wait_for
from tests.support.in_cluster import reconciles, settled
from tests.support.load import ROWS, Load, v2_body
from tests.support.release import operator_pods, wait_operator_ready
from tests.unit.test_gitops_health import health

pytestmark = pytest.mark.e2e


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

    shifted_answers = send_labeled(pipeline, (shifted * 3)[:450], (species * 3)[:450])
    assert shifted_answers < 0.6  # the served model is wrong about the new instrument
    pipeline.wait_condition("DriftMonitor", "iris", "PerformanceDegraded", "True", timeout=180)
    after = pipeline.status("DriftMonitor", "iris")["performance"]
    print(f"live accuracy after the shift: {after['realized']} ({after['labeled']} labels)")
    assert after["realized"] < before["realized"] - 0.1
    assert after["labeled"] == 400  # the window: the newest 400 predictions, all shifted
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


def test_operator_killed_mid_training_recovers_without_a_duplicate_job(pipeline: Pipeline) -> None:
    base = pipeline.objects.get("TrainingJob", "iris-logreg")["spec"]
    # A forest of 300 trees: a training pod that runs for seconds, not a blink.
    spec = {
        **copy.deepcopy(base),
        "model": "iris-restart",
        "estimator": "RandomForestClassifier",
        "hyperparameters": {"n_estimators": 300},
    }
    pipeline.objects.create(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": "iris-restart"},
            "spec": spec,
        }
    )

    def training() -> Any:
        """The Job, once its pod's trainer container is running."""
        jobs = pipeline.jobs_of("iris-restart")
        pods = pipeline.core.list_namespaced_pod(
            NAMESPACE, label_selector=f"{TRAINING_LABEL}=iris-restart"
        ).items
        running = [
            p
            for p in pods
            if p.status.phase == "Running"
            and p.status.container_statuses
            and all(c.state.running for c in p.status.container_statuses)
        ]
        return jobs[0] if len(jobs) == 1 and jobs[0].status.active and running else None

    wait_for(training, timeout=180, interval=0.1, what="the training pod of iris-restart running")
    [operator] = operator_pods(pipeline.core, NAMESPACE, RELEASE)
    pipeline.core.delete_namespaced_pod(
        operator.metadata.name, NAMESPACE, grace_period_seconds=0, propagation_policy="Background"
    )
    # The kill landed mid-training: right after it, the Job is still running and unfinished.
    [job] = pipeline.jobs_of("iris-restart")
    assert job.status.active == 1 and not job.status.succeeded and not job.status.failed, job.status
    replacement = wait_operator_ready(pipeline.core, NAMESPACE, RELEASE)
    assert replacement.metadata.name != operator.metadata.name

    status = pipeline.wait_status(
        "TrainingJob", "iris-restart", 300, "Succeeded", phase="Succeeded"
    )
    assert [j.metadata.name for j in pipeline.jobs_of("iris-restart")] == [job.metadata.name]
    assert status["jobName"] == job.metadata.name
    assert registered_versions(pipeline, "iris-restart") == [status["modelVersion"]]
    assert status["modelVersion"] == "iris-restart-v1"

    # One more reconcile of the finished TrainingJob by the new operator (a label change wakes
    # it; its reconcile counter says when it ran): still one Job, one version.
    before = reconciles(replacement, "TrainingJob")
    pipeline.objects.patch(
        "TrainingJob", "iris-restart", {"metadata": {"labels": {"mlops.dev/e2e": "touched"}}}
    )
    wait_for(
        lambda: reconciles(replacement, "TrainingJob") > before and settled(replacement),
        timeout=60,
        interval=0.5,
        what="the restarted operator to reconcile iris-restart again",
    )
    assert len(pipeline.jobs_of("iris-restart")) == 1
    assert registered_versions(pipeline, "iris-restart") == ["iris-restart-v1"]


def registered_versions(pipeline: Pipeline, model: str) -> list[str]:
    return [
        v["metadata"]["name"]
        for v in pipeline.objects.list("ModelVersion")
        if v["spec"]["model"] == model
    ]
