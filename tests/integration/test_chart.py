"""The Helm chart, the kustomize install and the iris example against a real kube-apiserver.

Every rendering (default values and each charts/mlops-operator/ci/*-values.yaml) passes
`helm lint --strict`, `kubeconform -strict` with JSON schemas generated from this control
plane's own OpenAPI and from the CRDs, and a server-side dry-run apply. The operator's RBAC is
applied for real and probed with SubjectAccessReviews. Needs bin/helm, bin/kubectl and
bin/kubeconform (`make tools`) and promtool (`make packages`): missing tools fail, never skip.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from tests.support.cluster import wait_for
from tests.support.control_plane import ROOT, ControlPlane, binary

from mlops_operator.kube.cache import WATCHED as WATCHED_RESOURCES
from mlops_operator.kube.resources import Resource

pytestmark = pytest.mark.integration

CHART = ROOT / "charts" / "mlops-operator"
INSTALL = ROOT / "manifests" / "install"
IRIS = ROOT / "manifests" / "examples" / "iris"
VALUE_SETS = {"default": None} | {
    path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*.yaml"))
}
# Kinds without a CRD on this control plane (the Prometheus Operator's): checked by kubeconform
# against the minimal schemas below and by promtool, left out of the server-side dry run.
NO_CRD_HERE = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
WATCHED = ("team-a", "team-b")  # the namespaces of ci/namespaced-values.yaml


def watched(namespace: str) -> tuple[str, str]:
    """Per-test watched namespaces (a deleted namespace lingers while it terminates)."""
    return (f"{namespace}-a", f"{namespace}-b")


def watch_args(namespace: str) -> list[str]:
    return ["--set", "watchNamespaces={" + ",".join(watched(namespace)) + "}"]


def run(
    *argv: str | Path, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run `make packages` (Debian's prometheus package)"
    return found


def helm_template(
    values: Path | None = None,
    namespace: str = "mlops",
    release: str = "mlops-operator",
    *extra: str,
) -> list[dict[str, Any]]:
    argv: list[str | Path] = [binary("helm"), "template", release, CHART, "--namespace", namespace]
    if values:
        argv += ["-f", values]
    return [d for d in yaml.safe_load_all(run(*argv, *extra).stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def kubectl(
    plane: ControlPlane, *argv: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(
        binary("kubectl"), "--kubeconfig", str(plane.kubeconfig), *argv, stdin=stdin, check=check
    )


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


# ---------------------------------------------------------------- kubeconform schemas


def _strict(schema: Any) -> Any:
    """The `-strict` flavour of a schema: objects with properties refuse unknown fields."""
    if not isinstance(schema, dict):
        return schema
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string"):
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _strict(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_strict(sub) for sub in value]
        else:
            out[key] = value
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _file_name(api_version: str, kind: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` for this apiVersion/kind."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


# Hand-written, strict and minimal: the fields of the Prometheus Operator's kinds the chart uses.
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
MONITORING_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {"type": "object", "properties": {"matchLabels": _LABELS}},
                    "namespaceSelector": {
                        "type": "object",
                        "properties": {
                            "matchNames": {"type": "array", "items": {"type": "string"}}
                        },
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                                "scrapeTimeout": {
                                    "type": "string",
                                    "pattern": "^([0-9]+(ms|s|m|h))+$",
                                },
                                "honorLabels": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "name": {"type": "string"},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "properties": {
                                            "alert": {"type": "string"},
                                            "record": {"type": "string"},
                                            "expr": {"type": "string"},
                                            "for": {"type": "string"},
                                            "labels": _LABELS,
                                            "annotations": _LABELS,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


def _reachable(definitions: dict[str, Any], root: str) -> dict[str, Any]:
    """The definitions `root` refers to, transitively (kubeconform compiles all it is given)."""
    found: dict[str, Any] = {}
    stack = [root]
    while stack:
        name = stack.pop()
        if name not in found:
            found[name] = definitions[name]
            stack += re.findall(r'"#/definitions/([^"]+)"', json.dumps(definitions[name]))
    return found


@pytest.fixture(scope="session")
def schemas(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """kubeconform schemas: built-in kinds from this API server's /openapi/v2, CRDs from crds/."""
    directory = tmp_path_factory.mktemp("kubeconform-schemas")
    spec = json.loads(kubectl(control_plane, "get", "--raw", "/openapi/v2").stdout)
    definitions = {name: _strict(d) for name, d in spec["definitions"].items()}
    # Quantities are strings or numbers in YAML (`cpu: 1`); the v2 document says only string.
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "oneOf": [{"type": "string"}, {"type": "number"}]
    }
    written = 0
    for name, definition in spec["definitions"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            schema = {"$ref": f"#/definitions/{name}", "definitions": _reachable(definitions, name)}
            (directory / _file_name(api_version, gvk["kind"])).write_text(json.dumps(schema))
            written += 1
    assert written > 100, f"only {written} kinds in /openapi/v2"
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schema = _strict(version["schema"]["openAPIV3Schema"])
            (directory / _file_name(api_version, crd["spec"]["names"]["kind"])).write_text(
                json.dumps(schema)
            )
    for (api_version, kind), schema in MONITORING_SCHEMAS.items():
        (directory / _file_name(api_version, kind)).write_text(json.dumps(_strict(schema)))
    yield directory


def kubeconform(schemas: Path, manifests: str) -> dict[str, Any]:
    result = run(
        binary("kubeconform"),
        "-strict",
        "-summary",
        "-output",
        "json",
        "-schema-location",
        f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        "-",
        stdin=manifests,
        check=False,
    )
    report = json.loads(result.stdout)
    problems = [r for r in report.get("resources", []) if r["status"] != "statusValid"]
    assert result.returncode == 0 and not problems, json.dumps(report, indent=2) + result.stderr
    return dict(report["summary"])


# ---------------------------------------------------------------- namespaces for the renders


@pytest.fixture
def target_namespace(kube_api: kubernetes.client.ApiClient) -> Iterator[str]:
    core = kubernetes.client.CoreV1Api(kube_api)
    name = f"chart-{uuid.uuid4().hex[:8]}"
    created = []
    for ns in (name, *watched(name)):
        try:
            core.create_namespace({"metadata": {"name": ns}})
            created.append(ns)
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
    yield name
    for ns in created:
        core.delete_namespace(ns)


# ---------------------------------------------------------------- lint and schemas


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_strict(values: Path | None) -> None:
    argv: list[str | Path] = [binary("helm"), "lint", "--strict", CHART]
    if values:
        argv += ["-f", values]
    out = run(*argv).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out


def test_the_value_sets_cover_the_modes() -> None:
    assert set(VALUE_SETS) == {"default", "namespaced", "s3", "monitoring", "ha"}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rendered_chart_passes_kubeconform(schemas: Path, values: Path | None) -> None:
    docs = helm_template(values)
    summary = kubeconform(schemas, dump(docs))
    assert summary["valid"] == len(docs) and summary["skipped"] == 0, summary
    assert summary["invalid"] == 0 and summary["errors"] == 0, summary


def test_kubeconform_schemas_catch_mistakes(schemas: Path) -> None:
    """The generated schemas are strict: an unknown field or a wrong type is reported."""
    deployment = by_kind(helm_template(), "Deployment")[0]
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "IfNotPresent"
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "one"
    bad_cr = yaml.safe_load((IRIS / "dataset.yaml").read_text())
    bad_cr["spec"]["source"]["url"] = bad_cr["spec"]["source"].pop("uri")
    for broken in (typo, wrong_type, bad_cr):
        result = run(
            binary("kubeconform"), "-strict",
            "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            "-", stdin=dump([broken]), check=False,
        )  # fmt: skip
        assert result.returncode == 1, f"kubeconform accepted {broken['kind']}: {result.stdout}"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rendered_chart_passes_server_side_dry_run(
    control_plane: ControlPlane, target_namespace: str, values: Path | None
) -> None:
    extra = watch_args(target_namespace) if values == VALUE_SETS["namespaced"] else []
    docs = helm_template(values, target_namespace, target_namespace, *extra)
    left_out = [d for d in docs if (d["apiVersion"], d["kind"]) in NO_CRD_HERE]
    applied = [d for d in docs if (d["apiVersion"], d["kind"]) not in NO_CRD_HERE]
    if values and values.name == "monitoring-values.yaml":
        assert len(left_out) == 2, (
            "the monitoring values render a ServiceMonitor and a PrometheusRule"
        )
    out = kubectl(
        control_plane, "apply", "--server-side", "--dry-run=server",
        "--field-manager=chart-test", "-f", "-", stdin=dump(applied),
    ).stdout  # fmt: skip
    assert out.count("(server dry run)") == len(applied), out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--set", "bogus=1"], "additional properties 'bogus' not allowed"),
        (["--set", "image.tag=latest"], "/image/tag"),
        (["--set", "store.type=s3"], "/store/s3/existingSecret"),
        (["--set", "store.type=nfs"], "/store/type"),
        (["--set", "watchNamespaces[0]=Not_A_Namespace"], "/watchNamespaces/0"),
        (
            ["--set", "metrics.prometheusRule.driftFor=ten minutes"],
            "/metrics/prometheusRule/driftFor",
        ),
        (["--set", "operator.workers=0"], "/operator/workers"),
        (["--set", "operator.resyncSeconds=0"], "/operator/resyncSeconds"),
    ],
)
def test_values_schema_refuses_bad_values(overrides: list[str], message: str) -> None:
    result = run(binary("helm"), "template", "x", CHART, *overrides, check=False)
    assert result.returncode != 0, f"{overrides} rendered: {result.stdout[:400]}"
    assert message in result.stderr, result.stderr


