"""Time as a trigger: when a ModelDeployment asks to be looked at again, and when the handler
must read the canary analysis before it decides (`analysis_due`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.unit.test_reconcile_modeldeployment import (
    CANARY,
    CONFIG,
    NOW,
    PARENT,
    ROWS,
    SERVING_V1,
    V1,
    V2,
    ago,
    body,
    crashing_pod,
    dep,
    run,
)

from mlops_operator.api.modeldeployment import Analysis
from mlops_operator.reconcile import reasons
from mlops_operator.reconcile.analysis import Judgement
from mlops_operator.reconcile.modeldeployment import World, analysis_due, decide
from mlops_operator.reconcile.rollout.canary import REANALYSE_SECONDS

GATES = Analysis.model_validate(CANARY["canary"]["analysis"])
CANARY_AT_STEP_0 = {
    **SERVING_V1,
    "targetVersion": "iris-v2",
    "rolloutStartedAt": ago(20),
    "canary": {"step": 0, "weight": 25, "stepStartedAt": ago(20)},
}

STEP_0_STARTED_90_S_AGO = {
    **CANARY_AT_STEP_0,
    "canary": {**CANARY_AT_STEP_0["canary"], "stepStartedAt": ago(90)},
}


def canary_world(**changes: Any) -> World:
    """Step 0 of iris-v2 (25 %): 3 stable replicas, 1 canary replica, all available."""
    seen: dict[str, Any] = {
        "versions": [V1, V2],
        "stable": dep("iris-v1", replicas=3),
        "canary": dep("iris-v2", replicas=1),
    }
    return World(**(seen | changes))


def paused(
    started_ago: int, spec: dict[str, Any] | None = None, step_started_ago: int = 90
) -> dict[str, Any]:
    """Step 0, its replicas up, its pause (60 s) started `started_ago` s ago."""
    status = {**CANARY_AT_STEP_0, "canary": dict(CANARY_AT_STEP_0["canary"])}
    status["canary"]["pauseStartedAt"] = ago(started_ago)
    status["canary"]["stepStartedAt"] = ago(step_started_ago)
    return body({"strategy": CANARY, **(spec or {})}, status)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# -- when to look again -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [r for r in ROWS if r.phase in ("Healthy", "RolledBack", "Failed", "Pending")],
    ids=lambda r: r.name,
)
def test_a_settled_phase_asks_for_no_wake_up(row: Any) -> None:
    assert run(row).decision.requeue_after is None


def test_a_canary_pause_wakes_the_object_when_it_ends() -> None:
    resource, world = paused(20), canary_world()
    plan = decide(resource, world, CONFIG, NOW, PARENT)
    ready = plan.decision.conditions[0]
    assert (plan.decision.status["phase"], ready.reason) == ("Progressing", reasons.CANARY_PAUSED)
    assert plan.decision.requeue_after == 40.0  # pauseSeconds 60, 20 of them gone
    assert analysis_due(resource, world, later(39)) is None
    assert analysis_due(resource, world, later(40)) == ("iris-v2", GATES)


def test_a_progressing_rollout_wakes_at_its_deadline() -> None:
    """Waiting on the Deployment needs no timer (its changes wake the owner); the backstop is
    the one failure only the clock reveals, so the rollout asks to be woken then."""
    resource = body(
        {"progressDeadlineSeconds": 60},
        {**SERVING_V1, "targetVersion": "iris-v2", "rolloutStartedAt": ago(100)},
    )
    world = World(versions=[V1, V2], stable=dep("iris-v2", available=2, total=6, updated=2))
    plan = decide(resource, world, CONFIG, NOW, PARENT)
    assert plan.decision.status["phase"] == "Progressing"
    wake = plan.decision.requeue_after
    assert wake == 20.0  # 2 x 60 s after the start
    before = decide(resource, world, CONFIG, later(wake - 1), PARENT)
    assert before.decision.status["phase"] == "Progressing"
    after = decide(resource, world, CONFIG, later(wake + 1), PARENT)
    assert after.decision.status["phase"] == "RolledBack" and after.rolled_back


def test_a_canary_waiting_for_its_replicas_wakes_at_the_step_backstop() -> None:
    resource = body({"strategy": CANARY}, CANARY_AT_STEP_0)
    world = canary_world(canary=dep("iris-v2", replicas=1, available=0))
    plan = decide(resource, world, CONFIG, NOW, PARENT)
    assert plan.decision.conditions[0].reason == reasons.CANARY_STEP
    assert plan.decision.requeue_after == 1180.0  # step started 20 s ago; 2 x 600 s


def test_an_inconclusive_analysis_is_read_again_and_ends_at_its_deadline() -> None:
    inconclusive = Judgement("inconclusive", reasons.ANALYSIS_INCONCLUSIVE, "3 requests")
    world = canary_world(judgement=inconclusive)
    early = decide(paused(100, step_started_ago=130), world, CONFIG, NOW, PARENT)
    assert early.decision.requeue_after == REANALYSE_SECONDS
    # The pause (60 s) ended 598 s ago: the step's deadline (600 s) is 2 s away.
    resource = paused(658, {"progressDeadlineSeconds": 600}, step_started_ago=700)
    close = decide(resource, world, CONFIG, NOW, PARENT)
    assert close.decision.status["phase"] == "Progressing"
    assert close.decision.requeue_after == 2.0
    over = decide(resource, world, CONFIG, later(3), PARENT)
    assert over.decision.status["phase"] == "RolledBack"
    assert over.decision.requeue_after is None


def test_a_passed_step_needs_no_timer() -> None:
    """The next step starts with the status this pass writes, and that write wakes the object."""
    world = canary_world(judgement=Judgement("pass", reasons.CANARY_ANALYSIS, "ok"))
    plan = decide(paused(61), world, CONFIG, NOW, PARENT)
    assert plan.decision.status["canary"]["step"] == 1
    assert plan.decision.requeue_after is None


# -- analysis_due -----------------------------------------------------------------------------


def test_a_zero_pause_is_due_the_moment_the_canary_is_available() -> None:
    spec = {
        "strategy": {
            **CANARY,
            "canary": {**CANARY["canary"], "steps": [{"weight": 25, "pauseSeconds": 0}]},
        }
    }
    resource = body(spec, CANARY_AT_STEP_0)
    assert analysis_due(resource, canary_world(), NOW) is not None
    waiting = canary_world(canary=dep("iris-v2", replicas=1, available=0))
    assert analysis_due(resource, waiting, NOW) is None


def test_the_gates_are_the_specs() -> None:
    gate = {"address": "http://prometheus:9090", "query": "sum(rate(x[1m]))", "max": 0.5}
    spec = {
        "strategy": {**CANARY, "canary": {**CANARY["canary"], "analysis": {"prometheus": gate}}}
    }
    due = analysis_due(paused(61, spec), canary_world(), NOW)
    assert due is not None
    version, gates = due
    assert version == "iris-v2"
    assert gates.prometheus is not None and gates.prometheus.max == 0.5


def test_a_judgement_already_in_the_world_does_not_change_what_is_due() -> None:
    stale = Judgement("fail", reasons.ANALYSIS_FAILED, "old")
    resource = paused(61)
    assert analysis_due(resource, canary_world(judgement=stale), NOW) == ("iris-v2", GATES)


@pytest.mark.parametrize(
    ("resource", "world"),
    [
        (paused(30), canary_world()),  # still paused
        (paused(61), canary_world(pods=[crashing_pod("iris-v2", "canary")])),  # rolls back
        (  # past the backstop: the canary replica never became available
            body({"strategy": CANARY, "progressDeadlineSeconds": 30}, STEP_0_STARTED_90_S_AGO),
            canary_world(canary=dep("iris-v2", replicas=1, available=0)),
        ),
        (body({}, {**SERVING_V1, "targetVersion": "iris-v2"}), canary_world()),  # rolling update
        (body({"strategy": CANARY, "replicas": -1}, CANARY_AT_STEP_0), canary_world()),  # refused
        (
            body(
                {"strategy": CANARY},
                {
                    **SERVING_V1,
                    "failedVersion": {"name": "iris-v2", "reason": "r", "specGeneration": 1},
                },
            ),
            canary_world(),
        ),  # held back
        (
            body({"strategy": CANARY, "modelVersionRef": {"name": "iris-v1"}}, SERVING_V1),
            canary_world(),
        ),
    ],
    ids=[
        "paused",
        "canary crash-loops",
        "past the backstop",
        "rolling update",
        "invalid spec",
        "held back",
        "steady",
    ],
)
def test_not_due(resource: dict[str, Any], world: World) -> None:
    assert analysis_due(resource, world, NOW) is None


def test_a_long_pause_after_the_canary_came_up_is_not_cut_short_by_the_backstop() -> None:
    """A 1 h pause with the default 600 s deadline: the canary is healthy the whole hour."""
    steps = [{"weight": 25, "pauseSeconds": 3600}, {"weight": 50}]
    long_pause = {**CANARY, "canary": {**CANARY["canary"], "steps": steps}}
    resource = paused(1500, {"strategy": long_pause}, step_started_ago=1600)
    plan = decide(resource, canary_world(), CONFIG, NOW, PARENT)
    assert not plan.rolled_back
    assert plan.decision.status["phase"] == "Progressing"
    # the only wake-up is the pause's end, 2100 s on (not the backstop, long past)
    assert plan.decision.requeue_after == pytest.approx(2100)
    # a canary that never came up still meets the backstop
    never_up = body({"strategy": CANARY, "progressDeadlineSeconds": 30}, STEP_0_STARTED_90_S_AGO)
    down = canary_world(canary=dep("iris-v2", replicas=1, available=0))
    assert decide(never_up, down, CONFIG, NOW, PARENT).rolled_back
    # a crash during the pause is still seen at once
    crashing = canary_world(pods=[crashing_pod("iris-v2")])
    assert decide(resource, crashing, CONFIG, NOW, PARENT).rolled_back
