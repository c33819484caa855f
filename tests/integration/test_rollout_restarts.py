"""The operator killed (SIGKILL) in the middle of a canary or a rollback, then started again.

Every run must end where an uninterrupted run ends: the same phase, versions, history and
Deployments, with no Deployment created twice and no history entry lost or doubled. Each kill
point is held open (pods left Pending by the pod driver, a pause, traffic withheld from the
analysis) and the status is read again after the kill: a kill that missed its phase fails the
test instead of silently testing another one.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.test_model_deployment import (
    infer,
    model_deployment,
    point_at,
    status,
    versions,
    wait_phase,
    wait_versions_ready,
)
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.operator_process import OperatorProcess
from tests.support.pods import PodDriver

pytestmark = pytest.mark.integration

__all__ = ["versions"]  # the fixture, used by name

STEPS = [{"weight": 25, "pauseSeconds": 4}, {"weight": 50, "pauseSeconds": 4}]
REPLICAS = 4


def canary(analysis: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Canary", "canary": {"steps": STEPS, "analysis": analysis}}


PASSING = {"maxErrorRate": 0.0, "minRequestCount": 10}
FAILING = {"minRequestCount": 10, "maxP99LatencyMs": 0.001}  # no server answers in 1 µs


def progressing_reason(current: dict[str, Any]) -> str:
    found = [c for c in current.get("conditions") or [] if c["type"] == "Progressing"]
    return str(found[0]["reason"]) if found else ""


def at_step(step: int, reason: str) -> Callable[[dict[str, Any]], bool]:
    def check(current: dict[str, Any]) -> bool:
        return (current.get("canary") or {}).get("step") == step and progressing_reason(
            current
        ) == reason

    check.__name__ = f"step {step} {reason}"
    return check


def promoting(current: dict[str, Any]) -> bool:
    """Every step passed (the canary's step is past the last one) and the stable Deployment
    is rolling to iris-v2, which still serves nothing: the state held while its pods wait.
    The first pass there says Promoting, the next ones RolloutStarted while the stable
    Deployment settles; either is the promotion."""
    return (current.get("canary") or {}).get("step") == 2 and current.get(
        "servingVersion"
    ) == "iris-v1"


def rolled_back_short_of_replicas(current: dict[str, Any]) -> bool:
    return current.get("phase") == "RolledBack" and (current.get("readyReplicas") or 0) < REPLICAS


@dataclass(frozen=True)
class KillPoint:
    name: str
    where: Callable[[dict[str, Any]], bool]
    held: tuple[tuple[str, str], ...] = ()  # pods left Pending until the kill
    traffic_after_kill: bool = False  # the analysis sees no request until the kill


PROMOTED_KILLS = [
    None,  # uninterrupted: the end state every other run must reach
    KillPoint("step 1, canary pods coming up", at_step(0, "CanaryStep"), (("iris-v2", "canary"),)),
    KillPoint("step 1, paused", at_step(0, "CanaryPaused")),
    KillPoint("step 1, analysis", at_step(0, "CanaryAnalysis"), traffic_after_kill=True),
    KillPoint("step 2, paused", at_step(1, "CanaryPaused")),
    KillPoint("promotion", promoting, (("iris-v2", "stable"),)),
]
ROLLED_BACK_KILLS = [
    None,
    KillPoint("rollback", rolled_back_short_of_replicas, (("iris-v1", "stable"),)),
]


class Traffic:
    """Requests to iris-v2's ready servers once `flowing` is set, until stopped."""

    def __init__(self, pods: PodDriver) -> None:
        self.pods = pods
        self.flowing = threading.Event()
        self.sent = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.flowing.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.flowing.wait()
            servers = self.pods.servers("iris-v2")
            if not servers:
                self._stop.wait(0.2)
                continue
            try:
                answer = infer(random.choice(servers))
            except OSError as error:  # a canary pod stopped between listing and request
                self.failed.append(repr(error))
                continue
            self.sent += 1
            if answer.status_code != 200:
                self.failed.append(f"{answer.status_code} {answer.text[:200]}")
            self._stop.wait(0.05)


class DeploymentsCreated:
    """Every Deployment the API server reports ADDED in the namespace, by name: the uids."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.apps = kubernetes.client.AppsV1Api(api)
        self.namespace = namespace
        self.uids: dict[str, set[str]] = defaultdict(set)
        self._watch = kubernetes.watch.Watch()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DeploymentsCreated:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._watch.stop()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        # A watch the API server ends is resumed from the last resourceVersion seen, so no
        # ADDED event falls between two streams.
        version = ""
        while not self._stopped.is_set():
            try:
                for event in self._watch.stream(
                    self.apps.list_namespaced_deployment,
                    self.namespace,
                    resource_version=version or None,
                    timeout_seconds=300,
                ):
                    item = event["object"]
                    version = item.metadata.resource_version
                    self.uids[item.metadata.name].add(item.metadata.uid)
            except Exception:  # the stream broke (or the server is stopping): resume
                self._stopped.wait(0.5)


def end_state(api: kubernetes.client.ApiClient, objects: Objects, namespace: str) -> dict[str, Any]:
    current = status(objects)
    apps = kubernetes.client.AppsV1Api(api)
    deployments = {
        d.metadata.name: (
            d.spec.template.metadata.labels["mlops.dev/model-version"],
            d.spec.replicas,
        )
        for d in apps.list_namespaced_deployment(namespace).items
    }
    failed = current.get("failedVersion") or {}
    return {
        "phase": current.get("phase"),
        "servingVersion": current.get("servingVersion"),
        "previousGoodVersion": current.get("previousGoodVersion"),
        "failedVersion": (failed.get("name"), failed.get("reason")) if failed else None,
        "canary": current.get("canary"),
        "history": [(h["version"], h["outcome"], h.get("reason")) for h in current["history"]],
        "deployments": deployments,
    }


PROMOTED = {
    "phase": "Healthy",
    "servingVersion": "iris-v2",
    "previousGoodVersion": "iris-v1",
    "failedVersion": None,
    "canary": None,
    "history": [
        ("iris-v1", "Promoted", "RolloutComplete"),
        ("iris-v2", "Promoted", "RolloutComplete"),
    ],
    "deployments": {"iris": ("iris-v2", REPLICAS)},
}
ROLLED_BACK = {
    "phase": "RolledBack",
    "servingVersion": "iris-v1",
    "previousGoodVersion": None,
    "failedVersion": ("iris-v2", "AnalysisFailed"),
    "canary": None,
    "history": [
        ("iris-v1", "Promoted", "RolloutComplete"),
        ("iris-v2", "RolledBack", "AnalysisFailed"),
    ],
    "deployments": {"iris": ("iris-v1", REPLICAS)},
}


@pytest.fixture
def run(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    versions: Any,
    tmp_path: Path,
) -> Iterator[Callable[[dict[str, Any], KillPoint | None], dict[str, Any]]]:
    """Roll iris-v1 → iris-v2 by canary with `analysis`, killing the operator at `kill`."""
    with (
        PodDriver(kube_api, namespace, "iris", logs=tmp_path) as pods,
        OperatorProcess(control_plane.kubeconfig, namespace, tmp_path) as operator,
        DeploymentsCreated(kube_api, namespace) as created,
    ):
        pods.behaviour.update({"iris-v1": "serve", "iris-v2": "serve"})

        def roll(analysis: dict[str, Any], kill: KillPoint | None) -> dict[str, Any]:
            objects.create(
                model_deployment("iris-v1", replicas=REPLICAS, strategy=canary(analysis))
            )
            wait_versions_ready(objects, ["iris-v1", "iris-v2"])
            wait_phase(objects, "Healthy", timeout=120, servingVersion="iris-v1")
            with Traffic(pods) as traffic:
                if kill is None or not kill.traffic_after_kill:
                    traffic.flowing.set()
                pods.held.update(kill.held if kill else ())
                point_at(objects, "iris-v2")
                if kill is not None:
                    try:
                        wait_for(
                            lambda: kill.where(status(objects)),
                            timeout=180,
                            interval=0.1,
                            what=kill.name,
                        )
                    except TimeoutError as error:
                        raise AssertionError(f"{error}; status: {status(objects)}") from None
                    operator.kill()
                    when_killed = status(objects)
                    assert kill.where(when_killed), f"{kill.name} had passed: {when_killed}"
                    pods.held.difference_update(kill.held)
                    traffic.flowing.set()
                    operator.start()
                phase = "Healthy" if analysis is PASSING else "RolledBack"
                wait_phase(objects, phase, timeout=240, servingVersion=_serving(analysis))
                # the end state includes every replica back and the canary Deployment gone
                wait_for(
                    lambda: (
                        end_state(kube_api, objects, namespace)["deployments"]
                        == {"iris": (_serving(analysis), REPLICAS)}
                        and (status(objects).get("readyReplicas") or 0) == REPLICAS
                    ),
                    timeout=120,
                    what="every replica on the serving version, the canary Deployment gone",
                )
            if analysis is PASSING:
                assert traffic.sent >= 10 and traffic.failed == [], traffic.failed[:3]
            assert {name: len(uids) for name, uids in created.uids.items()} == {
                "iris": 1,
                "iris-canary": 1,
            }, "a Deployment was created twice"
            assert not pods.errors, pods.errors[:3]
            return end_state(kube_api, objects, namespace)

        yield roll


def _serving(analysis: dict[str, Any]) -> str:
    return "iris-v2" if analysis is PASSING else "iris-v1"


@pytest.mark.parametrize("kill", PROMOTED_KILLS, ids=lambda k: k.name if k else "uninterrupted")
def test_a_canary_killed_at_any_phase_is_promoted_as_without_the_kill(
    run: Callable[[dict[str, Any], KillPoint | None], dict[str, Any]], kill: KillPoint | None
) -> None:
    assert run(PASSING, kill) == PROMOTED


@pytest.mark.parametrize("kill", ROLLED_BACK_KILLS, ids=lambda k: k.name if k else "uninterrupted")
def test_a_rollback_killed_half_way_ends_rolled_back_as_without_the_kill(
    run: Callable[[dict[str, Any], KillPoint | None], dict[str, Any]], kill: KillPoint | None
) -> None:
    assert run(FAILING, kill) == ROLLED_BACK