# ---------------------------------------------------------------- what the chart renders


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_operator_deployment_defaults() -> None:
    docs = helm_template()
    (deployment,) = by_kind(docs, "Deployment")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    container = _container(docs)
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert container["image"] == f"mlops-operator:{chart['appVersion']}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["run", "--health-port=8080", "--metrics-port=9090"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 8080,
        "metrics": 9090,
    }
    # Pod Security Standard `restricted`, and a read-only root with a writable /tmp.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}
    (pvc,) = by_kind(docs, "PersistentVolumeClaim")
    assert (
        volumes[mounts["/var/lib/mlops/store"]]["persistentVolumeClaim"]["claimName"]
        == pvc["metadata"]["name"]
    )
    env = _env(container)
    assert env["MLOPS_STORE"] == "file:///var/lib/mlops/store"
    assert env["MLOPS_STORE_PVC"] == pvc["metadata"]["name"]
    assert env["MLOPS_IMAGE"] == container["image"]
    assert env["MLOPS_IMAGE_PULL_POLICY"] == "IfNotPresent"
    assert "MLOPS_S3_SECRET" not in env
    workload = [
        sa
        for sa in by_kind(docs, "ServiceAccount")
        if sa["metadata"]["name"] == env["MLOPS_POD_SERVICE_ACCOUNT"]
    ]
    assert workload and workload[0]["automountServiceAccountToken"] is False
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and "storageClassName" not in pvc["spec"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_operator_env_is_what_config_reads() -> None:
    """Every MLOPS_* variable the chart sets is one OperatorConfig.from_env reads, and back."""
    source = (ROOT / "operator" / "mlops_operator" / "config.py").read_text()
    read = set(re.findall(r'"(MLOPS_[A-Z0-9_]+)"', source))
    pvc_env = {k for k in _env(_container(helm_template())) if k.startswith("MLOPS_")}
    s3_env = {
        k for k in _env(_container(helm_template(VALUE_SETS["s3"]))) if k.startswith("MLOPS_")
    }
    assert pvc_env <= read and (s3_env - {"MLOPS_S3_ENDPOINT"}) <= read
    optional = {"MLOPS_MLFLOW_TRACKING_URI"}  # set only when operator.mlflowTrackingUri is
    # set only with replicas > 1 (or leaderElection.enabled); the identity is the pod's name
    leader = {k for k in read if k.startswith("MLOPS_LEADER_ELECTION")}
    ha_env = {
        k for k in _env(_container(helm_template(VALUE_SETS["ha"]))) if k.startswith("MLOPS_")
    }
    assert leader - {"MLOPS_LEADER_ELECTION_IDENTITY", "MLOPS_LEADER_ELECTION_NAMESPACE"} <= ha_env
    optional |= leader
    assert read - {"MLOPS_S3_SECRET"} - optional <= pvc_env, read - pvc_env
    assert (
        read - {"MLOPS_STORE_PVC", "MLOPS_STORE_MOUNT_PATH", "MLOPS_POD_SERVICE_ACCOUNT"} - optional
        <= s3_env
    )


def test_two_replicas_elect_a_leader_and_roll_one_at_a_time() -> None:
    """replicas: 2 turns leader election on, with a Role for its one Lease, a rollout that never
    runs more pods than replicas, and a PodDisruptionBudget; one replica has none of these."""
    docs = helm_template(VALUE_SETS["ha"])
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    env = _env(_container(docs))
    assert env["MLOPS_LEADER_ELECTION"] == "true"
    assert env["MLOPS_LEADER_ELECTION_LEASE"] == deployment["metadata"]["name"]
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    roles = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("leader-election")]
    (role,) = roles
    assert role["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    lease_rules = [r for r in role["rules"] if r["resources"] == ["leases"]]
    assert {v for r in lease_rules for v in r["verbs"]} == {"create", "get", "update"}
    assert all(
        r.get("resourceNames") == [env["MLOPS_LEADER_ELECTION_LEASE"]]
        for r in lease_rules
        if r["verbs"] != ["create"]
    )
    single = helm_template()
    assert not by_kind(single, "PodDisruptionBudget")
    assert "MLOPS_LEADER_ELECTION" not in _env(_container(single))


def test_s3_store_wires_the_existing_secret() -> None:
    docs = helm_template(VALUE_SETS["s3"])
    container = _container(docs)
    env = _env(container)
    assert env["MLOPS_STORE"] == "s3://mlops-artifacts/prod"
    assert env["MLOPS_S3_SECRET"] == "mlops-s3"
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "mlops-s3", "key": "accessKeyId"}}
    assert env["MLOPS_S3_ENDPOINT"]["secretKeyRef"]["optional"] is True
    assert not by_kind(docs, "PersistentVolumeClaim")
    assert "MLOPS_STORE_PVC" not in env and "MLOPS_POD_SERVICE_ACCOUNT" not in env
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    assert container["image"] == "registry.example.com/ml/mlops-operator:0.1.0-rc1"


