"""The ModelDeployment handler gathers once: children, then the canary analysis when it is
due, then one `decide`; it returns when time should wake the object again."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from prometheus_client import REGISTRY
from tests.unit.test_reconcile_modeldeployment import CANARY, NOW, SERVING_V1, V1, V2, ago, body

from mlops_operator import kube
from mlops_operator.handlers import modeldeployment as handler
from mlops_operator.reconcile import reasons
from mlops_operator.reconcile.analysis import Judgement
from mlops_operator.reconcile.serving import canary_name, stable_name


def deployment(name: str, version: str, replicas: int, available: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"labels": {"mlops.dev/model-version": version}}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }


class Cluster:
    """What `kube` answers, and what the handler did with it."""

    def __init__(self, canary_available: int = 1) -> None:
        self.objects = {
            stable_name("iris"): deployment(stable_name("iris"), "iris-v1", 3, 3),
            canary_name("iris"): deployment(canary_name("iris"), "iris-v2", 1, canary_available),
        }
        self.analysed: list[str] = []
        self.decided = 0
        self.carried: list[Any] = []

    async def get(self, api_version: str, kind: str, ns: str | None, name: str) -> Any:
        return self.objects.get(name) if kind == "Deployment" else None

    async def list_objects(self, api_version: str, kind: str, *_: Any) -> list[Any]:
        return [copy.deepcopy(V1), copy.deepcopy(V2)] if kind == "ModelVersion" else []


def reconcile(
    monkeypatch: pytest.MonkeyPatch, cluster: Cluster, plain: dict[str, Any], verdict: str
) -> float | None:
    decide = handler.decide.decide

    def counting(*args: Any) -> Any:
        cluster.decided += 1
        return decide(*args)

    async def run_analysis(gates: Any, world: Any, version: str) -> Judgement:
        cluster.analysed.append(version)
        reason = reasons.ANALYSIS_FAILED if verdict == "fail" else reasons.CANARY_ANALYSIS
        return Judgement(verdict, reason, verdict)  # type: ignore[arg-type]

    async def carry_out(kind: Any, body: dict[str, Any], decision: Any) -> None:
        cluster.carried.append(decision)

    monkeypatch.setattr(kube, "get", cluster.get)
    monkeypatch.setattr(kube, "list_objects", cluster.list_objects)
    monkeypatch.setattr(handler.decide, "decide", counting)
    monkeypatch.setattr(handler, "run_analysis", run_analysis)
    monkeypatch.setattr(handler, "carry_out", carry_out)
    monkeypatch.setattr(handler, "now", lambda: NOW)
    return asyncio.run(handler.reconcile(plain))


def rollbacks() -> float:
    labels = {"namespace": "ns", "deployment": "iris"}
    return REGISTRY.get_sample_value("mlops_rollbacks_total", labels) or 0.0


def at_step_0(pause_started_ago: int) -> dict[str, Any]:
    canary = {"step": 0, "weight": 25, "stepStartedAt": ago(90)}
    canary["pauseStartedAt"] = ago(pause_started_ago)
    status = {**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(90)}
    return body({"strategy": CANARY}, {**status, "canary": canary})


def test_the_analysis_is_read_while_gathering_and_decide_runs_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = Cluster()
    requeue = reconcile(monkeypatch, cluster, at_step_0(61), "pass")
    assert cluster.analysed == ["iris-v2"] and cluster.decided == 1
    [decision] = cluster.carried
    assert decision.status["canary"]["step"] == 1
    assert requeue is None


def test_no_analysis_while_the_canary_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster()
    requeue = reconcile(monkeypatch, cluster, at_step_0(20), "pass")
    assert cluster.analysed == [] and cluster.decided == 1
    assert requeue == 40.0


def test_a_failed_analysis_rolls_back_and_is_counted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = rollbacks()
    cluster = Cluster()
    requeue = reconcile(monkeypatch, cluster, at_step_0(61), "fail")
    assert cluster.carried[0].status["phase"] == "RolledBack"
    assert rollbacks() == before + 1
    assert requeue is None
