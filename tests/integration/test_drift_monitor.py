"""DriftMonitor on the real control plane, scraped by a real Prometheus.

A real Dataset, TrainingJob and ModelVersion (with its training profile) are made as in
test_training_flow.py. The ModelDeployment's `status.servingVersion` is set through the status
subresource, as its controller would after a rollout: no kubelet runs the model server here,
so the test writes the request samples the server would log (Parquet under
`samples/<ns>/<deployment>/<version>/`). The ModelDeployment controller may run beside us;
it is pointed at the same ModelVersion with zero replicas, so whatever it writes, the served
version stays the one set here (the test waits until it reads back that way).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kubernetes
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.integration.operator import running_operator
from tests.integration.test_training_flow import (
    complete,
    get_job,
    ready,
    ready_iris,
    training_job,
)
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import free_port
from tests.support.kubelet import finish_pod
from tests.support.prometheus import Prometheus

from mlops_operator.artifacts import Store, paths

pytestmark = pytest.mark.integration
GROUP, VERSION = "mlops.dev", "v1alpha1"


@pytest.fixture(scope="module")
def metrics_port() -> Iterator[int]:
    """The in-process operator serves /metrics here (its settings read MLOPS_METRICS_PORT at
    startup); other modules keep it disabled."""
    port = free_port()
    before = os.environ.get("MLOPS_METRICS_PORT")
    os.environ["MLOPS_METRICS_PORT"] = str(port)
    yield port
    if before is None:
        os.environ.pop("MLOPS_METRICS_PORT", None)
    else:
        os.environ["MLOPS_METRICS_PORT"] = before


@pytest.fixture(scope="module")
def prometheus(metrics_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{metrics_port}"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def train_served_model(
    api: kubernetes.client.ApiClient, namespace: str, objects: Objects, tmp_path: Path, **spec: Any
) -> dict[str, Any]:
    """Dataset -> TrainingJob -> ModelVersion iris-v1, all Ready; returns the ModelVersion."""
    ready_iris(api, namespace, objects, tmp_path)
    objects.create(training_job(**spec))
    job = wait_for(lambda: get_job(api, namespace, "mlops.dev/trainingjob=iris-lr"), 60)
    complete(api, namespace, job, tmp_path)
    wait_for(lambda: ready(objects, "TrainingJob", "iris-lr"), 60, what="TrainingJob Ready")
    return objects.get(
        "ModelVersion", objects.get("TrainingJob", "iris-lr")["status"]["modelVersion"]
    )


def serve(api: kubernetes.client.ApiClient, objects: Objects, version: str) -> None:
    """A ModelDeployment `iris` whose status says it serves `version`."""
    objects.create(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": "iris"},
            "spec": {"modelVersionRef": {"name": version}, "replicas": 0},
        }
    )
    custom = kubernetes.client.CustomObjectsApi(api)

    def serving() -> bool:
        current = objects.get("ModelDeployment", "iris").get("status") or {}
        if current.get("servingVersion") == version:
            return True
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, objects.namespace, "modeldeployments", "iris",
            {"status": {"servingVersion": version}},
        )  # fmt: skip
        return False

    wait_for(serving, 30, interval=0.5, what="servingVersion")


def write_samples(
    store: str, namespace: str, version: str, frame: pd.DataFrame, files: int = 2
) -> None:
    """Parquet files as the model server writes them: `<UTC timestamp>-<hex>.parquet`."""
    target = Store(store)
    directory = paths.samples_dir(namespace, "iris", version)
    now = datetime.now(UTC)
    bounds = np.linspace(0, len(frame), files + 1).astype(int)
    for i in range(files):
        part = frame.iloc[bounds[i] : bounds[i + 1]]
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), buffer)
        stamp = (now - timedelta(seconds=files - i)).strftime("%Y%m%dT%H%M%S%fZ")
        target.write_bytes(f"{directory}/{stamp}-{i:08x}.parquet", buffer.getvalue())


def drifted_requests(mv: dict[str, Any], store: str, rows: int = 600) -> pd.DataFrame:
    """Requests drawn from the training snapshot, with two of the inputs shifted."""
    inputs = [t["name"] for t in mv["spec"]["signature"]["inputs"]]
    dataset = mv["spec"]["lineage"]["dataset"]
    snapshot = Store(store).read_bytes(
        paths.dataset_snapshot(mv["metadata"]["namespace"], dataset["name"], dataset["version"])
    )
    data = pq.read_table(io.BytesIO(snapshot)).to_pandas()[inputs]
    rng = np.random.default_rng(5)
    frame = data.sample(rows, replace=True, random_state=5).reset_index(drop=True)
    for name in inputs[2:]:
        frame[name] = frame[name] + 3.0 + rng.normal(0, 0.1, size=rows)
    return frame


def monitor(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DriftMonitor",
        "metadata": {"name": name},
        "spec": {
            "target": {"deploymentRef": {"name": "iris"}},
            "minSamples": 100,
            "intervalSeconds": 10,
            "window": {"rows": 5000},
            **spec,
        },
    }


def drifted(objects: Objects, name: str, status: str) -> dict[str, Any] | None:
    found = objects.condition("DriftMonitor", name, "Drifted")
    return found if found and found["status"] == status else None


def series(prometheus: Prometheus, query: str) -> dict[str, float]:
    return {r["metric"].get("feature", ""): float(r["value"][1]) for r in prometheus.query(query)}


def test_drift_series_reach_prometheus_and_vanish_with_the_monitor(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
    prometheus: Prometheus,
) -> None:
    with running_operator(namespace):
        objects.create(monitor("early"))
        waiting = wait_for(
            lambda: objects.condition("DriftMonitor", "early", "Ready"), 30, what="Ready"
        )
        assert (waiting["status"], waiting["reason"]) == ("False", "DeploymentNotFound")

        mv = train_served_model(kube_api, namespace, objects, tmp_path)
        serve(kube_api, objects, mv["metadata"]["name"])
        inputs = [t["name"] for t in mv["spec"]["signature"]["inputs"]]

        # no samples yet: healthy, no verdict, no alarm
        unknown = wait_for(
            lambda: (
                ready(objects, "DriftMonitor", "early") and drifted(objects, "early", "Unknown")
            ),
            60,
            what="InsufficientSamples",
        )
        assert unknown["reason"] == "InsufficientSamples"
        wait_for(prometheus.targets_up, 30, what="Prometheus scraping the operator")
        insufficient = (
            f'mlops_drift_checks_total{{namespace="{namespace}",monitor="early",'
            'result="insufficient"}'
        )
        wait_for(lambda: series(prometheus, insufficient).get("", 0) >= 1, 30, what="counted")
        assert prometheus.query(f'mlops_feature_drifted{{namespace="{namespace}"}}') == []

        write_samples(store, namespace, mv["metadata"]["name"], drifted_requests(mv, store))
        objects.create(monitor("live", correction="bonferroni"))
        wait_for(lambda: drifted(objects, "live", "True"), 60, what="Drifted=True")
        status = objects.get("DriftMonitor", "live")["status"]
        assert status["samples"] == 600
        assert status["sourceUri"].endswith(f"/samples/{namespace}/iris/{mv['metadata']['name']}")
        assert status["referenceUri"] == mv["spec"]["lineage"]["profileUri"]
        by_name = {f["name"]: f for f in status["features"]}
        assert sorted(by_name) == sorted(inputs)
        assert all(by_name[n]["drifted"] for n in inputs[2:])
        assert all(by_name[n]["test"] == "ks" and by_name[n]["pValue"] < 0.05 for n in inputs[2:])
        assert status["driftShare"] >= 0.5
        report("DriftMonitor status after drift", _yaml(status))

        selector = f'namespace="{namespace}",monitor="live"'
        flagged = wait_for(
            lambda: series(prometheus, f"mlops_feature_drifted{{{selector}}}"),
            30,
            what="per-feature series in Prometheus",
        )
        assert set(flagged) == set(inputs)
        assert {f for f, v in flagged.items() if v == 1} >= set(inputs[2:])
        statistic = series(prometheus, f'mlops_drift_statistic{{{selector},test="ks"}}')
        assert statistic.keys() == set(inputs)
        assert all(statistic[n] > 0.5 for n in inputs[2:])
        share = prometheus.query(f"mlops_dataset_drift_share{{{selector}}}")
        assert float(share[0]["value"][1]) == pytest.approx(status["driftShare"], abs=1e-6)
        drifting = prometheus.query(
            f'sum by (monitor) (mlops_feature_drifted{{namespace="{namespace}"}}) > 0'
        )
        query = f"mlops_feature_drifted{{{selector}}}"
        report(f"PromQL {query}", json.dumps(prometheus.query(query), indent=1))
        assert [r["metric"]["monitor"] for r in drifting] == ["live"]

        objects.delete("DriftMonitor", "live")
        wait_for(lambda: not any(m["metadata"]["name"] == "live"
                                 for m in objects.list("DriftMonitor")), 30, what="deleted")  # fmt: skip
        for metric in ("mlops_feature_drifted", "mlops_drift_statistic", "mlops_drift_p_value",
                       "mlops_dataset_drift_share", "mlops_drift_checks_total"):  # fmt: skip
            wait_for(
                lambda m=metric: prometheus.query(f"{m}{{{selector}}}") == [],
                30,
                what=f"{metric} gone after delete",
            )
        # the other monitor's series stay
        assert prometheus.query(
            f'mlops_drift_checks_total{{namespace="{namespace}",monitor="early"}}'
        )


def test_retrain_once_per_cooldown_even_across_a_restart(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
    prometheus: Prometheus,
) -> None:
    action = {"type": "retrain", "cooldownSeconds": 3600, "maxRetrains": 3}
    label = "mlops.dev/driftmonitor=retrainer"

    def retrains() -> list[dict[str, Any]]:
        custom = kubernetes.client.CustomObjectsApi(kube_api)
        found = custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "trainingjobs", label_selector=label
        )
        return list(found["items"])

    with running_operator(namespace):
        mv = train_served_model(kube_api, namespace, objects, tmp_path, backoffLimit=0)
        serve(kube_api, objects, mv["metadata"]["name"])
        write_samples(store, namespace, mv["metadata"]["name"], drifted_requests(mv, store))
        objects.create(monitor("retrainer", action=action))
        wait_for(lambda: drifted(objects, "retrainer", "True"), 60, what="Drifted=True")
        created = wait_for(retrains, 30, what="a retrain TrainingJob")
        assert [tj["metadata"]["name"] for tj in created] == ["retrainer-retrain-1"]
        tj = created[0]
        assert tj["metadata"]["ownerReferences"][0]["kind"] == "DriftMonitor"
        assert tj["spec"]["datasetRef"] == {"name": "iris"}  # unpinned: the newest version
        source = objects.get("TrainingJob", "iris-lr")["spec"]
        assert {k: v for k, v in tj["spec"].items() if k != "datasetRef"} == {
            k: v for k, v in source.items() if k != "datasetRef"
        }
        status = wait_for(
            lambda: (
                objects.get("DriftMonitor", "retrainer")["status"].get("lastRetrain")
                and objects.get("DriftMonitor", "retrainer")["status"]
            ),
            30,
        )
        assert status["retrainsTriggered"] == 1
        assert status["lastRetrain"]["trainingJob"] == "retrainer-retrain-1"
        checked = status["lastCheckTime"]
        wait_for(lambda: objects.get("DriftMonitor", "retrainer")["status"]["lastCheckTime"] != checked,
                 30, what="a second check")  # fmt: skip
        assert len(retrains()) == 1
        triggered = f'mlops_retrains_triggered_total{{namespace="{namespace}",monitor="retrainer"}}'
        wait_for(lambda: series(prometheus, triggered) == {"": 1.0}, 30, what="retrain counted")

    # The operator stops; as if it crashed right after creating the TrainingJob, the status
    # forgets the retrain. A new operator must not make a second one within the cooldown.
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "driftmonitors", "retrainer",
        {"status": {"retrainsTriggered": None, "lastRetrain": None, "lastCheckTime": None}},
    )  # fmt: skip
    with running_operator(namespace):
        wait_for(lambda: objects.get("DriftMonitor", "retrainer")["status"].get("lastCheckTime"),
                 60, what="a check after the restart")  # fmt: skip
        wait_for(lambda: drifted(objects, "retrainer", "True"), 30)
        assert [t["metadata"]["name"] for t in retrains()] == ["retrainer-retrain-1"]
        message = objects.condition("DriftMonitor", "retrainer", "Drifted")["message"]
        assert "still running" in message or "cooling down" in message

        # the retrain fails: the monitor sees it once, counts it and says so
        job = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=retrainer-retrain-1"), 60
        )
        finish_pod(kube_api, namespace, job.metadata.name, exit_code=137, reason="OOMKilled")
        wait_for(
            lambda: (
                objects.get("DriftMonitor", "retrainer")["status"].get("failedRetrains")
                == ["retrainer-retrain-1"]
            ),
            60,
            what="failed retrain recorded",
        )
        failures = f'mlops_retrain_failures_total{{namespace="{namespace}",monitor="retrainer"}}'
        wait_for(lambda: series(prometheus, failures) == {"": 1.0}, 30, what="failure counted")
        # still within the cooldown: no second TrainingJob although the first one failed
        assert [t["metadata"]["name"] for t in retrains()] == ["retrainer-retrain-1"]


def report(title: str, text: str) -> None:
    """Shown with `pytest -s`: KopfRunner swaps sys.stdout while the operator runs."""
    print(f"\n{title}:\n{text}", file=sys.__stdout__, flush=True)


def _yaml(document: Any) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False)


def test_prometheus_support_is_stopped_cleanly(tmp_path: Path) -> None:
    """The fixture's Prometheus exits on stop(): no process is left behind."""
    server = Prometheus(tmp_path, ["127.0.0.1:1"])
    server.start()
    process = server.process
    assert process is not None and process.poll() is None
    server.stop()
    assert process.poll() is not None
