"""Pods mount only their namespace's part of the store, read-only where they only read."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_operator.config import OperatorConfig, StoreVolume
from mlops_operator.reconcile import dataset, pods
from mlops_operator.reconcile.confinement import AREAS

CONFIG = OperatorConfig(volume=StoreVolume(claim_name="mlops-store"))
ROOT = "/var/lib/mlops/store"


def _store_mounts(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in mounts if m["name"] == pods.STORE_VOLUME]


@pytest.mark.parametrize(
    ("writes", "writable"),
    [
        (pods.WRITES_PROFILE, {"datasets", "runs"}),
        (pods.WRITES_TRAIN, {"models", "runs"}),
        (pods.WRITES_COMPARE, {"evaluations"}),
        (pods.WRITES_BATCH, {"predictions"}),
        (pods.WRITES_SERVE, {"samples", "labels"}),
    ],
)
def test_each_pod_writes_only_its_areas_of_its_namespace(
    writes: tuple[str, ...], writable: set[str]
) -> None:
    volumes, mounts = pods.volumes(CONFIG, "b", writes)
    assert volumes[-1] == {"name": "store", "persistentVolumeClaim": {"claimName": "mlops-store"}}
    store = _store_mounts(mounts)
    assert [m["subPath"] for m in store] == [f"{area}/b" for area in AREAS]
    for mount in store:
        assert mount["mountPath"] == f"{ROOT}/{mount['subPath']}"
        area = mount["subPath"].split("/")[0]
        assert mount.get("readOnly", False) is (area not in writable), mount
    assert not any(m["mountPath"] == ROOT for m in mounts), "the whole store is never mounted"


def test_store_below_the_mount_root() -> None:
    config = OperatorConfig(store_uri=f"file://{ROOT}/prod", volume=StoreVolume(claim_name="c"))
    store = _store_mounts(pods.volumes(config, "b", pods.WRITES_TRAIN)[1])
    assert store[0] == {
        "name": "store",
        "mountPath": f"{ROOT}/prod/inputs/b",
        "subPath": "prod/inputs/b",
        "readOnly": True,
    }


def test_no_claim_no_store_mount() -> None:
    config = OperatorConfig(store_uri="s3://bucket/store")
    volumes, mounts = pods.volumes(config, "b", pods.WRITES_TRAIN)
    assert _store_mounts(mounts) == [] and [v["name"] for v in volumes] == ["tmp"]


def test_profile_job_pod_mounts_its_namespace_only() -> None:
    body = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "iris", "namespace": "b", "uid": "u", "generation": 1},
        "spec": {"source": {"uri": "sklearn://iris"}},
    }
    job = dataset.profile_job(body, CONFIG)
    [container] = job["spec"]["template"]["spec"]["containers"]
    store = _store_mounts(container["volumeMounts"])
    assert {m["subPath"] for m in store} == {f"{area}/b" for area in AREAS}
    assert {m["subPath"] for m in store if not m.get("readOnly")} == {"datasets/b", "runs/b"}
