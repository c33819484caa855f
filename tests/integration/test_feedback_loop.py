"""The loop closed on real outcomes, on the real control plane with a real Prometheus.

- Predictions (as the model server samples them) joined with ground truth (as its feedback
  endpoint writes it) give the served model's realized accuracy and the label-free estimate,
  in the DriftMonitor's status and in Prometheus; a degraded model triggers exactly one
  retrain, on a Dataset version that includes the labeled production rows (the holdout
  rows left out), and the retrained ModelVersion names that production window.
- Under policy latest, a newer version is compared with the serving one by a real
  `mlops-operator compare` run: a winner rolls out, a loser never does.

No kubelet runs here: Job pods are run in this process as their pod would run them
(test_training_flow.complete), the serving Deployment has no replicas.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kubernetes
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import accuracy_score
from tests.integration.operator import running_operator
from tests.integration.test_drift_monitor import (
    metrics_port,
    prometheus,
    report,
    series,
    serve,
    train_served_model,
)
from tests.integration.test_training_flow import complete, get_job, ready, ready_iris, training_job
from tests.support.cluster import Objects, wait_for
from tests.support.prometheus import Prometheus

from mlops_operator.artifacts import Store, paths, records

pytestmark = pytest.mark.integration
__all__ = ["metrics_port", "prometheus"]  # module fixtures, shared with the drift tests
GROUP, VERSION = "mlops.dev", "v1alpha1"
CLASSES = ["setosa", "versicolor", "virginica"]


def production_traffic(
    mv: dict[str, Any], store: str, rows: int, right: float, seed: int = 7
) -> pd.DataFrame:
    """Rows of the training snapshot with a prediction that is right for a `right` share of
    them (the served model's answers), confident probabilities, and a unique id."""
    dataset = mv["spec"]["lineage"]["dataset"]
    snapshot = paths.under(
        store, paths.dataset_snapshot(mv["metadata"]["namespace"], dataset["name"],
                                      dataset["version"])
    )  # fmt: skip
    frame = pq.read_table(io.BytesIO(Store(store).read_bytes(snapshot))).to_pandas()
    rng = np.random.default_rng(seed)
    picked = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    truth = picked["target"].astype(str).to_numpy()
    wrong = rng.random(rows) >= right
    shifted = np.array([CLASSES[(CLASSES.index(t) + 1) % 3] for t in truth])
    predicted = np.where(wrong, shifted, truth)
    out = picked.drop(columns=["target"]).copy()
    out[records.ID] = [f"req-{seed}-{i}" for i in range(rows)]
    out[records.TIME] = pd.Timestamp.now(tz="UTC")
    out[records.VERSION] = mv["metadata"]["name"]
    out[records.PREDICTION] = predicted
    for label in CLASSES:
        out[records.probability_column(label)] = np.where(predicted == label, 0.9, 0.05)
    out["__truth"] = truth
    return out


def write_parquet(store: str, directory: str, frame: pd.DataFrame, seconds_ago: int = 1) -> None:
    stamp = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y%m%dT%H%M%S%fZ")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    Store(store).write_bytes(f"{directory}/{stamp}-{seconds_ago:08x}.parquet", buffer.getvalue())


def send_traffic_and_labels(
    store: str, namespace: str, mv: dict[str, Any], traffic: pd.DataFrame
) -> None:
    """What the model server writes: the sampled predictions, then the labels it received."""
    samples = traffic.drop(columns=["__truth"])
    write_parquet(store, paths.samples_dir(namespace, "iris", mv["metadata"]["name"]), samples)
    labels = pd.DataFrame(
        {
            records.ID: traffic[records.ID],
            records.LABEL: [records.encode_label(t) for t in traffic["__truth"]],
            records.TIME: pd.Timestamp.now(tz="UTC"),
        }
    )
    write_parquet(store, paths.labels_dir(namespace, "iris"), labels)


def performance_monitor(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DriftMonitor",
        "metadata": {"name": name},
        "spec": {
            "target": {"deploymentRef": {"name": "iris"}},
            "intervalSeconds": 10,
            "minSamples": 10,
            "performance": {"minLabeled": 100, "thresholds": {"maxDrop": 0.05}},
            "action": {"type": "retrain", "cooldownSeconds": 3600, "maxRetrains": 3},
        },
    }


def test_degraded_performance_retrains_once_on_the_labeled_production_rows(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
    prometheus: Prometheus,
) -> None:
    label = "mlops.dev/driftmonitor=loop"
    with running_operator(namespace):
        mv = train_served_model(kube_api, namespace, objects, tmp_path)
        serve(kube_api, objects, mv["metadata"]["name"])
        traffic = production_traffic(mv, store, rows=300, right=0.5)
        send_traffic_and_labels(store, namespace, mv, traffic)
        expected = accuracy_score(traffic["__truth"], traffic[records.PREDICTION])

        objects.create(performance_monitor("loop"))
        degraded = wait_for(
            lambda: (
                (c := objects.condition("DriftMonitor", "loop", "PerformanceDegraded"))
                and c["status"] == "True"
                and c
            ),
            90,
            what="PerformanceDegraded=True",
        )
        assert degraded["reason"] == "PerformanceDegraded"
        assert "worse than in training" in degraded["message"]
        status = objects.get("DriftMonitor", "loop")["status"]
        performance = status["performance"]
        assert performance["version"] == mv["metadata"]["name"]
        assert performance["metric"] == "accuracy"
        assert performance["labeled"] == 300 and performance["predictions"] == 300
        assert performance["realized"] == pytest.approx(expected, abs=1e-6)
        assert performance["training"] == pytest.approx(mv["spec"]["metrics"]["accuracy"])
        # prediction drift: the predicted classes against the training target's profile
        assert performance["predictionDrift"]["test"] == "chisquare"
        assert 0 <= performance["predictionDrift"]["pValue"] <= 1
        # every prediction is labeled, so the estimate is the served probabilities' own: 0.9 on
        # the predicted class, although half the answers are wrong (what only labels show)
        assert performance["estimated"] == pytest.approx(0.9, abs=0.01)

        # the series, in a real Prometheus
        wait_for(prometheus.targets_up, 30, what="Prometheus scraping the operator")
        selector = f'namespace="{namespace}",monitor="loop"'
        realized = wait_for(
            lambda: series(prometheus, f'mlops_model_performance{{{selector},metric="accuracy"}}'),
            30,
            what="mlops_model_performance in Prometheus",
        )
        assert next(iter(realized.values())) == pytest.approx(expected, abs=1e-6)
        for query in (
            f"mlops_model_performance{{{selector}}}",
            f'mlops_model_performance_estimated{{{selector},metric="accuracy"}}',
            f"mlops_labeled_predictions{{{selector}}}",
        ):
            report(f"PromQL {query}", json.dumps(prometheus.query(query), indent=1))
        labeled = series(prometheus, f"mlops_labeled_predictions{{{selector}}}")
        assert list(labeled.values()) == [300.0]
        assert series(
            prometheus, f'mlops_model_performance_estimated{{{selector},metric="accuracy"}}'
        )
        assert list(
            series(prometheus, f"mlops_model_performance_degraded{{{selector}}}").values()
        ) == [1.0]

        # exactly one retrain, on a Dataset with the window's training rows
        custom = kubernetes.client.CustomObjectsApi(kube_api)

        def retrains() -> list[dict[str, Any]]:
            found = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "trainingjobs", label_selector=label
            )
            return list(found["items"])

        created = wait_for(retrains, 30, what="a retrain TrainingJob")
        assert [tj["metadata"]["name"] for tj in created] == ["loop-retrain-1"]
        assert created[0]["spec"]["datasetRef"] == {"name": "loop-retrain-1"}
        window = json.loads(created[0]["metadata"]["annotations"]["mlops.dev/production-window"])
        holdout = sum(records.is_holdout(i) for i in traffic[records.ID])
        assert window["rows"] == 300 - holdout and window["holdoutRows"] == holdout
        dataset = objects.get("Dataset", "loop-retrain-1")
        source = dataset["spec"]["additionalSources"][0]
        assert source["uri"] == f"{window['uri']}/train.parquet"
        written = pq.read_table(io.BytesIO(Store(store).read_bytes(source["uri"]))).to_pandas()
        assert len(written) == 300 - holdout
        assert not any(records.is_holdout(i) for i in written.get(records.ID, []))
        assert set(written["target"]) <= set(CLASSES)  # the labels, under training's name

        # the retrain's Dataset version holds iris plus the production rows
        profile = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/dataset=loop-retrain-1"), 60
        )
        complete(kube_api, namespace, profile, tmp_path)
        wait_for(lambda: ready(objects, "Dataset", "loop-retrain-1"), 60, what="Dataset Ready")
        assert objects.get("Dataset", "loop-retrain-1")["status"]["rows"] == 150 + 300 - holdout

        # the retrain trains on it; its ModelVersion names the production window
        job = wait_for(
            lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=loop-retrain-1"), 60
        )
        complete(kube_api, namespace, job, tmp_path)
        wait_for(lambda: ready(objects, "TrainingJob", "loop-retrain-1"), 60, what="retrain Ready")
        retrained = objects.get(
            "ModelVersion", objects.get("TrainingJob", "loop-retrain-1")["status"]["modelVersion"]
        )
        lineage = retrained["spec"]["lineage"]
        assert lineage["productionWindow"]["uri"] == window["uri"]
        assert lineage["productionWindow"]["monitor"] == "loop"
        assert lineage["dataset"]["name"] == "loop-retrain-1"

        # later checks: still degraded (the same version serves), still one retrain
        checked = objects.get("DriftMonitor", "loop")["status"]["lastCheckTime"]
        wait_for(
            lambda: objects.get("DriftMonitor", "loop")["status"]["lastCheckTime"] != checked,
            60,
            what="another check",
        )
        assert [tj["metadata"]["name"] for tj in retrains()] == ["loop-retrain-1"]