def _rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [rule for role in by_kind(docs, kind) for rule in role["rules"]]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rbac_has_no_wildcards(values: Path | None) -> None:
    docs = helm_template(values)
    rules = _rules(docs, "ClusterRole") + _rules(docs, "Role")
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), rule
    verbs = {v for rule in rules for v in rule["verbs"]}
    assert not verbs & {"escalate", "bind", "impersonate", "deletecollection"}
    resources = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("", "secrets") not in resources and ("", "configmaps") not in resources


def test_namespaced_mode_renders_roles_and_flags() -> None:
    docs = helm_template(VALUE_SETS["namespaced"], namespace="ml")
    container = _container(docs)
    assert container["args"][-2:] == ["--namespace=team-a", "--namespace=team-b"]
    roles = {r["metadata"]["namespace"] for r in by_kind(docs, "Role")}
    bindings = {b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding")}
    assert roles == bindings == set(WATCHED)
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    workload_namespaces = {
        sa["metadata"]["namespace"]
        for sa in by_kind(docs, "ServiceAccount")
        if sa["metadata"]["name"] == "mlops-workload"
    }
    assert workload_namespaces == {"ml", *WATCHED}


# ---------------------------------------------------------------- RBAC on the real API server


def _can(
    api: kubernetes.client.ApiClient,
    user: str,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    sub: str = "",
) -> bool:
    review = kubernetes.client.AuthorizationV1Api(api).create_subject_access_review(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", "system:authenticated"],
                "resourceAttributes": {
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "subresource": sub,
                    "namespace": namespace or "",
                },
            },
        }
    )
    return bool(review.status.allowed)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


