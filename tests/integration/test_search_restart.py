"""A hyperparameter search on the real control plane: 12 trials, 3 at a time, the operator
restarted mid-search; no trial is started twice and none is lost; the best passing trial is
registered with the search in its lineage; the report is in the store.

Trial pods run in-process (the pod's own command on the same store), then are reported
terminated as a kubelet would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import fsspec
import kubernetes
import pytest
from tests.integration.operator import running_operator
from tests.integration.test_training_flow import complete, ready, ready_iris
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane

pytestmark = pytest.mark.integration

SEARCH = {
    "algorithm": "tpe",
    "maxTrials": 12,
    "parallelism": 3,
    "seed": 7,
    "objective": {"metric": "accuracy"},
    "pruning": {"type": "median", "startupTrials": 3, "warmupFolds": 1},
    "topTrials": 4,
    "parameters": [
        {"name": "max_depth", "type": "int", "min": 1, "max": 6},
        {"name": "min_samples_leaf", "type": "int", "min": 1, "max": 20, "log": True},
        {"name": "criterion", "type": "categorical", "values": ["gini", "entropy"]},
    ],
}


def searching(name: str = "iris-search", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "datasetRef": {"name": "iris"},
            "model": "iris",
            "estimator": "DecisionTreeClassifier",
            "target": "target",
            "split": {"method": "kfold", "folds": 3},
            "acceptance": [{"metric": "accuracy", "min": 0.8}],
            "search": SEARCH,
            **spec,
        },
    }


def trial_jobs(api: kubernetes.client.ApiClient, namespace: str, name: str) -> list[Any]:
    batch = kubernetes.client.BatchV1Api(api)
    return list(
        batch.list_namespaced_job(namespace, label_selector=f"mlops.dev/trainingjob={name}").items
    )


def unfinished(jobs: list[Any]) -> list[Any]:
    return [j for j in jobs if not j.status.succeeded and not j.status.failed]


def run_trials(
    api: kubernetes.client.ApiClient, namespace: str, tmp_path: Any, seen: set[str], until: int
) -> None:
    """Run the trial Jobs as their pods would until `until` trials have finished."""
    while len(seen) < until:
        pending = wait_for(
            lambda: [
                j
                for j in unfinished(trial_jobs(api, namespace, "iris-search"))
                if j.metadata.name not in seen
            ],
            120,
            what="a trial Job",
        )
        jobs = trial_jobs(api, namespace, "iris-search")
        assert len(unfinished(jobs)) <= 3, "more trials running than the parallelism"
        for job in pending:
            complete(api, namespace, job, tmp_path)
            seen.add(job.metadata.name)


def kubectl(control_plane: ControlPlane, *args: str) -> str:
    binary = Path(__file__).resolve().parents[2] / "bin" / "kubectl"
    command = [str(binary), "--kubeconfig", str(control_plane.kubeconfig), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_search_of_12_trials_survives_an_operator_restart(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Any,
) -> None:
    seen: set[str] = set()
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        objects.create(searching())
        run_trials(kube_api, namespace, tmp_path, seen, 5)
    # The operator is gone mid-search: trials it started may be running, others finished.
    with running_operator(namespace):
        run_trials(kube_api, namespace, tmp_path, seen, 12)
        wait_for(lambda: ready(objects, "TrainingJob", "iris-search"), 120, what="search Ready")

    jobs = trial_jobs(kube_api, namespace, "iris-search")
    numbers = sorted(int(j.metadata.labels["mlops.dev/trial"]) for j in jobs)
    assert numbers == list(range(12)), "a trial was started twice or skipped"
    assert len({j.metadata.name for j in jobs}) == 12
    params = [j.metadata.annotations["mlops.dev/trial-params"] for j in jobs]
    assert all('"max_depth"' in p and '"criterion"' in p for p in params)

    status = objects.get("TrainingJob", "iris-search")["status"]
    search = status["search"]
    assert status["phase"] == "Succeeded"
    assert search["budget"] == 12 and search["created"] == 12 and search["running"] == 0
    assert search["succeeded"] + search["pruned"] + search["failed"] == 12
    assert search["progress"] == "12/12"
    assert search["objective"] == "accuracy (maximize)"
    best = search["best"]
    assert best["value"] >= 0.8 and set(best["params"]) == {
        "max_depth",
        "min_samples_leaf",
        "criterion",
    }
    top = search["topTrials"]
    assert 1 <= len(top) <= 4 and top[0]["number"] == best["number"]
    assert [t["value"] for t in top] == sorted((t["value"] for t in top), reverse=True)

    mv = objects.get("ModelVersion", status["modelVersion"])
    lineage = mv["spec"]["lineage"]
    assert lineage["search"]["trial"] == best["number"] and lineage["search"]["trials"] == 12
    assert lineage["search"]["algorithm"] == "tpe"
    assert mv["spec"]["metrics"]["accuracy"] == best["value"]
    assert mv["spec"]["params"]["max_depth"] == best["params"]["max_depth"]

    table = kubectl(control_plane, "get", "tj", "-n", namespace, "-o", "wide")
    print(f"\n$ kubectl get tj -o wide\n{table}")
    header, row = (line.split() for line in table.splitlines()[:2])
    columns = dict(zip(header, row, strict=False))
    assert columns["READY"] == "True" and columns["PHASE"] == "Succeeded"
    assert columns["MODELVERSION"] == status["modelVersion"] and columns["TRIALS"] == "12/12"
    assert float(columns["BEST"]) == best["value"]
    print(kubectl(control_plane, "get", "mv", "-n", namespace))

    with fsspec.open(search["reportUri"], "r") as handle:
        report = handle.read()
    assert report.startswith("<!DOCTYPE html>") and "Top trials" in report
    assert "<svg" in report and "min_samples_leaf vs accuracy" in report
    with fsspec.open(lineage["runUri"], "r") as handle:
        run = handle.read()
    assert '"folds"' in run and '"durationSeconds"' in run and '"outcome": "accepted"' in run