def deployment(name: str = "iris", **promotion: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"name": "iris", "promotion": promotion}, "replicas": 0},
    }


def train(
    api: kubernetes.client.ApiClient, namespace: str, objects: Objects, tmp_path: Path,
    name: str, **spec: Any,
) -> str:  # fmt: skip
    """Run a TrainingJob to its ModelVersion; returns the version's name."""
    objects.create(training_job(name, acceptance=[], **spec))
    job = wait_for(lambda: get_job(api, namespace, f"mlops.dev/trainingjob={name}"), 60)
    complete(api, namespace, job, tmp_path)
    wait_for(lambda: ready(objects, "TrainingJob", name), 60, what=f"{name} Ready")
    return str(objects.get("TrainingJob", name)["status"]["modelVersion"])


def compare_job(api: kubernetes.client.ApiClient, namespace: str) -> Any:
    batch = kubernetes.client.BatchV1Api(api)
    jobs = batch.list_namespaced_job(namespace, label_selector="mlops.dev/modeldeployment=iris")
    return next((j for j in jobs.items if "-compare-" in j.metadata.name), None)


def serving(objects: Objects) -> str | None:
    return (objects.get("ModelDeployment", "iris").get("status") or {}).get("servingVersion")


def test_a_challenger_rolls_out_only_when_it_beats_the_champion(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    weak = {"estimator": "DecisionTreeClassifier", "hyperparameters": {"max_depth": 1}}
    with running_operator(namespace):
        ready_iris(kube_api, namespace, objects, tmp_path)
        v1 = train(kube_api, namespace, objects, tmp_path, "weak", **weak)
        objects.create(deployment())
        wait_for(lambda: serving(objects) == v1, 60, what=f"{v1} served first, uncompared")
        assert compare_job(kube_api, namespace) is None

        # a better version: compared on training's holdout of its Dataset, wins, rolls out
        v2 = train(kube_api, namespace, objects, tmp_path, "strong")
        job = wait_for(lambda: compare_job(kube_api, namespace), 60, what="a compare Job")
        args = job.spec.template.spec.containers[0].args
        assert args[0] == "compare" and "--holdout-of-snapshot" in args
        assert serving(objects) == v1  # the champion serves while they are compared
        complete(kube_api, namespace, job, tmp_path)
        wait_for(lambda: serving(objects) == v2, 90, what=f"{v2} rolled out after winning")
        challenge = objects.get("ModelDeployment", "iris")["status"]["challenge"]
        assert challenge["verdict"] == "Won" and challenge["metric"] == "accuracy"
        assert challenge["challenger"]["value"] > challenge["champion"]["value"]
        assert challenge["data"]["kind"] == "dataset-holdout"
        assert objects.get("ModelVersion", v2)["status"]["challenge"]["verdict"] == "Won"

        # a worse version: loses, is listed, never rolled out
        v3 = train(kube_api, namespace, objects, tmp_path, "weak-again", **weak)
        job = wait_for(lambda: compare_job(kube_api, namespace), 60, what="a second compare Job")
        complete(kube_api, namespace, job, tmp_path)
        lost = wait_for(
            lambda: (
                v3
                in (objects.get("ModelDeployment", "iris")["status"].get("lostChallengers") or [])
            ),
            60,
            what=f"{v3} lost",
        )
        assert lost
        status = objects.get("ModelDeployment", "iris")["status"]
        assert status["challenge"]["verdict"] == "Lost"
        assert status["challenge"]["challenger"]["value"] < status["challenge"]["champion"]["value"]
        assert status["servingVersion"] == v2
        # the verdict reaches the challenger's own status right after the deployment's
        mv3 = wait_for(
            lambda: (objects.get("ModelVersion", v3).get("status") or {}).get("challenge"),
            30,
            what=f"the verdict on {v3}'s own status",
        )
        assert (mv3["verdict"], mv3["champion"]) == ("Lost", v2)
        events = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
            namespace, field_selector="involvedObject.name=iris,involvedObject.kind=ModelDeployment"
        )
        assert "ChallengerLost" in {e.reason for e in events.items}
        assert "ChallengerWon" in {e.reason for e in events.items}
        # the loser is not retried: no new compare Job, the champion keeps serving
        wait_for(lambda: compare_job(kube_api, namespace) is None, 30, what="compare Job removed")
        apps = kubernetes.client.AppsV1Api(kube_api)
        stable = apps.read_namespaced_deployment("iris", namespace)
        assert stable.spec.template.metadata.labels["mlops.dev/model-version"] == v2