# What the operator does in the API: (verb, group, resource, subresource).
NEEDED = [
    *[
        (v, "mlops.dev", r, "")
        for r in ("datasets", "trainingjobs", "modelversions", "modeldeployments", "driftmonitors")
        for v in ("get", "list", "watch", "patch")
    ],
    ("create", "mlops.dev", "modelversions", ""),
    ("create", "mlops.dev", "trainingjobs", ""),
    *[
        ("patch", "mlops.dev", r, "status")
        for r in ("datasets", "trainingjobs", "modelversions", "modeldeployments", "driftmonitors")
    ],
    *[
        ("update", "mlops.dev", r, "finalizers")
        for r in ("datasets", "trainingjobs", "modelversions", "modeldeployments", "driftmonitors")
    ],
    *[(v, "batch", "jobs", "") for v in ("create", "get", "list", "watch", "delete")],
    *[(v, "", "pods", "") for v in ("get", "list", "watch")],
    *[
        (v, "apps", "deployments", "")
        for v in ("create", "get", "list", "watch", "patch", "delete")
    ],
    *[(v, "", "services", "") for v in ("create", "get", "list", "watch", "patch", "delete")],
    *[
        (v, "autoscaling", "horizontalpodautoscalers", "")
        for v in ("create", "get", "list", "watch", "patch", "delete")
    ],
    ("create", "", "events", ""),
    ("create", "events.k8s.io", "events", ""),
    # Everything the operator watches (its cache and the events that wake reconciles).
    *[
        (v, _group(watched.api_version), Resource(watched.api_version, watched.kind).plural, "")
        for watched in WATCHED_RESOURCES.values()
        for v in ("list", "watch")
    ],
]
REFUSED = [
    ("get", "", "secrets", ""),
    ("list", "", "configmaps", ""),
    ("create", "", "pods", ""),
    ("delete", "", "pods", ""),
    ("create", "", "pods", "exec"),
    ("create", "rbac.authorization.k8s.io", "rolebindings", ""),
    ("patch", "", "namespaces", ""),
    ("delete", "mlops.dev", "datasets", "status"),
    ("create", "kopf.dev", "kopfpeerings", ""),
    ("get", "", "pods", "log"),
    # Writes are creates, patches and deletes: no full-object update.
    ("update", "apps", "deployments", ""),
    ("update", "", "services", ""),
    ("update", "mlops.dev", "modeldeployments", ""),
]


