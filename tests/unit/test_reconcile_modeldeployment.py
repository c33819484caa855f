"""The ModelDeployment rollout state machine, one transition per row.

Each row also says whether the canary analysis is due (what the handler reads before it
decides) and when time itself should wake the object again (`requeue`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.api.modeldeployment import ModelDeploymentSpec
from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import reasons
from mlops_operator.reconcile.analysis import Judgement
from mlops_operator.reconcile.conditions import rfc3339
from mlops_operator.reconcile.modeldeployment import (
    Plan,
    World,
    analysis_due,
    decide,
    resolve_target,
)
from mlops_operator.reconcile.observed import DeploymentView
from mlops_operator.reconcile.serving import Parent, canary_name, spec_hash

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
CONFIG = OperatorConfig(store_uri="file:///store", image="mlops-operator:test")
PARENT = Parent(
    namespace="ns",
    name="iris",
    owner_reference={
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "iris",
        "uid": "u1",
    },
    labels={"mlops.dev/modeldeployment": "iris"},
)
CANARY = {
    "type": "Canary",
    "canary": {
        "steps": [{"weight": 25, "pauseSeconds": 60}, {"weight": 50, "pauseSeconds": 0}],
        "analysis": {"maxErrorRate": 0.05, "minRequestCount": 10},
    },
}


def mv(
    name: str, version: int, phase: str = "Ready", accuracy: float = 0.95, model: str = "iris"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "version": version,
            "task": "classification",
            "artifact": {
                "uri": f"file:///store/models/{name}.onnx",
                "format": "onnx",
                "sha256": "a" * 64,
            },
            "signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]},
            "metrics": {"accuracy": accuracy},
        },
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "message": "artifact checksum mismatch"}],
        },
    }


V1, V2, V3 = mv("iris-v1", 1), mv("iris-v2", 2), mv("iris-v3", 3)


def body(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, generation: int = 1
) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ns", "uid": "u1", "generation": generation},
        "spec": {"modelVersionRef": {"name": "iris-v2"}, "replicas": 4, **(spec or {})},
        "status": status or {},
    }


def dep(
    version: str,
    replicas: int = 4,
    available: int | None = None,
    *,
    updated: int | None = None,
    total: int | None = None,
    exceeded: bool = False,
    current: bool = True,
) -> DeploymentView:
    available = replicas if available is None else available
    updated = replicas if updated is None else updated
    return DeploymentView(
        exists=True,
        version=version,
        replicas=replicas,
        updated=updated,
        ready=available,
        available=available,
        total=updated if total is None else total,
        current=current,
        deadline_exceeded=exceeded,
        message="ReplicaSet has timed out progressing." if exceeded else "",
    )


def crashing_pod(version: str, track: str = "stable") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{version}-pod",
            "labels": {"mlops.dev/model-version": version, "mlops.dev/track": track},
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "server",
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                }
            ],
        },
    }


def ago(seconds: int) -> str:
    return rfc3339(NOW - timedelta(seconds=seconds))


SERVING_V1 = {"phase": "Healthy", "servingVersion": "iris-v1"}


@dataclass
class Row:
    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    stable: DeploymentView = field(default_factory=DeploymentView)
    canary: DeploymentView = field(default_factory=DeploymentView)
    pods: list[dict[str, Any]] = field(default_factory=list)
    versions: tuple[dict[str, Any], ...] = (V1, V2)
    judgement: Judgement | None = None
    generation: int = 1
    # expectations
    phase: str = ""
    ready: tuple[str, str] = ("", "")  # (status, reason)
    expect: dict[str, Any] = field(default_factory=dict)  # status keys -> values
    applied: tuple[tuple[str, str], ...] = ()  # (track, version) of Deployments applied
    deleted_canary: bool = False
    events: tuple[str, ...] = ()
    analyse: str | None = None  # analysis_due: the canary version whose analysis is read
    rolled_back: bool = False
    requeue: float | None = None  # seconds until time itself wakes the object again


ROWS = [
    # -- resolving the version ------------------------------------------------------------
    Row(
        "ref not found",
        spec={"modelVersionRef": {"name": "nope"}},
        phase="Pending",
        ready=("False", reasons.MODEL_VERSION_NOT_FOUND),
    ),
    Row(
        "ref not Ready",
        versions=(mv("iris-v2", 2, phase="Invalid"),),
        phase="Pending",
        ready=("False", reasons.MODEL_VERSION_NOT_READY),
    ),
    Row(
        "unresolvable keeps serving",
        spec={"modelVersionRef": {"name": "nope"}},
        status=SERVING_V1,
        stable=dep("iris-v1"),
        phase="Pending",
        ready=("False", reasons.MODEL_VERSION_NOT_FOUND),
    ),
    # -- the first rollout ----------------------------------------------------------------
    Row(
        "first rollout starts",
        requeue=1200.0,  # the backstop: 2 x progressDeadlineSeconds after the start
        phase="Progressing",
        ready=("False", reasons.WAITING_FOR_REPLICAS),
        expect={"targetVersion": "iris-v2", "rolloutStartedAt": rfc3339(NOW)},
        applied=(("stable", "iris-v2"),),
        events=(reasons.ROLLOUT_STARTED,),
    ),
    Row(
        "first rollout waits",
        requeue=1170.0,
        status={"targetVersion": "iris-v2", "rolloutStartedAt": ago(30)},
        stable=dep("iris-v2", available=2),
        phase="Progressing",
        ready=("False", reasons.WAITING_FOR_REPLICAS),
    ),
    Row(
        "first rollout completes",
        status={"targetVersion": "iris-v2", "rolloutStartedAt": ago(30)},
        stable=dep("iris-v2"),
        phase="Healthy",
        ready=("True", reasons.AVAILABLE),
        expect={"servingVersion": "iris-v2", "targetVersion": None},
        events=(reasons.ROLLOUT_COMPLETE,),
    ),
    Row(
        "first rollout misses its deadline: Failed, nothing to go back to",
        status={"targetVersion": "iris-v2", "rolloutStartedAt": ago(700)},
        stable=dep("iris-v2", available=0, exceeded=True),
        phase="Failed",
        ready=("False", reasons.PROGRESS_DEADLINE_EXCEEDED),
        expect={
            "failedVersion": {
                "name": "iris-v2",
                "reason": reasons.PROGRESS_DEADLINE_EXCEEDED,
                "message": "ReplicaSet has timed out progressing.",
                "specGeneration": 1,
                "at": rfc3339(NOW),
            }
        },
        events=(reasons.ROLLOUT_FAILED,),
    ),
    Row(
        "failed first version is not retried",
        status={
            "phase": "Failed",
            "failedVersion": {
                "name": "iris-v2",
                "reason": "CrashLoopBackOff",
                "message": "m",
                "specGeneration": 1,
            },
        },
        stable=dep("iris-v2", available=0),
        phase="Failed",
        ready=("False", "CrashLoopBackOff"),
    ),
    # -- steady state ---------------------------------------------------------------------
    Row(
        "healthy",
        spec={"modelVersionRef": {"name": "iris-v1"}},
        status=SERVING_V1,
        stable=dep("iris-v1"),
        phase="Healthy",
        ready=("True", reasons.AVAILABLE),
    ),
    Row(
        "serving version short of replicas",
        spec={"modelVersionRef": {"name": "iris-v1"}},
        status=SERVING_V1,
        stable=dep("iris-v1", available=3),
        phase="Progressing",
        ready=("False", reasons.UNAVAILABLE),
    ),
    # -- rolling update -------------------------------------------------------------------
    Row(
        "rolling update starts",
        requeue=1200.0,
        status=SERVING_V1,
        stable=dep("iris-v1"),
        phase="Progressing",
        ready=("False", reasons.ROLLOUT_STARTED),
        expect={"targetVersion": "iris-v2"},
        applied=(("stable", "iris-v2"),),
        events=(reasons.ROLLOUT_STARTED,),
    ),
    Row(
        "rolling update promotes",
        status={**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(20)},
        stable=dep("iris-v2"),
        phase="Healthy",
        ready=("True", reasons.AVAILABLE),
        expect={
            "servingVersion": "iris-v2",
            "previousGoodVersion": "iris-v1",
            "targetVersion": None,
        },
        events=(reasons.ROLLOUT_COMPLETE,),
    ),
    Row(
        "rolling update crash-loops: rolled back",
        status={**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(20)},
        stable=dep("iris-v2", available=3, total=5, updated=1),
        pods=[crashing_pod("iris-v2")],
        phase="RolledBack",
        ready=("False", reasons.ROLLED_BACK),
        applied=(("stable", "iris-v1"),),
        expect={"servingVersion": None, "targetVersion": None},
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
    ),
    Row(
        "rolling update misses its deadline: rolled back",
        status={**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(620)},
        stable=dep("iris-v2", available=4, total=5, updated=1, exceeded=True),
        phase="RolledBack",
        ready=("False", reasons.ROLLED_BACK),
        applied=(("stable", "iris-v1"),),
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
    ),
    Row(
        "backstop when the Deployment controller never reports",
        status={**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(1300)},
        stable=dep("iris-v2", available=4, total=5, updated=1),
        phase="RolledBack",
        ready=("False", reasons.ROLLED_BACK),
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
    ),
    Row(
        "a stale deadline of an old generation is ignored",
        requeue=1195.0,
        status={**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(5)},
        stable=dep("iris-v2", available=4, total=5, updated=1, exceeded=True, current=False),
        phase="Progressing",
        ready=("False", reasons.ROLLOUT_STARTED),
    ),
    Row(
        "failed version held back: no retry, no event",
        status={
            **SERVING_V1,
            "phase": "RolledBack",
            "failedVersion": {
                "name": "iris-v2",
                "reason": "CrashLoopBackOff",
                "message": "m",
                "specGeneration": 1,
            },
        },
        stable=dep("iris-v1"),
        phase="RolledBack",
        ready=("False", reasons.ROLLED_BACK),
    ),
    Row(
        "a spec change retries the failed version",
        requeue=1200.0,
        generation=2,
        status={
            **SERVING_V1,
            "phase": "RolledBack",
            "failedVersion": {
                "name": "iris-v2",
                "reason": "CrashLoopBackOff",
                "message": "m",
                "specGeneration": 1,
            },
        },
        stable=dep("iris-v1"),
        phase="Progressing",
        applied=(("stable", "iris-v2"),),
        events=(reasons.ROLLOUT_STARTED,),
    ),
    Row(
        "going back to the serving version stops the rollout",
        spec={"modelVersionRef": {"name": "iris-v1"}, "strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(20),
            "canary": {"step": 0, "weight": 25},
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        phase="Progressing",
        applied=(("stable", "iris-v1"),),
        deleted_canary=True,
        events=(reasons.ROLLOUT_ABORTED,),
        expect={"targetVersion": None, "canary": None},
    ),
    # -- canary ---------------------------------------------------------------------------
    Row(
        "canary step 1 starts",
        requeue=1200.0,
        spec={"strategy": CANARY},
        status=SERVING_V1,
        stable=dep("iris-v1"),
        phase="Progressing",
        ready=("False", reasons.CANARY_STEP),
        applied=(("stable", "iris-v1"), ("canary", "iris-v2")),
        events=(reasons.ROLLOUT_STARTED,),
        expect={
            "canary": {
                "step": 0,
                "weight": 25,
                "replicas": 1,
                "stepStartedAt": rfc3339(NOW),
                "pauseStartedAt": None,
            }
        },
    ),
    Row(
        "canary replicas available: the pause starts",
        requeue=60.0,  # the pause ends
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(20),
            "canary": {"step": 0, "weight": 25, "stepStartedAt": ago(20)},
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        phase="Progressing",
        ready=("False", reasons.CANARY_PAUSED),
        expect={
            "canary": {
                "step": 0,
                "weight": 25,
                "replicas": 1,
                "stepStartedAt": ago(20),
                "pauseStartedAt": rfc3339(NOW),
            }
        },
    ),
    Row(
        "pause over: analysis asked for",
        requeue=5.0,  # REANALYSE_SECONDS
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(90),
            "canary": {
                "step": 0,
                "weight": 25,
                "stepStartedAt": ago(90),
                "pauseStartedAt": ago(61),
            },
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        phase="Progressing",
        ready=("False", reasons.CANARY_ANALYSIS),
        analyse="iris-v2",
    ),
    Row(
        "analysis passes: next step",
        analyse="iris-v2",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(90),
            "canary": {
                "step": 0,
                "weight": 25,
                "stepStartedAt": ago(90),
                "pauseStartedAt": ago(61),
            },
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        judgement=Judgement("pass", reasons.CANARY_ANALYSIS, "40 requests, 0 errors: gates passed"),
        phase="Progressing",
        ready=("False", reasons.CANARY_STEP),
        events=(reasons.CANARY_STEP,),
        expect={
            "canary": {
                "step": 1,
                "weight": 50,
                "replicas": 2,
                "stepStartedAt": rfc3339(NOW),
                "pauseStartedAt": None,
            }
        },
    ),
    Row(
        "analysis fails: canary removed, rolled back",
        analyse="iris-v2",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(90),
            "canary": {
                "step": 0,
                "weight": 25,
                "stepStartedAt": ago(90),
                "pauseStartedAt": ago(61),
            },
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        judgement=Judgement("fail", reasons.ANALYSIS_FAILED, "error rate 0.5 > maxErrorRate 0.05"),
        phase="RolledBack",
        ready=("False", reasons.ROLLED_BACK),
        applied=(("stable", "iris-v1"),),
        deleted_canary=True,
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
        expect={
            "canary": None,
            "failedVersion": {
                "name": "iris-v2",
                "reason": reasons.ANALYSIS_FAILED,
                "message": "error rate 0.5 > maxErrorRate 0.05",
                "specGeneration": 1,
                "at": rfc3339(NOW),
            },
        },
    ),
    Row(
        "analysis inconclusive: wait",
        analyse="iris-v2",
        requeue=5.0,
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(90),
            "canary": {
                "step": 0,
                "weight": 25,
                "stepStartedAt": ago(90),
                "pauseStartedAt": ago(61),
            },
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        judgement=Judgement(
            "inconclusive",
            reasons.ANALYSIS_INCONCLUSIVE,
            "3 requests; waiting for minRequestCount 10",
        ),
        phase="Progressing",
        ready=("False", reasons.CANARY_ANALYSIS),
    ),
    Row(
        "analysis inconclusive past the deadline: rolled back",
        analyse="iris-v2",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(700),
            "canary": {
                "step": 0,
                "weight": 25,
                "stepStartedAt": ago(700),
                "pauseStartedAt": ago(661),
            },
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1),
        judgement=Judgement("inconclusive", reasons.ANALYSIS_INCONCLUSIVE, "3 requests"),
        phase="RolledBack",
        deleted_canary=True,
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
    ),
    Row(
        "canary pods crash-loop: rolled back before any analysis",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(20),
            "canary": {"step": 0, "weight": 25, "stepStartedAt": ago(20)},
        },
        stable=dep("iris-v1", replicas=3),
        canary=dep("iris-v2", replicas=1, available=0),
        pods=[crashing_pod("iris-v2", "canary")],
        phase="RolledBack",
        deleted_canary=True,
        applied=(("stable", "iris-v1"),),
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
    ),
    Row(
        "last step passed: promoting",
        analyse="iris-v2",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(200),
            "canary": {
                "step": 1,
                "weight": 50,
                "stepStartedAt": ago(30),
                "pauseStartedAt": ago(10),
            },
        },
        stable=dep("iris-v1", replicas=2),
        canary=dep("iris-v2", replicas=2),
        judgement=Judgement("pass", reasons.CANARY_ANALYSIS, "ok"),
        phase="Progressing",
        ready=("False", reasons.PROMOTING),
        events=(reasons.CANARY_STEP,),
        expect={
            "canary": {
                "step": 2,
                "weight": 50,
                "replicas": 2,
                "stepStartedAt": rfc3339(NOW),
                "pauseStartedAt": None,
            }
        },
    ),
    Row(
        "promotion rolls the stable Deployment",
        requeue=1195.0,
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(200),
            "canary": {"step": 2, "weight": 50, "replicas": 2, "stepStartedAt": ago(5)},
        },
        stable=dep("iris-v1", replicas=2),
        canary=dep("iris-v2", replicas=2),
        phase="Progressing",
        applied=(("stable", "iris-v2"), ("canary", "iris-v2")),
    ),
    Row(
        "promotion complete: canary removed",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(200),
            "canary": {"step": 2, "weight": 100, "replicas": 2, "stepStartedAt": ago(5)},
        },
        stable=dep("iris-v2", replicas=4),
        canary=dep("iris-v2", replicas=2),
        phase="Healthy",
        ready=("True", reasons.AVAILABLE),
        deleted_canary=True,
        events=(reasons.ROLLOUT_COMPLETE,),
        expect={"servingVersion": "iris-v2", "previousGoodVersion": "iris-v1", "canary": None},
    ),
    Row(
        "promotion fails: rolled back",
        spec={"strategy": CANARY},
        status={
            **SERVING_V1,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(200),
            "canary": {"step": 2, "weight": 100, "replicas": 2, "stepStartedAt": ago(5)},
        },
        stable=dep("iris-v2", replicas=4, available=2, total=5, updated=2),
        canary=dep("iris-v2", replicas=2),
        pods=[crashing_pod("iris-v2")],
        phase="RolledBack",
        applied=(("stable", "iris-v1"),),
        deleted_canary=True,
        events=(reasons.ROLLED_BACK,),
        rolled_back=True,
    ),
    # -- continuous deployment (model + policy latest) ------------------------------------
    Row(
        "latest picks the newest accepted version",
        requeue=1200.0,
        spec={
            "modelVersionRef": None,
            "model": {
                "name": "iris",
                "acceptance": [{"metric": "accuracy", "min": 0.9}],
                "promotion": {"compare": False},
            },
        },
        versions=(V1, V2, mv("iris-v3", 3, accuracy=0.5), mv("iris-v4", 4, phase="Pending")),
        status=SERVING_V1,
        stable=dep("iris-v1"),
        phase="Progressing",
        expect={"targetVersion": "iris-v2"},
        events=(reasons.ROLLOUT_STARTED,),
    ),
    Row(
        "latest: nothing accepted",
        spec={
            "modelVersionRef": None,
            "model": {"name": "iris", "acceptance": [{"metric": "accuracy", "min": 0.99}]},
        },
        phase="Pending",
        ready=("False", reasons.NO_ACCEPTED_VERSION),
    ),
    Row(
        "latest never falls back to an older version when the newest failed",
        spec={"modelVersionRef": None, "model": {"name": "iris"}},
        versions=(V1, V2, V3),
        status={
            **SERVING_V1,
            "phase": "RolledBack",
            "failedVersion": {
                "name": "iris-v3",
                "reason": "AnalysisFailed",
                "message": "m",
                "specGeneration": 1,
            },
        },
        stable=dep("iris-v1"),
        phase="RolledBack",
        ready=("False", reasons.ROLLED_BACK),
    ),
]


def observed(row: Row) -> tuple[dict[str, Any], World]:
    """The row's resource, and its world as the handler gathers it (judgement included)."""
    spec = dict(row.spec)
    if spec.get("modelVersionRef", "keep") is None:
        spec.pop("modelVersionRef")
    resource = body(spec, copy.deepcopy(row.status), row.generation)
    if "modelVersionRef" in row.spec and row.spec["modelVersionRef"] is None:
        resource["spec"].pop("modelVersionRef")
    world = World(
        versions=list(row.versions),
        stable=row.stable,
        canary=row.canary,
        pods=row.pods,
        judgement=row.judgement,
    )
    return resource, world