def test_labels_from_a_bulk_source_and_an_unreadable_source(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    """Ground truth that arrives in bulk, from elsewhere (a CSV with its own column names),
    judged like labels sent to the feedback API; a source that cannot be read says so."""
    with running_operator(namespace):
        mv = train_served_model(kube_api, namespace, objects, tmp_path)
        serve(kube_api, objects, mv["metadata"]["name"])
        traffic = production_traffic(mv, store, rows=200, right=0.9, seed=11)
        write_parquet(
            store,
            paths.samples_dir(namespace, "iris", mv["metadata"]["name"]),
            traffic.drop(columns=["__truth"]),
        )
        bulk = Path(store.removeprefix("file://")) / "inputs" / namespace / "labels" / "day-1.csv"
        bulk.parent.mkdir(parents=True)
        pd.DataFrame({"request": traffic[records.ID], "species": traffic["__truth"]}).to_csv(
            bulk, index=False
        )
        monitor = performance_monitor("bulk")
        monitor["spec"]["action"] = {"type": "alert"}
        monitor["spec"]["performance"]["thresholds"] = {"maxDrop": 0.2}
        monitor["spec"]["performance"]["labels"] = {
            "uri": bulk.parent.as_uri(),
            "idColumn": "request",
            "labelColumn": "species",
        }
        objects.create(monitor)
        wait_for(
            lambda: (objects.get("DriftMonitor", "bulk")["status"]["performance"] or {}).get(
                "realized"
            ),
            60,
            what="realized accuracy",
        )
        judged = objects.get("DriftMonitor", "bulk")["status"]["performance"]
        expected = accuracy_score(traffic["__truth"], traffic[records.PREDICTION])
        assert judged["labeled"] == 200
        assert judged["realized"] == pytest.approx(expected, abs=1e-6)
        healthy = objects.condition("DriftMonitor", "bulk", "PerformanceDegraded")
        assert healthy is not None and healthy["status"] == "False"
        assert healthy["reason"] == "PerformanceOK"

        broken = performance_monitor("broken-labels")
        broken["spec"]["action"] = {"type": "alert"}
        broken["spec"]["performance"]["labels"] = {
            "uri": bulk.parent.as_uri(),
            "labelColumn": "no-such-column",
        }
        objects.create(broken)
        refused = wait_for(
            lambda: (
                (c := objects.condition("DriftMonitor", "broken-labels", "Ready"))
                and c["status"] == "False"
                and c
            ),
            90,
            what="Ready=False on an unreadable labels source",
        )
        assert refused["reason"] == "LabelsUnreadable"
        assert "spec.performance.labels" in refused["message"]
        assert "no-such-column" in refused["message"]
