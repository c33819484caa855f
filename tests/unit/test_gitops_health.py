"""The Argo CD health check (manifests/gitops/argocd-health.lua) on the statuses the operator writes.

The script runs in Lua 5.1 (Argo CD's gopher-lua speaks 5.1) and in lupa's default Lua; the
status objects are built with the reconcilers' own condition helpers and reason constants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lupa
import lupa.lua51
import pytest
import yaml

from mlops_operator.api.conditions import DRIFTED
from mlops_operator.reconcile import reasons
from mlops_operator.reconcile.conditions import Cond, with_conditions
from mlops_operator.reconcile.modelversion import decide as decide_model_version

ROOT = Path(__file__).resolve().parents[2]
GITOPS = ROOT / "manifests" / "gitops"
SCRIPT = (GITOPS / "argocd-health.lua").read_text()
KINDS = ("Dataset", "TrainingJob", "ModelVersion", "ModelDeployment", "DriftMonitor")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUNTIMES = {"lua5.1": lupa.lua51.LuaRuntime, "lua-default": lupa.LuaRuntime}


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def health(
    obj: dict[str, Any], runtime_factory: Callable[..., Any] = lupa.lua51.LuaRuntime
) -> tuple[str, str]:
    runtime = runtime_factory()
    runtime.globals()["obj"] = _to_lua(runtime, obj)
    result = runtime.execute(SCRIPT)
    return str(result["status"]), str(result["message"] or "")


def resource(kind: str, generation: int, status: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "iris", "namespace": "ml", "generation": generation},
        "spec": {},
    }
    if status is not None:
        body["status"] = status
    return body


def status(fields: dict[str, Any], *conds: Cond, generation: int = 1) -> dict[str, Any]:
    """A status exactly as the handlers patch it: fields + conditions + observedGeneration."""
    return with_conditions(fields, None, conds, generation, NOW)


# (kind, case, status, expected health, a word the message must contain)
CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    # Dataset (reconcile/dataset.py)
    ("Dataset", "ready", status({"phase": "Ready", "version": "ab" * 32, "rows": 150},
        Cond("Ready", "True", reasons.PROFILED, "version abababababab, 150 rows")), "Healthy", "150 rows"),
    ("Dataset", "profiling", status({"phase": "Profiling", "jobName": "iris-profile-1"},
        Cond("Ready", "False", reasons.PROFILING, "profile Job is running")), "Progressing", "running"),
    ("Dataset", "invalid", status({"phase": "Invalid", "failureReason": reasons.VALIDATION_FAILED},
        Cond("Ready", "False", reasons.VALIDATION_FAILED, "1 of 3 rules failed")), "Degraded", "ValidationFailed"),
    ("Dataset", "failed", status({"phase": "Failed", "failureReason": reasons.PROFILE_FAILED},
        Cond("Ready", "False", "SourceUnreadable", "cannot read s3://x")), "Degraded", "SourceUnreadable"),
    # TrainingJob (reconcile/trainingjob.py)
    ("TrainingJob", "ready", status({"phase": "Succeeded", "modelVersion": "iris-v1", "metrics": {"accuracy": 0.97}},
        Cond("Ready", "True", reasons.MODEL_REGISTERED, "registered ModelVersion iris-v1")), "Healthy", "iris-v1"),
    ("TrainingJob", "waiting-for-dataset", status({"phase": "Pending"},
        Cond("Ready", "False", reasons.DATASET_NOT_READY, "Dataset iris is not Ready; waiting for it")), "Progressing", "waiting"),
    ("TrainingJob", "training", status({"phase": "Running", "jobName": "iris-train-1a2b3c4d", "attempts": 1},
        Cond("Ready", "False", reasons.TRAINING, "training Job is running")), "Progressing", "Training"),
    ("TrainingJob", "acceptance-failed", status({"phase": "Failed", "failureReason": reasons.ACCEPTANCE_FAILED},
        Cond("Ready", "False", reasons.ACCEPTANCE_FAILED, "accuracy 0.81 < min 0.9")), "Degraded", "0.81"),
    ("TrainingJob", "deadline", status({"phase": "Failed", "failureReason": "DeadlineExceeded"},
        Cond("Ready", "False", "DeadlineExceeded", "Job was active longer than specified deadline")), "Degraded", "DeadlineExceeded"),
    # ModelDeployment (reconcile/modeldeployment.py): Ready plus Progressing and RolledBack
    ("ModelDeployment", "ready", status({"phase": "Healthy", "servingVersion": "iris-v2"},
        Cond("Ready", "True", reasons.AVAILABLE, "serving iris-v2 on 2/2 replicas"),
        Cond("Progressing", "False", reasons.ROLLOUT_COMPLETE, "iris-v2 rolled out"),
        Cond("RolledBack", "False", reasons.NOT_ROLLED_BACK, "")), "Healthy", "iris-v2"),
    ("ModelDeployment", "no-version-yet", status({"phase": "Pending"},
        Cond("Ready", "False", reasons.MODEL_VERSION_NOT_FOUND, "no ModelVersion of model iris yet"),
        Cond("Progressing", "False", reasons.MODEL_VERSION_NOT_FOUND, "no ModelVersion of model iris yet")), "Progressing", "no ModelVersion"),
    ("ModelDeployment", "canary", status({"phase": "Progressing", "servingVersion": "iris-v1", "targetVersion": "iris-v2",
        "canary": {"step": 0, "weight": 50}},
        Cond("Ready", "False", reasons.CANARY_PAUSED, "iris-v2 at 50%"),
        Cond("Progressing", "True", reasons.CANARY_PAUSED, "iris-v2 at 50%")), "Progressing", "50%"),
    ("ModelDeployment", "replicas", status({"phase": "Progressing"},
        Cond("Ready", "False", reasons.UNAVAILABLE, "1/2 replicas available"),
        Cond("Progressing", "True", reasons.WAITING_FOR_REPLICAS, "1/2 replicas available")), "Progressing", "replicas"),
    ("ModelDeployment", "rolled-back", status({"phase": "RolledBack", "servingVersion": "iris-v1",
        "failedVersion": {"name": "iris-v2", "reason": reasons.CRASH_LOOP}},
        Cond("Ready", "False", reasons.ROLLED_BACK, "serving iris-v1; iris-v2 held back: CrashLoopBackOff"),
        Cond("RolledBack", "True", reasons.CRASH_LOOP, "iris-v2: crash loop")), "Degraded", "held back"),
    ("ModelDeployment", "no-accepted-version", status({"phase": "Pending"},
        Cond("Ready", "False", reasons.NO_ACCEPTED_VERSION, "none passes acceptance")), "Degraded", "acceptance"),
    ("ModelDeployment", "first-rollout-failed", status({"phase": "Failed"},
        Cond("Ready", "False", reasons.PROGRESS_DEADLINE_EXCEEDED, "iris-v1 held back")), "Degraded", "ProgressDeadlineExceeded"),
    # DriftMonitor (reconcile/driftmonitor.py): Ready plus Drifted
    ("DriftMonitor", "ready", status({"lastCheckTime": "2026-01-02T03:04:05Z", "samples": 500, "driftShare": 0.0},
        Cond("Ready", "True", reasons.CHECKED, "checked 500 samples"),
        Cond(DRIFTED, "False", reasons.NO_DRIFT, "0 of 4 features drifted")), "Healthy", "500 samples"),
    ("DriftMonitor", "drifted", status({"samples": 500, "driftShare": 0.75},
        Cond("Ready", "True", reasons.CHECKED, "checked 500 samples"),
        Cond(DRIFTED, "True", reasons.DRIFT_DETECTED, "3 of 4 features drifted")), "Healthy", "Drift detected: 3 of 4"),
    ("DriftMonitor", "insufficient", status({"samples": 12},
        Cond("Ready", "True", reasons.INSUFFICIENT_SAMPLES, "12 of 100 samples"),
        Cond(DRIFTED, "Unknown", reasons.INSUFFICIENT_SAMPLES, "12 of 100 samples")), "Healthy", "12 of 100"),
    ("DriftMonitor", "not-serving", status({},
        Cond("Ready", "False", reasons.NOT_SERVING, "ModelDeployment iris serves no ModelVersion yet"),
        Cond(DRIFTED, "Unknown", reasons.NOT_SERVING, "")), "Progressing", "serves no"),
    ("DriftMonitor", "retrain-failed", status({"samples": 500},
        Cond("Ready", "False", reasons.RETRAIN_FAILED, "TrainingJob iris-retrain-1 failed"),
        Cond(DRIFTED, "True", reasons.DRIFT_DETECTED, "")), "Degraded", "RetrainFailed"),
    ("DriftMonitor", "unreadable", status({},
        Cond("Ready", "False", reasons.SAMPLES_UNREADABLE, "cannot read samples")), "Degraded", "SamplesUnreadable"),
]  # fmt: skip


@pytest.mark.parametrize("runtime", RUNTIMES.values(), ids=RUNTIMES.keys())
@pytest.mark.parametrize(
    ("kind", "status_", "expected", "word"),
    [(k, s, e, w) for k, _, s, e, w in CASES],
    ids=[f"{k}-{c}" for k, c, *_ in CASES],
)
def test_health_of_reconciled_status(
    runtime: Callable[..., Any], kind: str, status_: dict[str, Any], expected: str, word: str
) -> None:
    got, message = health(resource(kind, 1, status_), runtime)
    assert (got, word in message) == (expected, True), message


def test_every_kind_has_ready_progressing_and_failed_cases() -> None:
    for kind in KINDS:
        outcomes = {e for k, _, _, e, _ in CASES if k == kind} | {"Progressing"}
        if kind == "ModelVersion":
            continue  # below, from the reconciler itself
        assert outcomes == {"Healthy", "Progressing", "Degraded"}, kind


def _model_version_status(failure: tuple[str, str] | None, generation: int = 1) -> dict[str, Any]:
    body = resource("ModelVersion", generation, None)
    body["spec"] = {
        "model": "iris",
        "version": 1,
        "artifact": {"format": "onnx", "sha256": "c" * 64},
    }
    decision = decide_model_version(body, failure, NOW)
    return with_conditions(decision.status, None, decision.conditions, generation, NOW)


def test_model_version_from_its_reconciler() -> None:
    ok = _model_version_status(None)
    assert health(resource("ModelVersion", 1, ok))[0] == "Healthy"
    missing = _model_version_status((reasons.ARTIFACT_MISSING, "no such file"))
    assert health(resource("ModelVersion", 1, missing)) == (
        "Degraded",
        "ArtifactMissing: no such file",
    )
    mismatch = _model_version_status((reasons.CHECKSUM_MISMATCH, "sha256 differs"))
    assert health(resource("ModelVersion", 1, mismatch))[0] == "Degraded"
    # A new generation (e.g. re-registered after deletion) with the old status: not judged yet.
    assert health(resource("ModelVersion", 2, ok))[0] == "Progressing"


@pytest.mark.parametrize("kind", KINDS)
def test_stale_or_missing_status_is_progressing(kind: str) -> None:
    ready = status({"phase": "Ready"}, Cond("Ready", "True", "Done", "ok"), generation=3)
    assert health(resource(kind, 3, ready))[0] == "Healthy"
    # The spec changed (generation 4): the Ready=True is about the old spec.
    assert health(resource(kind, 4, ready)) == (
        "Progressing",
        "Waiting for the operator to observe generation 4",
    )
    # A Degraded status for an old generation is not a verdict on the new spec either.
    broken = status(
        {"phase": "Failed"}, Cond("Ready", "False", "TrainerError", "boom"), generation=3
    )
    assert health(resource(kind, 4, broken))[0] == "Progressing"
    # status.observedGeneration current, but the Ready condition itself older.
    mixed = dict(ready, observedGeneration=4)
    assert health(resource(kind, 4, mixed))[0] == "Progressing"
    assert health(resource(kind, 1, None)) == (
        "Progressing",
        "Waiting for the operator to reconcile",
    )
    assert health(resource(kind, 1, {"observedGeneration": 1}))[0] == "Progressing"
    unknown = status({}, Cond("Ready", "Unknown", "Checking", ""), generation=1)
    assert health(resource(kind, 1, unknown))[0] == "Progressing"


def test_waiting_reasons_are_the_operators_reasons() -> None:
    """Every reason the script treats as 'waiting' is one reconcile/reasons.py defines."""
    table = SCRIPT[
        SCRIPT.index("local waiting = {") : SCRIPT.index("}", SCRIPT.index("local waiting = {"))
    ]
    waiting = set(re.findall(r"(\w+) = true", table))
    defined = {v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str)}
    assert waiting and waiting <= defined, waiting - defined


def test_argocd_configmap_embeds_the_script_for_every_kind() -> None:
    configmap = yaml.safe_load((GITOPS / "argocd-cm.yaml").read_text())
    assert configmap["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    assert configmap["data"] == {
        f"resource.customizations.health.mlops.dev_{k}": SCRIPT for k in KINDS
    }


def test_flux_kustomization_checks_every_kind() -> None:
    kustomization = yaml.safe_load((GITOPS / "flux-kustomization.yaml").read_text())
    spec = kustomization["spec"]
    assert spec["wait"] is True and spec["path"] == "./manifests/examples/iris"
    checks = {c["kind"]: c for c in spec["healthCheckExprs"]}
    assert set(checks) == set(KINDS)
    for check in checks.values():
        assert check["apiVersion"] == "mlops.dev/v1alpha1"
        assert "observedGeneration" in check["current"] and "'Ready'" in check["current"]
        assert "observedGeneration" in check["failed"]
    failure_reasons = re.findall(r"'(\w+)'", checks["DriftMonitor"]["failed"])
    defined = {v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str)}
    assert set(failure_reasons) - {"Ready", "False"} <= defined


def test_docs_reference_the_files() -> None:
    doc = (ROOT / "docs" / "gitops.md").read_text()
    for name in (
        "manifests/gitops/argocd-health.lua",
        "manifests/gitops/argocd-cm.yaml",
        "manifests/gitops/flux-kustomization.yaml",
    ):
        assert name in doc
