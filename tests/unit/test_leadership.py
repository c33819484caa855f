"""Leader election decisions (reconcile/leadership.py) and the elector's loop (kube/leadership.py)
against an in-memory Lease with the API server's optimistic concurrency, on a controlled clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_operator.config import Leadership, leadership_from_env
from mlops_operator.kube.client import Conflict
from mlops_operator.kube.leadership import LeaderElector
from mlops_operator.reconcile.leadership import (
    LeasePlan,
    Seen,
    decide,
    must_step_down,
    record_of,
    released,
)

A = Leadership(enabled=True, identity="a")
B = Leadership(enabled=True, identity="b")
WALL = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)


def lease(holder: str, renew: str = "t0", transitions: int = 0, rv: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"resourceVersion": rv},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": "t0",
            "renewTime": renew,
            "leaseTransitions": transitions,
        },
    }


def test_no_lease_is_created_held_by_us() -> None:
    plan = decide(None, None, A, now=0.0, wall=WALL)
    assert plan.action == "create"
    assert plan.spec is not None
    assert plan.spec["holderIdentity"] == "a"
    assert plan.spec["leaseDurationSeconds"] == 15
    assert plan.spec["renewTime"] == "2026-11-28T23:00:00.000000Z"
    assert plan.spec["leaseTransitions"] == 0


def test_our_lease_is_renewed_keeping_its_acquire_time_at_its_version() -> None:
    plan = decide(record_of(lease("a", rv="7")), None, A, now=100.0, wall=WALL)
    assert plan.action == "renew"
    assert plan.spec is not None and plan.spec["acquireTime"] == "t0"
    assert plan.resource_version == "7"
    assert plan.after == A.renew_seconds


def test_a_live_lease_of_another_is_waited_on_then_taken_once_not_renewed_for_its_duration() -> (
    None
):
    record = record_of(lease("b"))
    first = decide(record, None, A, now=50.0, wall=WALL)
    assert first.action == "wait" and first.holder == "b" and first.after == A.retry_seconds
    # the same record seen again: the clock runs from the first sight, not from renewTime
    assert decide(record, first.seen, A, now=64.9, wall=WALL).action == "wait"
    taken = decide(record, first.seen, A, now=65.0, wall=WALL)
    assert taken.action == "take"
    assert taken.spec is not None
    assert taken.spec["holderIdentity"] == "a" and taken.spec["leaseTransitions"] == 1


def test_a_renewal_seen_restarts_the_expiry_clock() -> None:
    first = decide(record_of(lease("b", renew="t0")), None, A, now=0.0, wall=WALL)
    renewed = decide(record_of(lease("b", renew="t5", rv="2")), first.seen, A, now=14.0, wall=WALL)
    assert renewed.action == "wait"
    assert renewed.seen == Seen(("b", "t5", 0), 14.0)
    assert decide(record_of(lease("b", renew="t5")), renewed.seen, A, 28.9, WALL).action == "wait"


def test_a_released_lease_is_taken_at_once() -> None:
    plan = decide(record_of(lease("", transitions=3)), None, A, now=0.0, wall=WALL)
    assert plan.action == "take"
    assert plan.spec is not None and plan.spec["leaseTransitions"] == 4


def test_release_gives_up_only_our_own_lease() -> None:
    ours = record_of(lease("a", transitions=2))
    assert ours is not None
    spec = released(ours, A, WALL)
    assert spec is not None and spec["holderIdentity"] == "" and spec["leaseTransitions"] == 2
    theirs = record_of(lease("b"))
    assert theirs is not None and released(theirs, A, WALL) is None


def test_a_leader_steps_down_at_the_renew_deadline() -> None:
    assert not must_step_down(None, 1000.0, A)
    assert not must_step_down(100.0, 109.9, A)
    assert must_step_down(100.0, 110.0, A)


def test_settings_refuse_a_renew_deadline_past_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS", "20")
    with pytest.raises(ValueError, match="MLOPS_LEADER_ELECTION_RETRY_SECONDS"):
        leadership_from_env()


def test_settings_from_the_chart_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_LEADER_ELECTION", "true")
    monkeypatch.setenv("POD_NAMESPACE", "mlops-system")
    monkeypatch.setenv("POD_NAME", "mlops-operator-7d9f-abcde")
    found = leadership_from_env()
    assert found.enabled and found.namespace == "mlops-system"
    assert found.identity.startswith("mlops-operator-7d9f-abcde_")
    assert (found.lease_seconds, found.renew_seconds, found.retry_seconds) == (15, 5, 2)


# -- the elector's loop against an in-memory API server ---------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return WALL + timedelta(seconds=self.now)


class Server:
    """One Lease with resourceVersion checks, as the API server keeps it; `up` False: away."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.up = True

    def read(self) -> dict[str, Any] | None:
        if not self.up:
            raise OSError("connection refused")
        return self.lease

    def write(self, plan: LeasePlan) -> dict[str, Any]:
        if not self.up:
            raise OSError("connection refused")
        current = self.lease["metadata"]["resourceVersion"] if self.lease else None
        if plan.action != "create" and plan.resource_version != current:
            raise Conflict(409, "Conflict", "the object has been modified")
        if plan.action == "create" and self.lease is not None:
            raise Conflict(409, "AlreadyExists", "leases exists")
        self.version += 1
        self.lease = {"metadata": {"resourceVersion": str(self.version)}, "spec": plan.spec}
        return self.lease