def run(row: Row) -> Plan:
    resource, world = observed(row)
    return decide(resource, world, CONFIG, NOW, PARENT)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_transition(row: Row) -> None:
    plan = run(row)
    decision = plan.decision
    assert decision.status.get("phase") == row.phase
    ready = next(c for c in decision.conditions if c.type == "Ready")
    if row.ready[0]:
        assert (ready.status, ready.reason) == row.ready, ready.message
    for key, value in row.expect.items():
        assert decision.status.get(key) == value, key
    deployments = [
        (
            m["metadata"]["labels"]["mlops.dev/track"],
            m["spec"]["template"]["metadata"]["labels"]["mlops.dev/model-version"],
        )
        for m in decision.apply
        if m["kind"] == "Deployment"
    ]
    if row.applied:
        assert deployments == list(row.applied)
    deleted = [k.name for k in decision.delete]
    assert (canary_name("iris") in deleted) == row.deleted_canary
    assert tuple(e.reason for e in decision.events) == row.events
    assert plan.rolled_back == row.rolled_back
    assert decision.requeue_after == row.requeue
    kinds = {c.type for c in decision.conditions}
    assert {"Ready", "Progressing", "RolledBack"} <= kinds


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_analysis_is_due_exactly_where_decide_judges(row: Row) -> None:
    """The handler reads the analysis when `analysis_due` says so, before it decides; the
    judgement it then hands `decide` is the one the row gives."""
    resource, world = observed(row)
    due = analysis_due(resource, world, NOW)
    assert (due[0] if due else None) == row.analyse
    if due is not None:
        canary = ModelDeploymentSpec.model_validate(resource["spec"]).strategy.canary
        assert canary is not None and due[1] == canary.analysis


