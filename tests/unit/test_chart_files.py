"""The chart's and the manifests' files, without tools: CRD copies, versions, the iris example,
the dashboard. Rendering, linting and the API server checks are in tests/integration/test_chart.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_operator.api.kinds import KINDS
from mlops_operator.config import OperatorConfig
from mlops_operator.kube.cache import WATCHED
from mlops_operator.kube.resources import Resource
from mlops_operator.serving import metrics as serving_metrics
from mlops_operator.training.sources import load_sklearn

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mlops-operator"
IRIS = ROOT / "manifests" / "examples" / "iris"
MODELS = {kind.kind: kind for kind in KINDS}

# The operator's series (mlops_operator/metrics.py: drift and model performance) and the
# serving pods'.
OPERATOR_METRICS = {
    "mlops_reconcile_total",
    "mlops_reconcile_duration_seconds",
    "mlops_training_failures_total",
    "mlops_rollbacks_total",
    "mlops_drift_statistic",
    "mlops_drift_p_value",
    "mlops_feature_drifted",
    "mlops_dataset_drift_share",
    "mlops_drift_checks_total",
    "mlops_retrains_triggered_total",
    "mlops_retrain_failures_total",
    "mlops_model_performance",
    "mlops_model_performance_estimated",
    "mlops_labeled_predictions",
    "mlops_model_performance_degraded",
}
SERVING_METRICS = set(
    re.findall(r'"(mlops_serving_[a-z_]+)"', Path(serving_metrics.__file__).read_text())
)


@pytest.mark.parametrize("copy", ["charts/mlops-operator/crds", "manifests/install/crds"])
def test_crd_copies_are_identical_to_crds(copy: str) -> None:
    """Refresh with `bash hack/sync-chart-crds.sh` after `make crds`."""
    source = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    copied = {p.name: p.read_bytes() for p in (ROOT / copy).glob("*")}
    assert set(copied) == set(source)
    stale = [name for name in source if copied[name] != source[name]]
    assert not stale, f"{copy} is stale ({stale}): run `bash hack/sync-chart-crds.sh`"


def test_chart_version_is_the_project_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == project


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        paths.add(prefix + key)
        if sub.get("properties"):
            paths |= _schema_paths(sub, prefix + key + ".")
    return paths


def _value_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Paths of values.yaml down to where the schema stops describing keys (free-form maps)."""
    paths = set()
    for key, value in values.items():
        paths.add(prefix + key)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and sub.get("properties"):
            paths |= _value_paths(value, sub, prefix + key + ".")
    return paths


def test_values_schema_describes_every_value_and_refuses_unknown_ones() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    described = _schema_paths(schema)
    assert _value_paths(values, schema) <= described
    assert described - {"global"} <= _value_paths(values, schema), "schema keys missing a default"

    def closed(node: dict[str, Any], where: str) -> None:
        if node.get("properties"):
            assert node.get("additionalProperties") is False, where
            for key, sub in node["properties"].items():
                closed(sub, f"{where}.{key}")

    closed(schema, "values")


def test_values_yaml_documents_each_top_level_key() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    for key in (
        "image",
        "watchNamespaces",
        "operator",
        "serviceAccount",
        "podServiceAccount",
        "rbac",
        "store",
        "metrics",
    ):
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
        above = "\n".join(lines[max(0, index - 6) : index + 3])
        assert "#" in above, f"{key} has no comment"


def test_operator_value_defaults_are_the_operator_defaults() -> None:
    """Installed with defaults, the operator runs as it would with no environment at all."""
    operator = yaml.safe_load((CHART / "values.yaml").read_text())["operator"]
    defaults = OperatorConfig()
    assert operator["workers"] == defaults.workers
    assert operator["resyncSeconds"] == defaults.resync_seconds
    assert operator["jobTtlSeconds"] == defaults.job_ttl_seconds
    assert operator["healthPort"] == defaults.health_port
    assert operator["metricsPort"] == defaults.metrics_port


