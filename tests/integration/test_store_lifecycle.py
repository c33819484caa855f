"""The store sweep on the real control plane: a deployment with 30 days of sampled history,
ModelVersions kept and deleted, garbage of every kind; first a dry run (nothing removed, the
report and GarbageFound), then the real sweep (retention and garbage collection, Events,
nothing referenced touched), and a monitor whose window reaches past retention."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kubernetes
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.integration.operator import running_operator
from tests.support.cluster import Objects, wait_for

from mlops_operator.artifacts import Store, paths
from mlops_operator.artifacts.lifecycle import partitions
from mlops_operator.artifacts.records import ID, TIME

SHA_KEEP, SHA_GONE, SHA_DS = "1" * 64, "2" * 64, "d" * 64
SIGNATURE = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}]}
DAYS = 30


def _parquet(ids: list[str], moment: datetime) -> bytes:
    sink = io.BytesIO()
    times = pa.array([moment] * len(ids), pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({ID: pa.array(ids), TIME: times, "x": [1.0] * len(ids)}), sink)
    return sink.getvalue()


def model_version(name: str, uri: str, sha: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {"model": "iris", "version": int(name[-1]), "task": "classification",
                 "artifact": {"uri": uri, "format": "onnx", "sha256": sha},
                 "signature": SIGNATURE},
    }  # fmt: skip


def _events(kube_api: kubernetes.client.ApiClient, namespace: str, reason: str) -> list[Any]:
    core = kubernetes.client.CoreV1Api(kube_api)
    return [e for e in core.list_namespaced_event(namespace).items if e.reason == reason]


def _age(root: Path, days: float) -> None:
    moment = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (moment, moment))


@pytest.mark.timeout(600)
def test_retention_and_gc_dry_run_then_sweep(
    objects: Objects,
    namespace: str,
    store: str,
    kube_api: kubernetes.client.ApiClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    st = Store(store)
    ns = namespace
    root = Path(st.root.removeprefix("file://"))
    keep_model, _ = st.write_bytes(f"models/{ns}/iris/{SHA_KEEP}/model.onnx", b"keep")
    gone_model, _ = st.write_bytes(f"models/{ns}/iris/{SHA_GONE}/model.onnx", b"gone" * 100)
    garbage = {  # path -> what it is; none referenced by a live object
        f"models/{ns}/iris/{SHA_GONE}": "artifact of a deleted ModelVersion",
        f"datasets/{ns}/old/{SHA_DS}": "dataset version of no Dataset, in no lineage",
        f"runs/{ns}/datasets/old/old-profile-1.json": "Job result file",
        f"production/{ns}/mon/w-old": "production window nobody names",
        f"evaluations/{ns}/iris/iris-v2.json": "evaluation of a deleted ModelVersion",
        f"samples/{ns}/gone/iris-v1": "samples of a deleted deployment",
    }
    st.write_bytes(f"datasets/{ns}/old/{SHA_DS}/data.parquet", b"d" * 1000)
    st.write_bytes(f"runs/{ns}/datasets/old/old-profile-1.json", b"{}")
    st.write_bytes(f"production/{ns}/mon/w-old/train.parquet", b"w" * 500)
    st.write_bytes(f"evaluations/{ns}/iris/iris-v2.json", b"{}")
    st.write_bytes(f"evaluations/{ns}/iris/iris-v1.json", b"{}")
    st.write_bytes(f"samples/{ns}/gone/iris-v1/20250101T000000000000Z-00.parquet", b"s")
    # 30 days of samples of the live deployment, one file an hour, and labels.
    now = datetime.now(UTC)
    start = paths.hour_of(now) - timedelta(days=DAYS)
    for h in range(DAYS * 24 + 1):
        moment = start + timedelta(hours=h, minutes=1)
        token = f"{h:08x}"
        data = _parquet([f"p{h}"], moment)
        st.write_bytes(f"samples/{ns}/iris/iris-v1/{paths.record_file(moment, token)}", data)
        st.write_bytes(f"labels/{ns}/iris/{paths.record_file(moment, token)}", data)
    _age(root / "models" / ns, 3)
    for area in ("datasets", "runs", "production", "evaluations", "samples"):
        _age(root / area / ns, 3)

    objects.create(model_version("iris-v1", keep_model, SHA_KEEP))
    objects.create(model_version("iris-v2", gone_model, SHA_GONE))
    objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
        "metadata": {"name": "iris"},
        "spec": {"modelVersionRef": {"name": "iris-v1"}, "replicas": 0,
                 "retention": {"maxAgeHours": 48}},
    })  # fmt: skip
    objects.create({
        "apiVersion": "mlops.dev/v1alpha1", "kind": "DriftMonitor",
        "metadata": {"name": "week"},
        "spec": {"target": {"deploymentRef": {"name": "iris"}},
                 "window": {"rows": 100000, "durationSeconds": 7 * 86400}},
    })  # fmt: skip
    objects.delete("ModelVersion", "iris-v2")

    monkeypatch.setenv("MLOPS_STORE_SWEEP_SECONDS", "2")
    monkeypatch.setenv("MLOPS_GC_GRACE_SECONDS", "86400")
    monkeypatch.setenv("MLOPS_GC_DRY_RUN", "true")
    with running_operator(namespace) as runner:
        found = wait_for(lambda: _events(kube_api, ns, "GarbageFound"), timeout=120)
        retained = wait_for(
            lambda: (
                (c := objects.condition("DriftMonitor", "week", "WindowRetained"))
                and c["status"] == "False"
                and c
            ),
            timeout=60,
        )
    assert "spec.window.durationSeconds (604800)" in retained["message"]
    assert retained["reason"] == "WindowBeyondRetention" and "48 h" in retained["message"]
    message = found[0].message
    assert message.startswith("dry run: would remove ") and "1 model" in message
    for path in garbage:  # a dry run removes nothing
        assert (root / path).exists(), path
    assert len(list((root / "samples" / ns / "iris" / "iris-v1").glob("dt=*/hour=*"))) == 721
    report = re.search(rf"store sweep of {ns}:\n((?:(?!\[\d{{4}}-).*\n?)+)", runner.output)
    assert report is not None, runner.output[-2000:]
    with capsys.disabled():
        print(f"\nGC dry-run report:\n{report.group(0).strip()}\n")
    for path in garbage:
        assert re.search(rf"would remove\s+\S+\s+\d+\s+{re.escape(path)}\b", report.group(0)), path

    monkeypatch.setenv("MLOPS_GC_DRY_RUN", "false")
    with running_operator(namespace):
        collected = wait_for(lambda: _events(kube_api, ns, "GarbageCollected"), timeout=120)
        applied = wait_for(lambda: _events(kube_api, ns, "RetentionApplied"), timeout=60)
    assert "that no live object references" in collected[0].message
    assert applied[0].involved_object.kind == "ModelDeployment"
    for path in garbage:
        assert not (root / path).exists(), path
    # Everything referenced stays: the live ModelVersion's artifact, the evaluation of a
    # live version, the deployment's recent samples and labels.
    assert (root / f"models/{ns}/iris/{SHA_KEEP}/model.onnx").read_bytes() == b"keep"
    assert (root / f"evaluations/{ns}/iris/iris-v1.json").exists()
    hours = sorted((root / "samples" / ns / "iris" / "iris-v1").glob("dt=*/hour=*"))
    assert 48 <= len(hours) <= 50  # 48 h of retention, plus the open hour
    table, _ = partitions.read_window(st, f"samples/{ns}/iris/iris-v1", None, None)
    assert table is not None
    ids = table.column(ID).to_pylist()
    assert ids == [f"p{h}" for h in range(DAYS * 24 + 1 - len(hours), DAYS * 24 + 1)]
    labels, _ = partitions.read_window(st, f"labels/{ns}/iris", None, None)
    assert labels is not None and labels.column(ID).to_pylist() == ids
