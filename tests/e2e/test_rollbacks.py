"""Two versions that fail, rolled back under load on the shared iris pipeline
(tests/e2e/pipeline.py), after test_pipeline.py: one whose server the real kubelet keeps
OOM-killing (a crash loop), one whose server stays up but never turns ready (the progress
deadline). Neither may cost a failed request."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.e2e.pipeline import NAMESPACE, Pipeline
from tests.support.cluster import wait_for
from tests.support.in_cluster import ContainerExits, oversized_copy, store_volume, write_model
from tests.support.load import Load

pytestmark = pytest.mark.e2e


def after_rollback(load: Load, answered: int, more: int = 100) -> None:
    """Traffic goes on after the rollback: wait until `more` further requests were answered."""
    wait_for(
        lambda: load.requests >= answered + more,
        timeout=120,
        interval=0.5,
        what=f"{more} requests after the rollback",
    )


def servers_settled(pipeline: Pipeline) -> None:
    """The stable model servers all run the current template and none is still terminating,
    so a test's traffic starts on a steady deployment (a restart's drain is not its subject)."""
    apps = kubernetes.client.AppsV1Api(pipeline.api)

    def settled() -> bool:
        deployment = apps.read_namespaced_deployment("iris", NAMESPACE)
        pods = pipeline.core.list_namespaced_pod(
            NAMESPACE, label_selector="mlops.dev/modeldeployment=iris"
        ).items
        stable = [p for p in pods if not p.metadata.name.startswith("iris-canary")]
        return (
            deployment.status.observed_generation == deployment.metadata.generation
            and deployment.status.updated_replicas == deployment.spec.replicas
            and deployment.status.ready_replicas == deployment.spec.replicas
            and len(stable) == deployment.spec.replicas
            and not any(p.metadata.deletion_timestamp for p in stable)
        )

    wait_for(settled, timeout=180, interval=1, what="the model servers settled")


def withdraw(pipeline: Pipeline, version: str) -> None:
    """Deletes a version that failed its rollout; the deployment is steady on iris-v2 again."""
    try:
        pipeline.objects.delete("ModelVersion", version)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise
    pipeline.wait_status("ModelDeployment", "iris", 120, "Healthy", phase="Healthy")


def store_path(pipeline: Pipeline) -> Path:
    [claim] = [
        c.metadata.name
        for c in pipeline.core.list_namespaced_persistent_volume_claim(NAMESPACE).items
        if c.metadata.name.endswith("-store")
    ]
    return store_volume(pipeline.core, NAMESPACE, claim)


def test_a_version_the_kubelet_keeps_killing_is_rolled_back_on_its_crash_loop(
    pipeline: Pipeline,
) -> None:
    """iris-v2's model with 150 MB of unused weights: it verifies (in the operator pod, 1 GiB)
    and predicts like iris-v2, but loading it takes ~550 MB, more than a serving pod may use.
    The real kubelet OOM-kills the server and restarts it until CrashLoopBackOff; the operator
    reads that from the pod status and rolls back, while traffic is answered by iris-v2."""
    objects = pipeline.objects
    limits = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "320Mi"}}
    # These versions are meant to be rolled out (and fail): no champion/challenger gate first.
    no_compare = {"promotion": {"compare": False}}
    objects.patch("ModelDeployment", "iris", {"spec": {"resources": limits, "model": no_compare}})
    generation = objects.get("ModelDeployment", "iris")["metadata"]["generation"]
    deadline = objects.get("ModelDeployment", "iris")["spec"]["progressDeadlineSeconds"]
    pipeline.wait_status(
        "ModelDeployment", "iris", 180, "observed", observedGeneration=generation, phase="Healthy"
    )
    servers_settled(pipeline)  # the new resources restarted them
    good = objects.get("ModelVersion", "iris-v2")["spec"]
    prefix, relative = good["artifact"]["uri"].split("/models/", 1)
    volume = store_path(pipeline)
    big = oversized_copy((volume / "models" / relative).read_bytes(), 150)
    sha256 = hashlib.sha256(big).hexdigest()
    uri, _ = write_model(volume, prefix, f"models/{NAMESPACE}/iris/{sha256}/model.onnx", big)
    crashing = copy.deepcopy(good)
    crashing["version"] = 3
    crashing["artifact"] = {**good["artifact"], "uri": uri, "sha256": sha256}

    try:
        crash_loop_rolled_back(pipeline, crashing, deadline)
    finally:
        withdraw(pipeline, "iris-v3")


def crash_loop_rolled_back(pipeline: Pipeline, crashing: dict[str, Any], deadline: int) -> None:
    objects = pipeline.objects
    selector = "mlops.dev/model-version=iris-v3"
    with (
        ContainerExits(pipeline.core, NAMESPACE, selector) as exits,
        Load(pipeline.url, threads=4, rate=20) as load,
    ):
        objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "iris-v3"},
                "spec": crashing,
            }
        )
        pipeline.wait_condition("ModelVersion", "iris-v3", "Ready", "True", timeout=180)
        status = pipeline.wait_status(
            "ModelDeployment",
            "iris",
            # well inside the progress deadline: only the crash loop can end this rollout
            deadline - 30,
            "rolled back",
            phase="RolledBack",
            servingVersion="iris-v2",
        )
        after_rollback(load, load.requests)
        load.stop()
    print(f"\nload during the crash-looping rollout: {load.summary()}; exits: {exits.seen}")
    failed = status["failedVersion"]
    assert failed["name"] == "iris-v3" and failed["reason"] == "CrashLoopBackOff", failed
    assert re.match(r"pod iris-canary-\S+: CrashLoopBackOff: ", failed["message"]), failed
    # what the kubelet saw: the container killed by the kernel's OOM killer (128 + SIGKILL)
    assert {(reason, code) for _, reason, code in exits.seen} == {("OOMKilled", 137)}, exits.seen
    assert exits.restarts >= 1
    assert load.failures == [] and load.requests > 200
    assert set(load.versions) == {"2"}
    events = pipeline.core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.kind=ModelDeployment,reason=RolledBack"
    ).items
    assert any("from iris-v3 to iris-v2: CrashLoopBackOff" in e.message for e in events), [
        e.message for e in events
    ]


def test_broken_version_is_rolled_back_without_failed_requests(pipeline: Pipeline) -> None:
    """A Ready ModelVersion whose signature names inputs the ONNX graph does not have: its
    artifact verifies, but the server refuses to load it, stays up and never turns ready, so
    the Deployment controller's progress deadline is what rolls it back."""
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
        "ModelDeployment", "iris", 120, "observed", observedGeneration=generation, phase="Healthy"
    )
    servers_settled(pipeline)
    good = objects.get("ModelVersion", "iris-v2")["spec"]
    broken = copy.deepcopy(good)
    broken["version"] = 4
    for column in broken["signature"]["inputs"]:
        column["name"] = f"{column['name']}_renamed"

    with Load(pipeline.url, threads=4, rate=20) as load:
        objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "iris-v4"},
                "spec": broken,
            }
        )
        pipeline.wait_condition("ModelVersion", "iris-v4", "Ready", "True", timeout=120)
        status = pipeline.wait_status(
            "ModelDeployment",
            "iris",
            240,
            "rolled back",
            phase="RolledBack",
            servingVersion="iris-v2",
        )
        answered_at_rollback = load.requests
        after_rollback(load, answered_at_rollback)
        load.stop()
    print(f"\nload during the failed rollout: {load.summary()}")
    assert status["failedVersion"]["name"] == "iris-v4"
    assert status["failedVersion"]["reason"] == "ProgressDeadlineExceeded", status["failedVersion"]
    assert load.failures == [] and load.requests > 200
    assert set(load.versions) == {"2"}  # the broken version never answered
    apps = kubernetes.client.AppsV1Api(pipeline.api)
    names = {d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items}
    assert "iris-canary" not in names
    events = pipeline.core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.kind=ModelDeployment,reason=RolledBack"
    ).items
    assert any("iris-v4" in e.message for e in events), [e.message for e in events]
    rolled_back = objects.condition("ModelDeployment", "iris", "RolledBack")
    assert rolled_back and rolled_back["status"] == "True"
