"""The work queue: one reconcile per key at a time, nothing lost, the earliest wake-up wins.

The tests run on an event loop whose clock is virtual: whenever nothing is ready to run, it
jumps to the next timer. Delays are then exact (no wall clock, nothing to be flaky on a
busy machine), and waiting 0.45 s costs no real time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable

import pytest

from mlops_operator.handlers import workqueue
from mlops_operator.handlers.workqueue import WorkQueue


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """`time()` moves only when every ready callback has run: then straight to the earliest
    timer (as trio's autojump clock does)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def _run_once(self) -> None:
        ready, scheduled = self._ready, self._scheduled  # type: ignore[attr-defined]
        pending = [h.when() for h in scheduled if not h.cancelled()]
        if not ready and pending:
            self.now = max(self.now, min(pending))
        super()._run_once()  # type: ignore[misc]


def run(coro: object) -> None:
    loop = VirtualClockLoop()
    try:
        loop.run_until_complete(coro)  # type: ignore[arg-type]
    finally:
        loop.close()


def test_a_burst_of_events_for_one_key_runs_it_once_more_not_once_per_event() -> None:
    async def main() -> None:
        runs: Counter[Hashable] = Counter()
        release = asyncio.Event()

        async def handle(key: Hashable) -> float | None:
            runs[key] += 1
            await release.wait()
            return None

        queue = WorkQueue(handle, workers=4)
        queue.start()
        queue.add("a")
        await asyncio.sleep(0.01)  # "a" is running now
        for _ in range(50):
            queue.add("a")  # arrives during the run: marks it dirty
        release.set()
        await asyncio.sleep(0.05)
        await queue.drained()
        await queue.stop()
        assert runs["a"] == 2  # the run, then one more for everything seen meanwhile

    run(main())


def test_one_key_is_never_reconciled_twice_at_once_while_others_run_in_parallel() -> None:
    async def main() -> None:
        active: set[Hashable] = set()
        overlap: list[Hashable] = []
        peak = 0

        async def handle(key: Hashable) -> float | None:
            nonlocal peak
            if key in active:
                overlap.append(key)
            active.add(key)
            peak = max(peak, len(active))
            await asyncio.sleep(0.01)
            active.discard(key)
            return None

        queue = WorkQueue(handle, workers=16)
        queue.start()
        for round_ in range(5):
            for key in range(40):
                queue.add(key)
            await asyncio.sleep(0.003 * round_)
        await asyncio.sleep(0.1)
        await queue.drained()
        await queue.stop()
        assert overlap == []
        assert peak == 16  # all workers busy: concurrency is the worker count, not a thread pool

    run(main())


def test_the_earliest_of_several_wake_ups_wins_and_a_later_one_does_not_replace_it() -> None:
    async def main() -> None:
        seen: list[float] = []
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def handle(key: Hashable) -> float | None:
            seen.append(loop.time() - start)
            return None

        queue = WorkQueue(handle, workers=1)
        queue.start()
        queue.add("k", after=0.30)
        queue.add("k", after=0.05)
        queue.add("k", after=0.20)
        assert queue.scheduled() == 1
        await asyncio.sleep(0.45)
        await queue.stop()
        assert seen == [0.05]  # once, at the earliest of the three

    run(main())


def test_a_reconcile_that_asks_to_look_again_runs_again_after_that_delay() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        runs: list[float] = []

        async def handle(key: Hashable) -> float | None:
            runs.append(round(loop.time(), 6))
            return 0.02 if len(runs) < 3 else None

        queue = WorkQueue(handle, workers=2)
        queue.start()
        queue.add("k")
        await asyncio.sleep(0.2)
        await queue.stop()
        assert runs == [0.0, 0.02, 0.04]

    run(main())


def test_a_failing_reconcile_is_retried_with_backoff_and_forget_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workqueue, "BACKOFF_FIRST", 0.01)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        runs: list[float] = []

        async def handle(key: Hashable) -> float | None:
            runs.append(round(loop.time(), 6))
            raise RuntimeError("API server said no")

        queue = WorkQueue(handle, workers=1)
        queue.start()
        queue.add("k")
        await asyncio.sleep(0.1)
        assert runs == [0.0, 0.01, 0.03, 0.07]  # waits of 0.01, 0.02, 0.04: doubling
        queue.forget("k")
        await asyncio.sleep(10)
        await queue.stop()
        assert runs == [0.0, 0.01, 0.03, 0.07]  # forgotten: no attempt since

    run(main())