def test_rollback_says_which_version_failed_and_why() -> None:
    row = next(r for r in ROWS if r.name == "rolling update crash-loops: rolled back")
    decision = run(row).decision
    [event] = decision.events
    assert event.type == "Warning"
    assert "from iris-v2 to iris-v1" in event.message and "CrashLoopBackOff" in event.message
    assert "not retried until the spec changes" in event.message
    failed = decision.status["failedVersion"]
    assert failed["name"] == "iris-v2" and failed["reason"] == reasons.CRASH_LOOP
    rolled = next(c for c in decision.conditions if c.type == "RolledBack")
    assert rolled.status == "True" and rolled.reason == reasons.CRASH_LOOP
    assert decision.status["history"][-1]["outcome"] == "RolledBack"


def test_history_is_bounded() -> None:
    history = [
        {"version": f"iris-v{i}", "outcome": "Promoted", "at": ago(1000 - i)} for i in range(10)
    ]
    row = Row(
        "x",
        status={
            **SERVING_V1,
            "history": history,
            "targetVersion": "iris-v2",
            "rolloutStartedAt": ago(5),
        },
        stable=dep("iris-v2"),
    )
    status = run(row).decision.status
    assert len(status["history"]) == 10
    assert status["history"][-1]["version"] == "iris-v2"
    assert status["history"][0]["version"] == "iris-v1"


