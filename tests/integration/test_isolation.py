"""Tenant isolation on the real control plane: from namespace b, every field that takes a URI or
a reference is pointed at namespace a's data, models and samples, and each attempt is refused,
at admission (CEL, the strict schema) or by the operator (Ready=False naming the field, with a
Warning Event, and no child made). The attempts and their refusals are printed (run with -s).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.support.cluster import Objects, wait_for

pytestmark = pytest.mark.integration

API = "mlops.dev/v1alpha1"
SHA = "0" * 64
# What lives in namespace a's part of the store (paths as artifacts/paths.py lays them out).
A_FILES = {
    "snapshot": f"datasets/a/iris/{SHA}/data.parquet",
    "profile": f"datasets/a/iris/{SHA}/profile.json",
    "model": f"models/a/iris/{SHA}/model.onnx",
    "samples": "samples/a/iris/iris-v1/part.parquet",
    "labels": "labels/a/iris/labels.parquet",
    "window": "production/a/drift/w1/train.parquet",
    "predictions": "predictions/a/nightly/run/part-00000.parquet",
    "run": "runs/a/iris/u/result.json",
}
TIMEOUT = 120.0


@pytest.fixture
def tenant_a(kube_api: kubernetes.client.ApiClient, store: str) -> Iterator[dict[str, str]]:
    """Namespace a's files in the store (its own namespace object too), as URIs."""
    root = Path(store.removeprefix("file://"))
    core = kubernetes.client.CoreV1Api(kube_api)
    name = f"a-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"mlops.dev/test": "true"}}})
    uris = {}
    for key, relative in A_FILES.items():
        path = root / relative.replace("/a/", f"/{name}/", 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"namespace a's private bytes")
        uris[key] = f"{store}/{relative.replace('/a/', f'/{name}/', 1)}"
    uris["namespace"] = name
    yield uris
    core.delete_namespace(name)


def _body(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def _dataset(name: str, uri: str, **spec: Any) -> dict[str, Any]:
    return _body("Dataset", name, {"source": {"uri": uri}, **spec})


def _model_version(name: str, uri: str, **spec: Any) -> dict[str, Any]:
    return _body(
        "ModelVersion",
        name,
        {
            "model": "iris",
            "version": int(name.rsplit("v", 1)[-1]),
            "task": "classification",
            "artifact": {"uri": uri, "format": "onnx", "sha256": SHA},
            "signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]},
            **spec,
        },
    )


def _batch(name: str, uri: str) -> dict[str, Any]:
    return _body(
        "BatchPrediction",
        name,
        {
            "model": {"modelVersionRef": {"name": "iris-v1"}},
            "input": {"source": {"uri": uri, "format": "parquet"}},
        },
    )


def _monitor(name: str, labels: str) -> dict[str, Any]:
    return _body(
        "DriftMonitor",
        name,
        {
            "target": {"deploymentRef": {"name": "iris"}},
            "performance": {"labels": {"uri": labels}},
        },
    )


def _symlink(store_root: str, b: str, target: str) -> str:
    """A file in b's part of the store that is a symlink to `target` (in a's part)."""
    link = Path(store_root.removeprefix("file://")) / "models" / b / "iris" / SHA / "model.onnx"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target.removeprefix("file://"))
    return f"{store_root}/models/{b}/iris/{SHA}/model.onnx"


def _admission_error(objects: Objects, body: dict[str, Any]) -> str:
    with pytest.raises(kubernetes.client.ApiException) as caught:
        objects.create(body)
    assert caught.value.status in (400, 422), caught.value.body
    return str(json.loads(str(caught.value.body))["message"])


def _refused(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        condition = objects.condition(kind, name, "Ready")
        refused = ("OutsideNamespace", "PathNotAllowed")
        if condition and condition["status"] == "False" and condition["reason"] in refused:
            return condition
        return None

    return wait_for(check, TIMEOUT, what=f"{kind} {name} refused")


def _warnings(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[str]:
    events = kubernetes.client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},type=Warning"
    )
    return [str(e.reason) for e in events.items]


def _jobs(api: kubernetes.client.ApiClient, namespace: str) -> list[str]:
    found = kubernetes.client.BatchV1Api(api).list_namespaced_job(namespace)
    return [str(j.metadata.name) for j in found.items]