def _apply_rbac(plane: ControlPlane, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rbac = [
        d
        for d in docs
        if d["kind"]
        in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    ]
    kubectl(
        plane, "apply", "--server-side", "--field-manager=chart-test", "-f", "-", stdin=dump(rbac)
    )
    return rbac


def _delete(plane: ControlPlane, docs: list[dict[str, Any]]) -> None:
    kubectl(
        plane,
        "delete",
        "--ignore-not-found",
        "--wait=false",
        "-f",
        "-",
        stdin=dump(docs),
        check=False,
    )


def test_cluster_wide_rbac_grants_exactly_what_the_operator_needs(
    control_plane: ControlPlane, kube_api: kubernetes.client.ApiClient, target_namespace: str
) -> None:
    docs = helm_template(namespace=target_namespace, release=target_namespace)
    rbac = _apply_rbac(control_plane, docs)
    user = f"system:serviceaccount:{target_namespace}:{target_namespace}-mlops-operator"
    try:
        for ns in (target_namespace, "default"):
            missing = [n for n in NEEDED if not _can(kube_api, user, n[0], n[1], n[2], ns, n[3])]
            assert not missing, f"denied in {ns}: {missing}"
            granted = [r for r in REFUSED if _can(kube_api, user, r[0], r[1], r[2], ns, r[3])]
            assert not granted, f"granted in {ns}: {granted}"
        for verb in ("get", "list", "watch"):
            assert _can(
                kube_api, user, verb, "apiextensions.k8s.io", "customresourcedefinitions", None
            )
            assert _can(kube_api, user, verb, "", "namespaces", None)
        assert not _can(
            kube_api, user, "create", "apiextensions.k8s.io", "customresourcedefinitions", None
        )
        workload = (
            f"system:serviceaccount:{target_namespace}:{target_namespace}-mlops-operator-workload"
        )
        assert not _can(kube_api, workload, "get", "", "pods", target_namespace)
    finally:
        _delete(control_plane, rbac)


def test_namespaced_rbac_stays_in_the_watched_namespaces(
    control_plane: ControlPlane, kube_api: kubernetes.client.ApiClient, target_namespace: str
) -> None:
    docs = helm_template(
        VALUE_SETS["namespaced"], target_namespace, target_namespace, *watch_args(target_namespace)
    )
    rbac = _apply_rbac(control_plane, docs)
    user = f"system:serviceaccount:{target_namespace}:{target_namespace}-mlops-operator"
    try:
        for ns in watched(target_namespace):
            missing = [n for n in NEEDED if not _can(kube_api, user, n[0], n[1], n[2], ns, n[3])]
            assert not missing, f"denied in {ns}: {missing}"
        for ns in (target_namespace, "default", None):
            granted = [n for n in NEEDED if _can(kube_api, user, n[0], n[1], n[2], ns, n[3])]
            assert not granted, f"granted outside the watched namespaces ({ns}): {granted}"
        assert _can(
            kube_api, user, "watch", "apiextensions.k8s.io", "customresourcedefinitions", None
        )
        assert not _can(kube_api, user, "list", "", "namespaces", None)
    finally:
        _delete(control_plane, rbac)


# ---------------------------------------------------------------- helm install / uninstall


def test_helm_install_and_uninstall_keep_crds_resources_and_store(
    control_plane: ControlPlane, kube_api: kubernetes.client.ApiClient, target_namespace: str
) -> None:
    """What the chart README promises: uninstall keeps the CRDs, the CRs and the store claim."""
    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig), "HELM_CACHE_HOME": str(control_plane.workdir / "helm-cache"),
           "HELM_CONFIG_HOME": str(control_plane.workdir / "helm-config"), "HELM_DATA_HOME": str(control_plane.workdir / "helm-data")}  # fmt: skip
    helm = [binary("helm"), "--namespace", target_namespace]
    installed = subprocess.run(
        [*helm, "install", "demo", str(CHART)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    # NOTES.txt tells the next commands.
    assert "kubectl get mlops" in installed.stdout
    assert f"kubectl apply -n {target_namespace} -k manifests/examples/iris" in installed.stdout
    apps = kubernetes.client.AppsV1Api(kube_api)
    deployment = apps.read_namespaced_deployment("demo-mlops-operator", target_namespace)
    assert deployment.spec.strategy.type == "Recreate"
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    dataset = yaml.safe_load((IRIS / "dataset.yaml").read_text())
    custom.create_namespaced_custom_object(
        "mlops.dev", "v1alpha1", target_namespace, "datasets", dataset
    )
    changed = ["--set", "operator.workers=2", "--set", "operator.resyncSeconds=30"]
    upgraded = subprocess.run(
        [*helm, "upgrade", "demo", str(CHART), *changed],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    env_after = {
        e.name: e.value
        for e in apps.read_namespaced_deployment("demo-mlops-operator", target_namespace)
        .spec.template.spec.containers[0]
        .env
    }
    assert env_after["MLOPS_WORKERS"] == "2"
    assert env_after["MLOPS_RESYNC_SECONDS"] == "30"
    removed = subprocess.run(
        [*helm, "uninstall", "demo", "--wait"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert removed.returncode == 0, removed.stderr
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    wait_for(
        lambda: not _exists(lambda: rbac.read_cluster_role("demo-mlops-operator")),
        timeout=30,
        what="ClusterRole removed",
    )
    assert not _exists(
        lambda: apps.read_namespaced_deployment("demo-mlops-operator", target_namespace)
    )
    ext = kubernetes.client.ApiextensionsV1Api(kube_api)
    for plural in (
        "datasets",
        "trainingjobs",
        "modelversions",
        "modeldeployments",
        "driftmonitors",
    ):
        assert _exists(lambda p=plural: ext.read_custom_resource_definition(f"{p}.mlops.dev"))
    assert custom.get_namespaced_custom_object(
        "mlops.dev", "v1alpha1", target_namespace, "datasets", "iris"
    )
    core = kubernetes.client.CoreV1Api(kube_api)
    assert _exists(
        lambda: core.read_namespaced_persistent_volume_claim(
            "demo-mlops-operator-store", target_namespace
        )
    )


def _exists(read: Any) -> bool:
    try:
        read()
        return True
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return False
        raise


# ---------------------------------------------------------------- monitoring


def _prometheus_rule() -> dict[str, Any]:
    (rule,) = by_kind(helm_template(VALUE_SETS["monitoring"]), "PrometheusRule")
    return dict(rule)


def test_prometheus_rules_pass_promtool(tmp_path: Path) -> None:
    rule = _prometheus_rule()
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    out = run(promtool(), "check", "rules", rules_file).stdout
    assert "SUCCESS: 8 rules found" in out, out
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts == {
        "DriftDetected",
        "ModelPerformanceDegraded",
        "RetrainFailed",
        "RolloutRolledBack",
        "TrainingFailed",
        "StoreNearlyFull",
        "SampleWritesFailing",
        "StoreSweepFailing",
    }
    # The chart's own labels and prometheusRule.labels, nothing else, in the metadata.
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert all(isinstance(v, str) for v in rule["metadata"]["labels"].values())


def test_alerts_fire_on_the_operator_series(tmp_path: Path) -> None:
    """promtool unit tests: each alert fires on the series the operator exports, and only then."""
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(_prometheus_rule()["spec"]))
    drift = 'mlops_drift_checks_total{namespace="ml",monitor="iris",result="%s"}'
    degraded = 'mlops_model_performance_degraded{namespace="ml",monitor="%s"}'
    volume = 'mlops_store_volume_bytes{namespace="mlops-system",pod="op",state="%s"}'
    sample_errors = (
        'mlops_serving_sample_write_errors_total{namespace="ml",pod="%s",model="iris",version="1"}'
    )
    label_errors = (
        'mlops_feedback_write_errors_total{namespace="ml",pod="%s",model="iris",version="1"}'
    )
    sweeps = 'mlops_store_sweeps_total{namespace="mlops-system",pod="op",outcome="%s"}'
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # iris drifts from minute 10 on; wine alternates between drift and no drift.
                    {"series": drift % "drift", "values": "0x10 1+1x40"},
                    {"series": drift % "no_drift", "values": "0+1x10 11x40"},
                    {
                        "series": 'mlops_drift_checks_total{namespace="ml",monitor="wine",result="drift"}',
                        "values": "0+1x50",
                    },
                    {
                        "series": 'mlops_drift_checks_total{namespace="ml",monitor="wine",result="no_drift"}',
                        "values": "0+1x50",
                    },
                    # iris is degraded from minute 10 on; wine flaps between degraded and
                    # not every 5 minutes (never for 15m); nothing on quiet.
                    {"series": degraded % "iris", "values": "0x10 1x40"},
                    {"series": degraded % "wine", "values": "1x4 0x4 1x4 0x4 1x4 0x4 1x4 0x4"},
                    {
                        "series": 'mlops_model_performance_degraded{namespace="quiet",monitor="iris"}',
                        "values": "0x50",
                    },
                    {
                        "series": 'mlops_retrain_failures_total{namespace="ml",monitor="iris"}',
                        "values": "0x20 1x30",
                    },
                    {
                        "series": 'mlops_rollbacks_total{namespace="ml",deployment="iris"}',
                        "values": "0x5 1x45",
                    },
                    {
                        "series": 'mlops_training_failures_total{namespace="ml"}',
                        "values": "0x30 2x20",
                    },
                    {
                        "series": 'mlops_training_failures_total{namespace="quiet"}',
                        "values": "0x50",
                    },
                    # The store's volume: half full, 90 % full from minute 10 (over the default
                    # store.fullRatio 0.85), back to 80 % from minute 40.
                    {"series": volume % "capacity", "values": "1000x50"},
                    {"series": volume % "used", "values": "500x9 900x30 800x10"},
                    # iris-a fails 3 sample writes at minute 10, then writes again; iris-b's
                    # label writes fail from minute 30 on; iris-c never fails.
                    {"series": sample_errors % "iris-a", "values": "0x10 3x40"},
                    {"series": label_errors % "iris-b", "values": "0x30 1+1x20"},
                    {"series": sample_errors % "iris-c", "values": "0x50"},
                    {"series": label_errors % "iris-c", "values": "0x50"},
                    # Hourly sweeps: ok at minute 1, then every sweep fails; the sweep at
                    # minute 210 succeeds again.
                    {"series": sweeps % "ok", "values": "0 1x208 2x60"},
                    {"series": sweeps % "error", "values": "0x59 1x60 2x60 3x90"},
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "DriftDetected", "exp_alerts": []},
                    {
                        "eval_time": "35m",
                        "alertname": "DriftDetected",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": "ml",
                                    "monitor": "iris",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "Data drift on ml/iris",
                                    "description": "DriftMonitor ml/iris has reported drift in every check for 15m; see `kubectl describe driftmonitor -n ml iris`.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "20m", "alertname": "ModelPerformanceDegraded", "exp_alerts": []},
                    {
                        "eval_time": "30m",
                        "alertname": "ModelPerformanceDegraded",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": "ml",
                                    "monitor": "iris",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "Model performance degraded on ml/iris",
                                    "description": "DriftMonitor ml/iris has judged the served model degraded for 15m (its realized metric breaks spec.performance.thresholds); the PerformanceDegraded condition names the metric, its value and the threshold: `kubectl describe driftmonitor -n ml iris`.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "10m", "alertname": "RetrainFailed", "exp_alerts": []},
                    {
                        "eval_time": "25m",
                        "alertname": "RetrainFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": "ml",
                                    "monitor": "iris",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "Retraining failed for ml/iris",
                                    "description": "A retraining triggered by DriftMonitor ml/iris failed in the last hour; the drifted or degraded model keeps serving.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "3m", "alertname": "RolloutRolledBack", "exp_alerts": []},
                    {
                        "eval_time": "10m",
                        "alertname": "RolloutRolledBack",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": "ml",
                                    "deployment": "iris",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "Rollout of ml/iris rolled back",
                                    "description": "ModelDeployment ml/iris missed its deadline or failed analysis and was rolled back; status.failedVersion says why.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "20m", "alertname": "TrainingFailed", "exp_alerts": []},
                    {
                        "eval_time": "40m",
                        "alertname": "TrainingFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {"namespace": "ml", "severity": "critical"},
                                "exp_annotations": {
                                    "summary": "TrainingJob failed in ml",
                                    "description": "2 TrainingJob(s) failed in namespace ml in the last hour; `kubectl get tj -n ml` shows the reason.",
                                },
                            }
                        ],
                    },
                    # 90 % full since minute 10: pending at 15m, firing from 20m, gone at 45m.
                    {"eval_time": "5m", "alertname": "StoreNearlyFull", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "StoreNearlyFull", "exp_alerts": []},
                    {
                        "eval_time": "25m",
                        "alertname": "StoreNearlyFull",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": {
                                    "summary": "The mlops artifact store is 90% full",
                                    "description": "The store's volume is fuller than 0.85. mlops_store_bytes shows which namespace and kind hold the bytes; lower spec.retention or store.retention.*, or grow the volume (docs/storage.md).",
                                },
                            }
                        ],
                    },
                    {"eval_time": "45m", "alertname": "StoreNearlyFull", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "SampleWritesFailing", "exp_alerts": []},
                    {
                        "eval_time": "15m",
                        "alertname": "SampleWritesFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": "ml",
                                    "pod": "iris-a",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "Model server ml/iris-a cannot write to the store",
                                    "description": "Sampled predictions or labels are being dropped (mlops_serving_sample_dropped_rows_total, mlops_feedback_dropped_labels_total); requests are still answered.",
                                },
                            }
                        ],
                    },
                    # iris-a's errors are more than 15 minutes old; iris-b's label writes fail.
                    {
                        "eval_time": "40m",
                        "alertname": "SampleWritesFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "namespace": "ml",
                                    "pod": "iris-b",
                                    "severity": "critical",
                                },
                                "exp_annotations": {
                                    "summary": "Model server ml/iris-b cannot write to the store",
                                    "description": "Sampled predictions or labels are being dropped (mlops_serving_sample_dropped_rows_total, mlops_feedback_dropped_labels_total); requests are still answered.",
                                },
                            }
                        ],
                    },
                    # One failed sweep after an ok one: not yet; 3 hours without an ok sweep:
                    # firing; an ok sweep again: resolved.
                    {"eval_time": "90m", "alertname": "StoreSweepFailing", "exp_alerts": []},
                    {
                        "eval_time": "200m",
                        "alertname": "StoreSweepFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": {
                                    "summary": "The store sweep has failed for 3 hours",
                                    "description": "The operator could not sweep the artifact store; its log says why. Nothing is compacted, expired or collected meanwhile.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "230m", "alertname": "StoreSweepFailing", "exp_alerts": []},
                ],
            }
        ],
    }
    test_file = tmp_path / "rules-test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    out = run(promtool(), "test", "rules", test_file)
    assert "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    (configmap,) = [
        c
        for c in by_kind(helm_template(VALUE_SETS["monitoring"]), "ConfigMap")
        if c["metadata"]["name"] == "mlops-dashboard"
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["mlops-operator.json"])
    assert dashboard == json.loads((CHART / "files" / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 12
    grafana_vars = {"$__rate_interval": "5m", "$__range": "1h", "$namespace": ".*"}
    rules = []
    for i, raw in enumerate(exprs):
        expr = raw
        for var, value in grafana_vars.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, raw
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    rules_file = tmp_path / "dashboard-queries.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run(promtool(), "check", "rules", rules_file).stdout
    assert f"SUCCESS: {len(rules)} rules found" in out, out


# ---------------------------------------------------------------- the kustomize install


def test_install_manifests_are_generated_from_the_chart() -> None:
    result = run(
        ROOT / ".venv" / "bin" / "python",
        ROOT / "hack" / "render-install.py",
        "--check",
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _kustomize(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(run(binary("kubectl"), "kustomize", path).stdout) if d]


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


def test_install_matches_the_charts_default_render() -> None:
    installed = {_key(d): d for d in _kustomize(INSTALL)}
    chart = {_key(d): d for d in helm_template(namespace="mlops-system")}
    crds = {k for k in installed if k[0] == "CustomResourceDefinition"}
    assert {k[2] for k in crds} == {f"{p.stem}.mlops.dev" for p in (ROOT / "crds").glob("*.yaml")}
    assert set(installed) - crds == set(chart) | {("Namespace", "", "mlops-system")}
    for key, rendered in chart.items():
        ours = installed[key]
        assert ours.get("spec") == rendered.get("spec"), key
        assert ours.get("rules") == rendered.get("rules"), key
        assert ours.get("subjects") == rendered.get("subjects"), key
        assert ours.get("roleRef") == rendered.get("roleRef"), key
    (deployment,) = by_kind(list(installed.values()), "Deployment")
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        == _container(list(chart.values()))["env"]
    )
    for doc in installed.values():
        labels = doc["metadata"].get("labels", {})
        assert (
            "helm.sh/chart" not in labels and labels.get("app.kubernetes.io/managed-by") != "Helm"
        ), _key(doc)


def test_install_passes_kubeconform_and_server_side_dry_run(
    control_plane: ControlPlane, kube_api: kubernetes.client.ApiClient, schemas: Path
) -> None:
    docs = _kustomize(INSTALL)
    summary = kubeconform(schemas, dump(docs))
    assert summary["valid"] == len(docs), summary
    core = kubernetes.client.CoreV1Api(kube_api)
    # A dry run creates nothing, so the namespace must exist for its objects to be checked.
    namespace = by_kind(docs, "Namespace")[0]
    created = not _exists(lambda: core.read_namespace("mlops-system"))
    if created:
        core.create_namespace(namespace)
    try:
        out = kubectl(
            control_plane, "apply", "--server-side", "--force-conflicts", "--dry-run=server",
            "--field-manager=install-test", "-f", "-", stdin=dump(docs),
        ).stdout  # fmt: skip
        assert out.count("(server dry run)") == len(docs), out
    finally:
        if created:
            core.delete_namespace("mlops-system")


# ---------------------------------------------------------------- the iris example


def test_iris_example_is_admitted_by_the_api_server(
    control_plane: ControlPlane, schemas: Path, target_namespace: str
) -> None:
    docs = _kustomize(IRIS)
    assert sorted(d["kind"] for d in docs) == [
        "Dataset",
        "DriftMonitor",
        "ModelDeployment",
        "TrainingJob",
    ]
    summary = kubeconform(schemas, dump(docs))
    assert summary["valid"] == 4, summary
    out = kubectl(
        control_plane,
        "apply",
        "-n",
        target_namespace,
        "--server-side",
        "--dry-run=server",
        "-k",
        str(IRIS),
    ).stdout
    assert out.count("(server dry run)") == 4, out
    # And for real: created, with the defaults the API server fills in.
    kubectl(control_plane, "apply", "-n", target_namespace, "--server-side", "-k", str(IRIS))
    listed = kubectl(
        control_plane, "get", "mlops", "-n", target_namespace, "-o", "name"
    ).stdout.split()
    assert sorted(listed) == sorted(
        [
            "dataset.mlops.dev/iris",
            "trainingjob.mlops.dev/iris-logreg",
            "modeldeployment.mlops.dev/iris",
            "driftmonitor.mlops.dev/iris",
        ]
    )