def test_unchanged_children_are_not_applied_again() -> None:
    first = run(
        Row(
            "x",
            spec={"modelVersionRef": {"name": "iris-v1"}},
            status=SERVING_V1,
            stable=dep("iris-v1"),
        )
    )
    hashes = {m["kind"]: spec_hash(m) for m in first.decision.apply}
    assert set(hashes) == {"Service", "Deployment"}
    world = World(
        versions=[V1, V2],
        stable=dataclass_replace(dep("iris-v1"), spec_hash=hashes["Deployment"]),
        service_hash=hashes["Service"],
    )
    again = decide(
        body({"modelVersionRef": {"name": "iris-v1"}}, dict(SERVING_V1)), world, CONFIG, NOW, PARENT
    )
    assert again.decision.apply == []


def test_autoscaler_owns_the_stable_replicas_and_is_removed_with_the_spec() -> None:
    spec = {
        "modelVersionRef": {"name": "iris-v1"},
        "autoscaling": {"minReplicas": 2, "maxReplicas": 6},
    }
    plan = run(Row("x", spec=spec, status=SERVING_V1, stable=dep("iris-v1", replicas=3)))
    kinds = {m["kind"]: m for m in plan.decision.apply}
    hpa = kinds["HorizontalPodAutoscaler"]
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 6
    assert hpa["spec"]["scaleTargetRef"]["name"] == "iris"
    assert "replicas" not in kinds["Deployment"]["spec"]
    world = World(versions=[V1], stable=dep("iris-v1"), autoscaler_exists=True)
    plain = decide(
        body({"modelVersionRef": {"name": "iris-v1"}}, dict(SERVING_V1)), world, CONFIG, NOW, PARENT
    )
    assert [(k.kind, k.name) for k in plain.decision.delete] == [
        ("HorizontalPodAutoscaler", "iris")
    ]