def _operator_rules() -> list[dict[str, Any]]:
    """The rules every (Cluster)Role of the operator holds: plain YAML in one helper template."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = re.search(
        r'\{\{- define "mlops-operator.namespacedRules" -\}\}\n(.*?)\{\{- end -\}\}',
        helpers,
        re.S,
    )
    assert block, "the namespacedRules helper is gone"
    rules: list[dict[str, Any]] = yaml.safe_load(block.group(1))
    return rules


def test_operator_may_list_and_watch_everything_it_caches() -> None:
    """Every resource of the watch cache (kube.cache.WATCHED) is granted get, list and watch."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in _operator_rules():
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    for watched in WATCHED.values():
        group = watched.api_version.rpartition("/")[0]
        plural = Resource(watched.api_version, watched.kind).plural
        verbs = granted.get((group, plural), set())
        assert {"get", "list", "watch"} <= verbs, (group, plural, verbs)
    assert not {v for verbs in granted.values() for v in verbs} & {"*", "deletecollection"}


# ---------------------------------------------------------------- the iris example


def _example() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load((IRIS / "kustomization.yaml").read_text())
    docs = [yaml.safe_load((IRIS / name).read_text()) for name in kustomization["resources"]]
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in IRIS.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    return {doc["kind"]: doc for doc in docs}


def test_iris_example_has_the_whole_pipeline() -> None:
    assert set(_example()) == {"Dataset", "TrainingJob", "ModelDeployment", "DriftMonitor"}


@pytest.mark.parametrize("kind", ["Dataset", "TrainingJob", "ModelDeployment", "DriftMonitor"])
def test_iris_example_validates_against_the_api_models(kind: str) -> None:
    doc = _example()[kind]
    assert doc["apiVersion"] == "mlops.dev/v1alpha1"
    assert "namespace" not in doc["metadata"], "the example goes wherever `-n` says"
    MODELS[kind].model.model_validate({"spec": doc["spec"]})


def test_iris_example_objects_refer_to_each_other() -> None:
    example = _example()
    dataset, training, deployment, monitor = (
        example[k] for k in ("Dataset", "TrainingJob", "ModelDeployment", "DriftMonitor")
    )
    assert training["spec"]["datasetRef"]["name"] == dataset["metadata"]["name"]
    assert deployment["spec"]["model"]["name"] == training["spec"]["model"]
    assert deployment["spec"]["model"]["policy"] == "latest"
    assert deployment["spec"]["strategy"]["type"] in ("Canary", "RollingUpdate")
    assert monitor["spec"]["target"]["deploymentRef"]["name"] == deployment["metadata"]["name"]
    assert monitor["spec"]["action"]["type"] == "retrain"
    assert monitor["spec"]["action"]["cooldownSeconds"] >= 60


def test_iris_example_schema_matches_the_bundled_data() -> None:
    """Column names, types and allowed classes are those sklearn://iris really yields."""
    frame = load_sklearn("sklearn://iris")
    dataset = _example()["Dataset"]["spec"]
    columns = {c["name"]: c["type"] for c in dataset["schema"]["columns"]}
    assert list(columns) == list(frame.columns)
    assert [n for n, t in columns.items() if t == "target"] == [
        _example()["TrainingJob"]["spec"]["target"]
    ]
    rules = {r["check"]: r for r in dataset["validation"]["rules"]}
    assert set(rules["allowedValues"]["values"]) == set(frame[rules["allowedValues"]["column"]])
    assert len(frame) >= dataset["validation"]["minRows"]
    low, high = rules["range"]["min"], rules["range"]["max"]
    assert frame[rules["range"]["column"]].between(low, high).all()


# ---------------------------------------------------------------- the Grafana dashboard


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(mlops_[a-z_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_dashboard_uses_only_exported_metrics() -> None:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    assert dashboard["uid"] == "mlops-operator"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used <= OPERATOR_METRICS | SERVING_METRICS, used - OPERATOR_METRICS - SERVING_METRICS
    # Every operator series and the main serving ones have a panel.
    assert used >= OPERATOR_METRICS, OPERATOR_METRICS - used
    assert {
        "mlops_serving_requests_total",
        "mlops_serving_request_duration_seconds",
        "mlops_serving_model_ready",
    } <= used
    # Panels query the chosen data source, and every query is namespace-filtered but the
    # operator-wide reconcile ones.
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    unfiltered = [e for e in exprs if "$namespace" not in e]
    assert all("mlops_reconcile" in e for e in unfiltered), unfiltered
    # Panels do not overlap on the 24-column grid.
    cells = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