class Candidate(LeaderElector):
    def __init__(self, settings: Leadership, server: Server, clock: Clock) -> None:
        super().__init__(settings, self._started, self._lost_it, clock, clock.wall)
        self.server = server
        self.starts = 0
        self.lost: list[str] = []
        self.events: list[str] = []

    async def _read(self) -> dict[str, Any] | None:
        return self.server.read()

    async def _write(self, plan: LeasePlan) -> dict[str, Any]:
        return self.server.write(plan)

    async def _event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(reason)

    async def _started(self) -> None:
        self.starts += 1

    async def _lost_it(self, message: str) -> None:
        self.lost.append(message)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_two_candidates_one_leads_and_the_other_takes_over_after_the_leader_dies() -> None:
    server, clock = Server(), Clock()
    a, b = Candidate(A, server, clock), Candidate(B, server, clock)
    run(a.step())
    run(b.step())
    assert (a.leading, b.leading) == (True, False)
    assert a.events == ["LeaderElected"] and a.starts == 1
    for _ in range(20):  # 40 s of a renewing every step and b watching
        clock.now += 2
        run(a.step())
        run(b.step())
    assert (a.leading, b.leading) == (True, False)
    died = clock.now  # a is killed: it renews no more
    while not b.leading:
        clock.now += 2
        run(b.step())
    assert A.lease_seconds <= clock.now - died <= A.lease_seconds + 2 * A.retry_seconds
    # the dead leader, had it been only paused, would step down before touching anything
    assert must_step_down(a._last_renewed, clock.now, A)
    assert b.starts == 1 and server.lease is not None
    assert server.lease["spec"]["leaseTransitions"] == 1


def test_a_leader_cut_off_from_the_api_server_steps_down_before_its_lease_expires() -> None:
    server, clock = Server(), Clock()
    a = Candidate(A, server, clock)
    run(a.step())
    server.up = False
    clock.now += A.renew_seconds
    while a.leading:
        assert run(a.step()) is not None or not a.leading
        clock.now += A.retry_seconds
    assert a.lost and "not renewed" in a.lost[0]
    assert clock.now - A.retry_seconds < A.lease_seconds  # gone before a standby may take over


def test_a_leader_that_finds_another_holder_steps_down() -> None:
    server, clock = Server(), Clock()
    a = Candidate(A, server, clock)
    run(a.step())
    assert server.lease is not None
    server.lease = {**server.lease, "spec": {**server.lease["spec"], "holderIdentity": "b"}}
    assert run(a.step()) is None
    assert not a.leading and "held by b" in a.lost[0]


def test_release_lets_the_standby_take_over_at_once() -> None:
    server, clock = Server(), Clock()
    a, b = Candidate(A, server, clock), Candidate(B, server, clock)
    run(a.step())
    run(b.step())
    run(a.release())
    clock.now += B.retry_seconds
    run(b.step())
    assert b.leading and not a.leading


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("ab"),
            st.sampled_from(["step", "step", "step", "down", "up"]),
            st.integers(min_value=0, max_value=12),  # seconds that pass before it
        ),
        min_size=1,
        max_size=80,
    )
)
def test_never_two_leaders_at_once(schedule: list[tuple[str, str, int]]) -> None:
    """Whatever order the two replicas run in, however long one is not scheduled and whenever
    the API server is away: while one believes it leads (and is within its renew deadline, past
    which it steps down on its next step), the other has not taken the Lease."""
    server, clock = Server(), Clock()
    candidates = {"a": Candidate(A, server, clock), "b": Candidate(B, server, clock)}
    for who, what, seconds in schedule:
        clock.now += seconds
        candidate = candidates[who]
        if what == "down":
            server.up = False
        elif what == "up":
            server.up = True
        elif not candidate.lost:  # a replica that lost has exited
            run(candidate.step())
        leaders = [
            c
            for c in candidates.values()
            if c.leading and not must_step_down(c._last_renewed, clock.now, c.settings)
        ]
        assert len(leaders) <= 1, [c.settings.identity for c in leaders]


def test_a_failing_election_loop_ends_in_on_lost_not_in_a_silent_leader() -> None:
    server, clock = Server(), Clock()
    a = Candidate(A, server, clock)
    run(a.step())

    async def broken() -> dict[str, Any] | None:
        raise RuntimeError("a bug")

    a._read = broken  # type: ignore[method-assign]
    run(a.run())  # returns instead of looping on
    assert a.lost and "a bug" in a.lost[0]