def test_canary_with_an_autoscaler_sizes_the_canary_from_the_stable_count() -> None:
    spec = {"strategy": CANARY, "autoscaling": {"minReplicas": 2, "maxReplicas": 6}}
    plan = run(Row("x", spec=spec, status=SERVING_V1, stable=dep("iris-v1", replicas=6)))
    canary = next(
        m for m in plan.decision.apply if m["metadata"]["labels"].get("mlops.dev/track") == "canary"
    )
    assert canary["spec"]["replicas"] == 2  # 2 / (6 + 2) = 25 %
    assert plan.decision.status["canary"]["weight"] == 25


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"modelVersionRef": {"name": "iris-v9"}}, "ModelVersion iris-v9 not found"),
        ({"model": {"name": "wine"}}, "no ModelVersion of model wine yet"),
    ],
)
def test_resolution_messages(spec: dict[str, Any], reason: str) -> None:
    target, problem = resolve_target(ModelDeploymentSpec.model_validate(spec), [V1, V2])
    assert target is None and problem is not None
    assert problem.message == reason


def test_acceptance_rejection_names_the_failing_metric() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {"model": {"name": "iris", "acceptance": [{"metric": "accuracy", "min": 0.99}]}}
    )
    _, problem = resolve_target(spec, [V1])
    assert problem is not None
    assert "iris-v1: accuracy 0.95 < min 0.99" in problem.message


def test_a_spec_the_models_refuse_is_reported_not_raised() -> None:
    plan = decide(body({"replicas": -1}), World(versions=[V1]), CONFIG, NOW, PARENT)
    ready = plan.decision.conditions[0]
    assert (ready.status, ready.reason) == ("False", "InvalidSpec")
    assert "replicas" in ready.message


def dataclass_replace(view: DeploymentView, **changes: Any) -> DeploymentView:
    from dataclasses import replace

    return replace(view, **changes)
