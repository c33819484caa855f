"""The confinement rule (reconcile/confinement.py) as a table: what namespace b may name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_operator.artifacts import paths
from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import confinement, pods, reasons
from mlops_operator.reconcile.confinement import Rules

FILE = Rules(store_root="file:///var/lib/mlops/store", allowed_file_prefixes=("/data/shared",))
S3 = Rules(store_root="s3://mlops/store", operator_s3_credentials=True)
S = "file:///var/lib/mlops/store"
OUT, NOT = reasons.OUTSIDE_NAMESPACE, reasons.PATH_NOT_ALLOWED

# (rules, uri, own s3 credentials, may name data outside the store, expected reason or None)
TABLE = [
    (FILE, f"{S}/datasets/b/raw/iris.csv", False, True, None),
    (FILE, f"{S}/inputs/b/iris.csv", False, True, None),
    (FILE, f"{S}/inputs/a/iris.csv", False, True, OUT),
    (FILE, f"{S}/production/b/mon/w1/train.parquet", False, True, None),
    (FILE, f"{S}/models/b/m/abc/model.onnx", False, False, None),
    (FILE, f"{S}/datasets/a/raw/iris.csv", False, True, OUT),
    (FILE, f"{S}/models/a/m/abc/model.onnx", False, False, OUT),
    (FILE, f"{S}/samples/a/dep/v1", False, False, OUT),
    (FILE, f"{S}/labels/a/dep", False, True, OUT),
    (FILE, f"{S}/datasets/b/../a/x.csv", False, True, OUT),
    (FILE, f"{S}/datasets/b/./../../datasets/a/x.csv", False, True, OUT),
    (FILE, "file:///var/lib/mlops//store/datasets/a/x.csv", False, True, OUT),
    (FILE, f"{S}/datasets/b", False, True, None),
    (FILE, f"{S}/datasets", False, True, NOT),
    (FILE, f"{S}/raw/b/x.csv", False, True, NOT),
    (FILE, f"{S}", False, True, NOT),
    (FILE, f"{S}/../store/datasets/a/x.csv", False, True, OUT),
    (FILE, "file:///var/lib/mlops/storex/datasets/b/x.csv", False, True, NOT),
    (FILE, "file:///etc/passwd", False, True, NOT),
    (FILE, "file:///data/shared/iris.csv", False, True, None),
    (FILE, "file:///data/shared/../secret/iris.csv", False, True, NOT),
    (FILE, "file:///data/sharedx/iris.csv", False, True, NOT),
    (FILE, "file:///data/shared/iris.csv", False, False, NOT),
    (FILE, "file://host/var/lib/mlops/store/datasets/b/x", False, True, NOT),
    (FILE, "https://example.com/iris.csv", False, True, None),
    (FILE, "sklearn://iris", False, True, None),
    (FILE, "https://example.com/model.onnx", False, False, NOT),
    (FILE, "ftp://example.com/iris.csv", False, True, NOT),
    (FILE, "s3://bucket/iris.csv", False, True, None),  # no S3 credentials in the pods
    (S3, "s3://mlops/store/datasets/b/x.parquet", False, True, None),
    (S3, "s3://mlops/store/datasets/a/x.parquet", False, True, OUT),
    (S3, "s3://mlops/store/datasets/b/../a/x.parquet", False, True, OUT),
    (S3, "s3://mlops/store/models/a/m/x/model.onnx", False, False, OUT),
    (S3, "s3://mlops/other/x.parquet", False, True, NOT),
    (S3, "s3://mlops/other/x.parquet", True, True, None),
    (S3, "s3://elsewhere/x.parquet", True, True, None),
    (S3, "s3://elsewhere/x.parquet", True, False, NOT),
    (S3, f"{S}/datasets/b/x.csv", False, True, NOT),  # a file:// URI when the store is S3
]


@pytest.mark.parametrize(("rules", "uri", "own", "outside", "expected"), TABLE)
def test_confinement_table(
    rules: Rules, uri: str, own: bool, outside: bool, expected: str | None
) -> None:
    refusal = confinement.check(
        "spec.source.uri", uri, "b", rules, own_credentials=own, outside_store=outside
    )
    if expected is None:
        assert refusal is None, refusal
        return
    assert refusal is not None, uri
    assert refusal.reason == expected
    assert refusal.message.startswith(f"spec.source.uri: {uri} ")
    assert refusal.field == "spec.source.uri"


def test_outside_namespace_message_names_both_namespaces() -> None:
    refusal = confinement.check("spec.source.uri", f"{S}/datasets/a/x.csv", "b", FILE)
    assert refusal is not None
    assert "outside namespace b's part of the store" in refusal.message
    assert "namespace a's" in refusal.message
    assert "{inputs,datasets,models,runs,samples,labels,production,evaluations,predictions}/b/" in (
        refusal.message
    )


def test_not_allowed_message_lists_the_allowed_prefixes() -> None:
    refusal = confinement.check("spec.source.uri", "file:///etc/passwd", "b", FILE)
    assert refusal is not None and "allowed: /data/shared" in refusal.message
    none = confinement.check("spec.source.uri", "file:///etc/passwd", "b", Rules(S))
    assert none is not None and "allowed: none" in none.message


def test_every_area_of_the_layout_is_confined() -> None:
    """Each path builder of artifacts/paths.py starts with an area and then the namespace."""
    sha, now = "a" * 64, datetime(2026, 1, 1, tzinfo=UTC)
    built = [
        paths.dataset_snapshot("ns", "d", sha),
        paths.dataset_part("ns", "d", sha),
        paths.dataset_partial("ns", "d", "r", 0),
        paths.rejected_summary("ns", "d", sha),
        paths.model_file("ns", "m", sha, "onnx"),
        paths.job_result("ns", "datasets", "d", "j"),
        paths.run_result("ns", "t", "u"),
        paths.samples_dir("ns", "dep", "v1"),
        paths.labels_dir("ns", "dep"),
        paths.production_window("ns", "mon", now.strftime("%Y%m%d")),
        paths.evaluation_result("ns", "dep", "v2"),
        paths.batch_partition("ns", "bp", "r", 0),
    ]
    assert {p.split("/")[0] for p in built} | {confinement.INPUTS} == set(confinement.AREAS)
    for path in built:
        assert path.split("/")[1] == "ns"
        assert confinement.check("f", paths.under(S, path), "ns", FILE, outside_store=False) is None
        assert confinement.check("f", paths.under(S, path), "other", FILE) is not None


DATASET_SPEC = {
    "source": {"uri": f"{S}/datasets/b/raw.csv"},
    "additionalSources": [
        {"uri": f"{S}/production/b/m/w/train.parquet"},
        {"uri": f"{S}/production/a/m/w/train.parquet"},
    ],
}


def test_dataset_refusal_names_the_list_item() -> None:
    refusal = confinement.dataset_refusal(DATASET_SPEC, "b", FILE)
    assert refusal is not None and refusal.field == "spec.additionalSources[1].uri"
    assert confinement.dataset_refusal({"source": {"uri": "sklearn://iris"}}, "b", FILE) is None


@pytest.mark.parametrize(
    ("field", "spec"),
    [
        ("spec.artifact.uri", {"artifact": {"uri": f"{S}/models/a/m/x/model.onnx"}}),
        ("spec.lineage.profileUri", {"lineage": {"profileUri": f"{S}/datasets/a/d/x/p.json"}}),
        ("spec.lineage.runUri", {"lineage": {"runUri": f"{S}/runs/a/t/u/result.json"}}),
        (
            "spec.lineage.productionWindow.uri",
            {"lineage": {"productionWindow": {"uri": f"{S}/production/a/m/w"}}},
        ),
        ("spec.lineage.search.reportUri", {"lineage": {"search": {"reportUri": f"{S}/runs/a/r"}}}),
    ],
)
def test_model_version_fields(field: str, spec: dict[str, object]) -> None:
    own = {"artifact": {"uri": f"{S}/models/b/m/x/model.onnx"}}
    assert confinement.model_version_refusal(own, "b", FILE) is None
    refusal = confinement.model_version_refusal({**own, **spec}, "b", FILE)
    assert refusal is not None and refusal.field == field and refusal.reason == OUT


def test_batch_and_monitor_fields() -> None:
    batch = {"input": {"source": {"uri": f"{S}/predictions/a/bp/r/"}}}
    refusal = confinement.batch_refusal(batch, "b", FILE)
    assert refusal is not None and refusal.field == "spec.input.source.uri"
    assert confinement.batch_refusal({"input": {"datasetRef": {"name": "d"}}}, "b", FILE) is None
    monitor = {"performance": {"labels": {"uri": f"{S}/labels/a/dep"}}}
    refusal = confinement.monitor_refusal(monitor, "b", FILE)
    assert refusal is not None and refusal.field == "spec.performance.labels.uri"
    assert confinement.monitor_refusal({}, "b", FILE) is None


def test_rules_of_the_operator_config() -> None:
    config = OperatorConfig(store_uri="s3://b/p", allowed_file_prefixes=("/x",))
    rules = confinement.rules_of(config)
    assert rules == Rules("s3://b/p", ("/x",), operator_s3_credentials=True)
    assert not confinement.rules_of(OperatorConfig()).operator_s3_credentials


def test_prefixes_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_ALLOWED_FILE_PREFIXES", "/data/shared, /mnt/x")
    assert OperatorConfig.from_env().allowed_file_prefixes == ("/data/shared", "/mnt/x")
    monkeypatch.setenv("MLOPS_ALLOWED_FILE_PREFIXES", "data/relative")
    with pytest.raises(ValueError, match="MLOPS_ALLOWED_FILE_PREFIXES"):
        OperatorConfig.from_env()


def test_namespace_s3_secret_replaces_the_operator_wide_one_in_pods() -> None:
    config = OperatorConfig(store_uri="s3://b/p", s3_secret="wide", s3_namespace_secret="own")
    env = {e["name"]: e for e in pods.store_env(config)}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLOPS_S3_ENDPOINT"):
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "own"
    # The pods carry their namespace's credentials: an s3:// source outside the store is the
    # namespace's to read.
    assert not confinement.rules_of(config).operator_s3_credentials
    source = {"source": {"uri": "s3://elsewhere/x.csv"}}
    assert confinement.dataset_refusal(source, "b", confinement.rules_of(config)) is None
    wide = OperatorConfig(store_uri="s3://b/p", s3_secret="wide")
    refusal = confinement.dataset_refusal(
        {"source": {"uri": "s3://elsewhere/x.csv", "s3SecretRef": "mine"}},
        "b",
        confinement.rules_of(wide),
    )
    assert refusal is not None and "MLOPS_S3_NAMESPACE_SECRET" in refusal.message
