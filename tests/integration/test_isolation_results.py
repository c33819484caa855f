"""Tenant isolation of the run results on the real control plane: a profile pod of namespace b
(played here, as the other integration tests play Job pods) leaves as its result a symlink
into namespace a's part of the file:// store, or a result naming a's document; the operator,
which has the whole store mounted, does not follow either: the Dataset ends Ready=False
OutsideNamespace naming the path, with a Warning Event, and a's data reaches no status.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.support.cluster import Objects, wait_for
from tests.support.kubelet import finish_pod

pytestmark = pytest.mark.integration

TIMEOUT = 120.0
SECRET = "namespace a's private metric"


@pytest.fixture
def tenant_a(kube_api: kubernetes.client.ApiClient, store: str) -> Iterator[tuple[str, Path]]:
    """Namespace a (its namespace object too) and a run result in its part of the store."""
    core = kubernetes.client.CoreV1Api(kube_api)
    name = f"a-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"mlops.dev/test": "true"}}})
    result = Path(store.removeprefix("file://")) / "runs" / name / "datasets" / "iris" / "p.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps({"ok": True, "passed": True, "rows": 150, "note": SECRET}))
    yield name, result
    core.delete_namespace(name)


def _dataset(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {"source": {"uri": "sklearn://iris"}},
    }


def _profile_job(api: kubernetes.client.ApiClient, namespace: str, name: str) -> Any:
    batch = kubernetes.client.BatchV1Api(api)

    def one() -> Any:
        jobs = batch.list_namespaced_job(namespace, label_selector=f"mlops.dev/dataset={name}")
        return jobs.items[0] if len(jobs.items) == 1 else None

    return wait_for(one, TIMEOUT, what=f"profile Job of {name}")


def _result_path(job: Any) -> Path:
    args = list(job.spec.template.spec.containers[0].args)
    return Path(str(args[args.index("--result-uri") + 1]).removeprefix("file://"))


def _refused(objects: Objects, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        condition = objects.condition("Dataset", name, "Ready")
        if condition and condition["status"] == "False" and condition["reason"] != "Profiling":
            return condition
        return None

    return wait_for(check, TIMEOUT, what=f"Dataset {name} Ready=False")


def _warnings(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[str]:
    events = kubernetes.client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},type=Warning"
    )
    return [str(e.reason) for e in events.items]


def test_a_result_linking_or_pointing_into_another_namespace_is_refused(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tenant_a: tuple[str, Path],
) -> None:
    a, a_result = tenant_a
    b = namespace
    with running_operator(b):
        # b's profile pod leaves a symlink to a's result where its own result belongs.
        objects.create(_dataset("linked"))
        linked = _result_path(_profile_job(kube_api, b, "linked"))
        assert f"/runs/{b}/" in str(linked)
        linked.parent.mkdir(parents=True, exist_ok=True)
        linked.symlink_to(a_result)
        finish_pod(kube_api, b, _profile_job(kube_api, b, "linked").metadata.name)

        # b's profile pod leaves a result that names a's document as its summary.
        objects.create(_dataset("pointing"))
        pointing = _result_path(_profile_job(kube_api, b, "pointing"))
        pointing.parent.mkdir(parents=True, exist_ok=True)
        pointing.write_text(json.dumps({"ok": True, "summaryUri": a_result.as_uri()}))
        finish_pod(kube_api, b, _profile_job(kube_api, b, "pointing").metadata.name)

        expected = {
            "linked": f"the run result: {linked} is a symlink that leads outside namespace "
            f"{b}'s part of the store; it is not read",
            "pointing": f"the run result's summaryUri: {a_result.as_uri()} is outside namespace "
            f"{b}'s part of the store (it is in namespace {a}'s;",
        }
        for name, message in expected.items():
            condition = _refused(objects, name)
            assert condition["reason"] == "OutsideNamespace", condition
            assert condition["message"].startswith(message), condition
            status = objects.get("Dataset", name)["status"]
            assert status["phase"] == "Failed" and status["failureReason"] == "OutsideNamespace"
            assert SECRET not in json.dumps(status) and "rows" not in status
            wait_for(lambda n=name: "OutsideNamespace" in _warnings(kube_api, b, n), TIMEOUT,
                     what=f"Warning Event on {name}")  # fmt: skip
            print(f"\n{name}: Dataset Ready=False OutsideNamespace: {condition['message']}")
