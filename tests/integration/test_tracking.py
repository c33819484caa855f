"""Runs tracked in a real MLflow server: the operator setting puts MLFLOW_TRACKING_URI in the
training pods, each trial of a search is logged there (parameters, metrics per fold and
mean, tags with the dataset sha and TrainingJob), read back through MLflow's REST API."""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
import urllib.request
from typing import Any

import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.integration.test_search_restart import SEARCH, searching, trial_jobs, unfinished
from tests.integration.test_training_flow import ready, ready_iris
from tests.support.cluster import Objects, wait_for
from tests.support.kubelet import finish_pod
from tests.support.mlflow_server import mlflow_server

from mlops_operator.cli import main as cli
from mlops_operator.handlers import trainingjob as handler

pytestmark = pytest.mark.integration
DIGEST = "sha256:" + "5e" * 32
IMAGE_ID = f"registry.example/mlops-operator@{DIGEST}"


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        document: dict[str, Any] = json.loads(answer.read())
    return document


def run_as_pod(job: Any, tmp_path: Any) -> None:
    """The pod's command with the pod's environment, as a kubelet would start it."""
    container = job.spec.template.spec.containers[0]
    env = {e.name: e.value for e in container.env or [] if e.value is not None}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        args = list(container.args)
        assert cli([*args, "--termination-log", str(tmp_path / f"{job.metadata.name}.log")]) == 0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_search_trials_are_logged_to_a_real_mlflow_server(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    search = {**SEARCH, "maxTrials": 4, "parallelism": 2, "pruning": None}
    del search["pruning"]
    with mlflow_server(tmp_path) as url:
        monkeypatch.setattr(
            handler, "CONFIG", dataclasses.replace(handler.CONFIG, mlflow_tracking_uri=url)
        )
        with running_operator(namespace):
            ready_iris(kube_api, namespace, objects, tmp_path)
            objects.create(searching("tracked", search=search))
            done: set[str] = set()
            while len(done) < 4:
                jobs = wait_for(
                    lambda: [j for j in unfinished(trial_jobs(kube_api, namespace, "tracked"))
                             if j.metadata.name not in done],
                    120, what="a trial Job",
                )  # fmt: skip
                for job in jobs:
                    env = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
                    assert env["MLFLOW_TRACKING_URI"] == url
                    run_as_pod(job, tmp_path)
                    finish_pod(kube_api, namespace, job.metadata.name, image_id=IMAGE_ID)
                    done.add(job.metadata.name)
            wait_for(lambda: ready(objects, "TrainingJob", "tracked"), 120, what="search Ready")

        status = objects.get("TrainingJob", "tracked")["status"]
        dataset_sha = status["datasetVersion"]
        with urllib.request.urlopen(
            f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name={namespace}/tracked",
            timeout=10,
        ) as answer:
            experiment_id = json.loads(answer.read())["experiment"]["experiment_id"]
        runs = post(
            f"{url}/api/2.0/mlflow/runs/search",
            {"experiment_ids": [experiment_id], "max_results": 50},
        )["runs"]
        mv = objects.get("ModelVersion", status["modelVersion"])
        registered = mv["spec"]["lineage"]["mlflow"]
        with urllib.request.urlopen(
            f"{url}/api/2.0/mlflow/model-versions/get?name={registered['registeredModel']}"
            f"&version={registered['version']}",
            timeout=10,
        ) as answer:
            mlflow_version = json.loads(answer.read())["model_version"]
        query = urllib.parse.urlencode({"filter": f"name='{namespace}.{mv['spec']['model']}'"})
        with urllib.request.urlopen(
            f"{url}/api/2.0/mlflow/model-versions/search?{query}", timeout=10
        ) as answer:
            versions = json.loads(answer.read()).get("model_versions", [])

    # The ModelVersion is the registered model's version made by its trial's run.
    assert mv["spec"]["lineage"]["imageDigest"] == DIGEST
    assert registered["registeredModel"] == f"{namespace}.{mv['spec']['model']}"
    version_tags = {t["key"]: t["value"] for t in mlflow_version.get("tags", [])}
    assert mlflow_version["run_id"] == registered["runId"]
    assert version_tags["mlops.dev/artifact-sha256"] == mv["spec"]["artifact"]["sha256"]
    assert version_tags["mlops.dev/trial"] == str(mv["spec"]["lineage"]["search"]["trial"])
    # Each accepted trial's model is a version; the ModelVersion names the best one's.
    assert registered["version"] in {v["version"] for v in versions}

    print("\nMLflow runs of", f"{namespace}/tracked:")
    for run in sorted(runs, key=lambda r: r["info"]["run_name"]):
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        print(
            f"  {run['info']['run_name']:<20} {run['info']['status']:<9} accuracy={metrics.get('accuracy'):.4f} "
            f"max_depth={params.get('max_depth')} criterion={params.get('criterion')}"
        )
    assert len(runs) == 4
    names = sorted(r["info"]["run_name"] for r in runs)
    assert names == [f"tracked-trial-{n}" for n in range(4)]
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert (
            tags["mlops.dev/trainingjob"] == "tracked" and tags["mlops.dev/namespace"] == namespace
        )
        assert (
            tags["mlops.dev/dataset-sha256"] == dataset_sha and tags["mlops.dev/dataset"] == "iris"
        )
        assert tags["mlops.dev/outcome"] in ("accepted", "rejected")
        metric_keys = {m["key"] for m in run["data"]["metrics"]}
        assert {
            "accuracy",
            "accuracy_std",
            "accuracy_fold",
            "f1",
            "duration_seconds",
        } <= metric_keys
        params = {p["key"] for p in run["data"]["params"]}
        assert {"max_depth", "min_samples_leaf", "criterion", "random_state"} <= params
        assert run["info"]["status"] == "FINISHED"
    best = status["search"]["best"]
    best_run = next(r for r in runs if r["info"]["run_name"] == f"tracked-trial-{best['number']}")
    assert {m["key"]: m["value"] for m in best_run["data"]["metrics"]}["accuracy"] == pytest.approx(
        best["value"]
    )
