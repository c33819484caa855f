"""A partitioned Dataset on the real control plane: an Indexed Job of 3 partitions, one of
whose pods fails once and is retried alone by the Job controller, then the merge Job; the
Dataset ends Ready with a manifest version whose profile is within the single-pass bound of
the same rows; a TrainingJob with maxRows trains on a seeded sample of it.

Pods have no kubelet here (as in test_batch_prediction): each pod's own command runs in-process
on the same store, then the pod is reported terminated as a kubelet would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from tests.integration.operator import running_operator
from tests.integration.test_batch_prediction import events, index_pod, run_index, terminate
from tests.integration.test_training_flow import complete, get_job, ready
from tests.support.cluster import Objects, wait_for
from tests.unit.test_dataset_partitioned import run_single, spec_of, write_source
from tests.unit.test_drift_check import by_name

from mlops_operator.artifacts import Store
from mlops_operator.drift import check_drift
from mlops_operator.drift.profile import ReferenceProfile

pytestmark = pytest.mark.integration


def rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.lognormal(size=n)
    b[:5] = 1e9  # a heavy tail (what broke the v1 fixed-width grid)
    return pd.DataFrame({"a": a, "b": b, "c": rng.choice(["x", "y", "z"], n),
                         "target": np.where(a + rng.normal(0, 0.3, n) > 0, "up", "down")})  # fmt: skip


def test_a_partition_failing_once_is_retried_and_the_dataset_is_ready(
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    frame = rows(12_000, 1)
    source = write_source(
        Path(store.removeprefix("file://")) / "inputs" / namespace / "big", frame, [5_000],
        row_group=1_000,
    )  # fmt: skip
    with running_operator(namespace):
        objects.create({
            "apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset", "metadata": {"name": "big"},
            "spec": {"source": {"uri": source, "format": "parquet"}, "partitions": 3,
                     "batchRows": 1000},
        })  # fmt: skip
        job_name = wait_for(
            lambda: objects.get("Dataset", "big")["status"].get("jobName"), 60,
            what="the Dataset's Indexed Job",
        )  # fmt: skip
        job = kubernetes.client.BatchV1Api(kube_api).read_namespaced_job(job_name, namespace)
        assert (job.spec.completion_mode, job.spec.completions) == ("Indexed", 3)
        assert job.spec.backoff_limit_per_index == 2
        assert job.metadata.owner_references[0].kind == "Dataset"
        status = objects.get("Dataset", "big")["status"]
        assert (status["phase"], status["progress"]) == ("Profiling", "0/3")

        # Index 1 profiles its rows and dies before it is counted; 0 and 2 succeed.
        first = index_pod(kube_api, namespace, job_name, 1)
        written = run_index(first, tmp_path)
        terminate(kube_api, namespace, first, exit_code=1)
        for index in (0, 2):
            pod = index_pod(kube_api, namespace, job_name, index)
            run_index(pod, tmp_path)
            terminate(kube_api, namespace, pod, 0)
        wait_for(
            lambda: objects.get("Dataset", "big")["status"].get("progress") == "2/3", 60,
            what="2 of 3 partitions done",
        )  # fmt: skip
        retry = index_pod(kube_api, namespace, job_name, 1)
        assert retry.metadata.name != first.metadata.name
        again = run_index(retry, tmp_path)
        assert again["part"] == written["part"]  # the same content-addressed part
        terminate(kube_api, namespace, retry, 0)

        merge = wait_for(
            lambda: (s := objects.get("Dataset", "big")["status"]).get("jobName") != job_name
            and s["jobName"], 60, what="the merge Job",
        )  # fmt: skip
        batch = kubernetes.client.BatchV1Api(kube_api)
        complete(kube_api, namespace, batch.read_namespaced_job(merge, namespace), tmp_path)
        wait_for(lambda: ready(objects, "Dataset", "big"), 60, what="Dataset Ready")
        status = objects.get("Dataset", "big")["status"]
        assert (status["rows"], status["columns"], status["progress"]) == (12_000, 4, "3/3")
        assert status["snapshotUri"].endswith(f"/{status['version']}/manifest.json")
        wait_for(lambda: objects.get("Dataset", "big")["status"].get("podFailures") == 1, 30,
                 what="the failed attempt counted")  # fmt: skip
        # Events are posted after the status patch that says Ready: wait for the last one
        wanted = {"JobCreated", "PartitionRetried", "Profiled"}
        wait_for(lambda: wanted <= set(events(kube_api, namespace, "big")), 30,
                 what=f"the events {sorted(wanted)}")  # fmt: skip

        # The same rows profiled in one pass: the same counts, drift within its bounds.
        single = run_single(tmp_path, store, spec_of(source))
        assert single["rows"] == status["rows"]
        one = ReferenceProfile.from_json(Store(store).read_bytes(single["profileUri"]))
        merged = ReferenceProfile.from_json(Store(store).read_bytes(status["profileUri"]))
        assert merged.categorical == one.categorical and merged.targets == ["target"]
        current = rows(5_000, 2)
        current["a"] += 0.05
        ks = check_drift(merged, current, numeric_test="ks")
        ks_one = check_drift(one, current, numeric_test="ks")
        for col in ("a", "b"):  # the bound of docs/drift.md, heavy tail or not
            exact = sps.ks_2samp(frame[col], current[col]).statistic
            d, error = by_name(ks, col).statistic, by_name(ks, col).error
            assert d <= exact + 1e-12 <= d + error + 2e-12 and error <= 1 / 2048
            assert abs(by_name(ks_one, col).statistic - exact) <= 1 / 2048

        # Training from it, capped: a seeded sample, recorded in the ModelVersion's lineage.
        objects.create({
            "apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingJob",
            "metadata": {"name": "big-lr"},
            "spec": {"datasetRef": {"name": "big"}, "model": "big",
                     "estimator": "LogisticRegression", "target": "target",
                     "features": ["a", "b"], "maxRows": 3000, "split": {"seed": 9}},
        })  # fmt: skip
        train = wait_for(lambda: get_job(kube_api, namespace, "mlops.dev/trainingjob=big-lr"), 60,
                         what="training Job")  # fmt: skip
        complete(kube_api, namespace, train, tmp_path)
        wait_for(lambda: ready(objects, "TrainingJob", "big-lr"), 60, what="TrainingJob Ready")
        mv = objects.get(
            "ModelVersion", objects.get("TrainingJob", "big-lr")["status"]["modelVersion"]
        )
        assert mv["spec"]["lineage"]["dataset"] == {
            "name": "big", "version": status["version"], "rowsAvailable": 12_000,
            "rowsSampled": 3000, "sampleSeed": 9,
        }  # fmt: skip
        log = json.loads((tmp_path / f"{train.metadata.name}.log").read_text())
        assert log["ok"] and log["metrics"]["accuracy"] > 0.8


@pytest.mark.parametrize(
    ("spec", "words"),
    [({"source": {"uri": "file:///d/x.csv", "format": "csv"}, "partitions": 2},
      "spec.source.format to parquet"),
     ({"source": {"uri": "file:///d/", "format": "parquet"}, "partitions": 2,
       "additionalSources": [{"uri": "file:///e.parquet", "format": "parquet"}]},
      "spec.additionalSources are not read"),
     ({"source": {"uri": "file:///d/", "format": "parquet"}, "parallelism": 2},
      "spec.parallelism needs spec.partitions")],
)  # fmt: skip
def test_a_partitioned_dataset_the_operator_cannot_run_is_refused_at_the_door(
    objects: Objects, spec: dict[str, Any], words: str
) -> None:
    with pytest.raises(kubernetes.client.ApiException) as caught:
        objects.create({"apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset",
                        "metadata": {"name": "refused"}, "spec": spec})  # fmt: skip
    assert caught.value.status == 422 and words in caught.value.body
    assert "spec.partitions" in caught.value.body or "spec.parallelism" in caught.value.body