def test_namespace_b_cannot_reach_namespace_a(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tenant_a: dict[str, str],
) -> None:
    a, b = tenant_a["namespace"], namespace
    store_root = store.rstrip("/")
    report: list[tuple[str, str, str]] = []

    # --- At admission: what a CEL rule or the strict schema can say without the namespace.
    admission: list[tuple[str, dict[str, Any], str]] = [
        (
            "Dataset spec.source.uri with `..` (datasets/b/../a/...)",
            _dataset(
                "dotdot", tenant_a["snapshot"].replace(f"/datasets/{a}/", f"/datasets/{b}/../{a}/")
            ),
            "spec.source.uri",
        ),
        (
            "Dataset spec.additionalSources[0].uri with `.` segments",
            _dataset(
                "dot",
                f"{store_root}/datasets/{b}/raw.csv",
                additionalSources=[
                    {"uri": tenant_a["window"].replace("/production/", "/./production/")}
                ],
            ),
            "spec.additionalSources[0].uri",
        ),
        (
            "Dataset spec.source.uri file:// naming a host",
            _dataset("host", "file://host" + tenant_a["snapshot"].removeprefix("file://")),
            "spec.source.uri",
        ),
        (
            "ModelVersion spec.artifact.uri with repeated slashes",
            _model_version("iris-v7", tenant_a["model"].replace(f"/models/{a}/", f"/models//{a}/")),
            "spec.artifact.uri",
        ),
        (
            "ModelVersion spec.lineage.profileUri with `..`",
            _model_version(
                "iris-v8",
                f"{store_root}/models/{b}/iris/{SHA}/model.onnx",
                lineage={"profileUri": f"{store_root}/datasets/{b}/../{a}/x/profile.json"},
            ),
            "spec.lineage.profileUri",
        ),
        (
            "BatchPrediction spec.input.source.uri with `..`",
            _batch("dotdot", f"{store_root}/predictions/{b}/../../predictions/{a}/nightly/"),
            "spec.input.source.uri",
        ),
        (
            "DriftMonitor spec.performance.labels.uri with `..`",
            _monitor("dotdot", f"{store_root}/labels/{b}/../{a}/iris"),
            "spec.performance.labels.uri",
        ),
        (
            "TrainingJob spec.datasetRef.namespace (refs take no namespace)",
            _body(
                "TrainingJob",
                "cross",
                {
                    "datasetRef": {"name": "iris", "namespace": a},
                    "model": "iris",
                    "estimator": "LogisticRegression",
                    "target": "target",
                },
            ),
            "spec.datasetRef.namespace",
        ),
        (
            "ModelDeployment spec.modelVersionRef.namespace",
            _body(
                "ModelDeployment", "cross", {"modelVersionRef": {"name": "iris-v1", "namespace": a}}
            ),
            "spec.modelVersionRef.namespace",
        ),
        (
            "BatchPrediction spec.model.modelVersionRef.namespace",
            _body(
                "BatchPrediction",
                "cross",
                {
                    "model": {"modelVersionRef": {"name": "iris-v1", "namespace": a}},
                    "input": {"datasetRef": {"name": "iris"}},
                },
            ),
            "spec.model.modelVersionRef.namespace",
        ),
        (
            "DriftMonitor spec.target.deploymentRef.namespace",
            _body(
                "DriftMonitor",
                "cross",
                {"target": {"deploymentRef": {"name": "iris", "namespace": a}}},
            ),
            "spec.target.deploymentRef.namespace",
        ),
    ]
    for attempt, body, field in admission:
        message = _admission_error(objects, body)
        assert field in message, f"{attempt}: {field!r} not in {message}"
        report.append((attempt, "admission", message))

    # --- By the operator: the namespace segment, paths outside the store, cross-namespace data.
    operator: list[tuple[str, Callable[[], dict[str, Any]], str, str, str]] = [
        ("Dataset spec.source.uri -> a's snapshot", lambda: _dataset("src", tenant_a["snapshot"]),
         "Dataset", "spec.source.uri", "OutsideNamespace"),
        ("Dataset spec.source.uri -> a's samples", lambda: _dataset("samples", tenant_a["samples"]),
         "Dataset", "spec.source.uri", "OutsideNamespace"),
        ("Dataset spec.additionalSources[0].uri -> a's production window",
         lambda: _dataset("extra", f"{store_root}/datasets/{b}/raw.csv",
                          additionalSources=[{"uri": tenant_a["window"]}]),
         "Dataset", "spec.additionalSources[0].uri", "OutsideNamespace"),
        ("Dataset spec.source.uri -> a file outside the store (no allowed prefix)",
         lambda: _dataset("host-file", "file:///etc/hostname"),
         "Dataset", "spec.source.uri", "PathNotAllowed"),
        ("Dataset spec.source.uri -> the store root (no namespace)",
         lambda: _dataset("root", f"{store_root}/runs"),
         "Dataset", "spec.source.uri", "PathNotAllowed"),
        ("ModelVersion spec.artifact.uri -> a's model", lambda: _model_version("iris-v1", tenant_a["model"]),
         "ModelVersion", "spec.artifact.uri", "OutsideNamespace"),
        ("ModelVersion spec.lineage.profileUri -> a's reference profile",
         lambda: _model_version("iris-v2", f"{store_root}/models/{b}/iris/{SHA}/model.onnx",
                                lineage={"profileUri": tenant_a["profile"]}),
         "ModelVersion", "spec.lineage.profileUri", "OutsideNamespace"),
        ("ModelVersion spec.lineage.productionWindow.uri -> a's window",
         lambda: _model_version("iris-v3", f"{store_root}/models/{b}/iris/{SHA}/model.onnx",
                                lineage={"productionWindow": {"monitor": "m", "uri": tenant_a["window"]}}),
         "ModelVersion", "spec.lineage.productionWindow.uri", "OutsideNamespace"),
        ("ModelVersion spec.lineage.runUri -> a's run record",
         lambda: _model_version("iris-v4", f"{store_root}/models/{b}/iris/{SHA}/model.onnx",
                                lineage={"runUri": tenant_a["run"]}),
         "ModelVersion", "spec.lineage.runUri", "OutsideNamespace"),
        ("ModelVersion spec.artifact.uri -> b's path, a symlink to a's model",
         lambda: _model_version("iris-v5", _symlink(store_root, b, tenant_a["model"])),
         "ModelVersion", "spec.artifact.uri", "OutsideNamespace"),
        ("BatchPrediction spec.input.source.uri -> a's predictions",
         lambda: _batch("preds", tenant_a["predictions"]),
         "BatchPrediction", "spec.input.source.uri", "OutsideNamespace"),
        ("BatchPrediction spec.input.source.uri -> a's snapshot", lambda: _batch("snap", tenant_a["snapshot"]),
         "BatchPrediction", "spec.input.source.uri", "OutsideNamespace"),
        ("DriftMonitor spec.performance.labels.uri -> a's labels",
         lambda: _monitor("labels", tenant_a["labels"]),
         "DriftMonitor", "spec.performance.labels.uri", "OutsideNamespace"),
        ("DriftMonitor spec.performance.labels.uri -> a file outside the store",
         lambda: _monitor("host-labels", "file:///etc/hostname"),
         "DriftMonitor", "spec.performance.labels.uri", "PathNotAllowed"),
    ]  # fmt: skip
    with running_operator(b):
        # The same kinds naming b's own part are accepted: a profile Job is made for this one.
        objects.create(_dataset("own", f"{store_root}/datasets/{b}/raw.csv"))
        wait_for(lambda: "own" in " ".join(_jobs(kube_api, b)), TIMEOUT, what="own profile Job")
        for attempt, make, kind, field, reason in operator:
            body = make()
            objects.create(body)
            condition = _refused(objects, kind, body["metadata"]["name"])
            assert condition["reason"] == reason, (attempt, condition)
            assert condition["message"].startswith(f"{field}: "), (attempt, condition)
            if reason == "OutsideNamespace":
                assert f"outside namespace {b}'s part of the store" in condition["message"]
            name = body["metadata"]["name"]
            wait_for(lambda n=name, r=reason: r in _warnings(kube_api, b, n), TIMEOUT,
                     what=f"Warning Event on {name}")  # fmt: skip
            report.append(
                (attempt, f"{kind} Ready=False {condition['reason']}", condition["message"])
            )
        # References by name resolve in b only: a's objects of the same names are not found.
        objects.create(
            _body("DriftMonitor", "ref", {"target": {"deploymentRef": {"name": "iris"}}})
        )
        condition = wait_for(
            lambda: (
                (c := objects.condition("DriftMonitor", "ref", "Ready"))
                and c["reason"] == "DeploymentNotFound"
                and c
            ),
            TIMEOUT,
            what="DriftMonitor ref DeploymentNotFound",
        )
        report.append(
            (
                "DriftMonitor spec.target.deploymentRef -> a name only a has",
                f"DriftMonitor Ready=False {condition['reason']}",
                condition["message"],
            )
        )
    jobs = _jobs(kube_api, b)
    assert all(j.startswith("own-") for j in jobs), jobs  # no child for any refused object

    print(f"\nisolation: {len(report)} attempts from namespace b against namespace a, all refused")
    for attempt, where, message in report:
        print(f"- {attempt}\n    {where}: {message}")
