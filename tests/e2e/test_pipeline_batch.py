"""BatchPrediction on the real cluster: the shared iris pipeline's Dataset scored by the model
trained on it (iris-v1: by the time this module runs, the deployment serves the version
retrained on shifted production data), in an Indexed Job of 2 partitions whose pods the real
kubelet runs (Pod Security Standard `restricted` enforced in the namespace)."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from tests.e2e.pipeline import NAMESPACE, Pipeline
from tests.support.in_cluster import store_volume
from tests.support.release import kubectl

from mlops_operator.artifacts import records

pytestmark = pytest.mark.e2e


def test_batch_prediction_scores_iris_in_two_partitions(pipeline: Pipeline) -> None:
    name = f"iris-batch-{uuid.uuid4().hex[:6]}"
    pipeline.objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "BatchPrediction",
        "metadata": {"name": name},
        "spec": {"model": {"modelVersionRef": {"name": "iris-v1"}},
                 "input": {"datasetRef": {"name": "iris"}},
                 "partitions": 2, "idColumns": ["target"]},
    })  # fmt: skip
    status = pipeline.wait_status("BatchPrediction", name, 300, "succeeded", phase="Succeeded")
    serving = status["lineage"]["modelVersion"]
    dataset = pipeline.status("Dataset", "iris")
    assert (status["progress"], status["rows"]) == ("2/2", 150)
    assert status["rowsPerSecond"] > 0
    assert serving == "iris-v1"
    assert status["lineage"]["dataset"] == {"name": "iris", "version": dataset["version"]}
    ready = pipeline.objects.condition("BatchPrediction", name, "Ready")
    assert ready and (ready["status"], ready["reason"]) == ("True", "Predicted")

    job = pipeline.batch.read_namespaced_job(status["jobName"], NAMESPACE)
    assert (job.spec.completion_mode, job.spec.completions, job.status.succeeded) == (
        "Indexed", 2, 2,
    )  # fmt: skip

    shown = kubectl(pipeline.cluster.kubeconfig, "get", "bp", name, "-n", NAMESPACE).stdout
    print(f"\n{shown}")
    header, row = shown.strip().splitlines()
    assert header.split()[:5] == ["NAME", "READY", "PHASE", "PROGRESS", "ROWS"]
    assert row.split()[:5] == [name, "True", "Succeeded", "2/2", "150"]

    # The output on the store's volume: 2 part files, every iris row once, a prediction each.
    [claim] = [
        c.metadata.name
        for c in pipeline.core.list_namespaced_persistent_volume_claim(NAMESPACE).items
        if c.metadata.name.endswith("-store")
    ]
    root = store_volume(pipeline.core, NAMESPACE, claim)
    output = root / "predictions" / status["outputUri"].split("/predictions/", 1)[1]
    assert sorted(p.name for p in output.glob("*.parquet")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    scored = pd.read_parquet(output)
    assert len(scored) == 150 and scored[records.ID].is_unique
    assert set(scored[records.VERSION]) == {serving}
    accuracy = (scored[records.PREDICTION].astype(str) == scored["target"]).mean()
    assert accuracy > 0.9
