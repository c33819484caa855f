"""A work queue of objects to reconcile, in the manner of client-go's workqueue.

- A key waits in the queue at most once, however many events named it meanwhile.
- A key is reconciled by one worker at a time; an event that arrives during its reconcile
  marks it dirty and it runs again right after, so nothing seen is lost.
- A reconcile may ask to look again after some seconds (time is the trigger); the earliest
  of several such wake-ups wins.
- A reconcile that raises is retried with a per-key exponential backoff.

Workers are asyncio tasks: a reconcile waiting on the API server holds no thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


class WorkQueue:
    def __init__(self, handle: Callable[[Hashable], Awaitable[float | None]], workers: int) -> None:
        self._handle = handle
        self._workers = workers
        self._ready: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._later: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[Hashable, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()

    # -- adding -----------------------------------------------------------------------------

    def add(self, key: Hashable, after: float = 0.0) -> None:
        if after > 0:
            self._add_later(key, after)
            return
        if key in self._active:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._idle.clear()
        self._ready.put_nowait(key)

    def _add_later(self, key: Hashable, after: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + after
        current = self._later.get(key)
        if current is not None:
            if current[0] <= when:
                return
            current[1].cancel()
        handle = loop.call_at(when, self._fire, key)
        self._later[key] = (when, handle)

    def _fire(self, key: Hashable) -> None:
        self._later.pop(key, None)
        self.add(key)

    def forget(self, key: Hashable) -> None:
        """The object is gone: drop its wake-ups and backoff (a queued run finds it absent)."""
        later = self._later.pop(key, None)
        if later is not None:
            later[1].cancel()
        self._failures.pop(key, None)
        self._dirty.discard(key)

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"reconcile-worker-{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        for _, handle in self._later.values():
            handle.cancel()
        self._later.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                after = await self._run(key)
            finally:
                self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            if after is not None:
                self.add(key, after)
            if not self._queued and not self._active:
                self._idle.set()

    async def _run(self, key: Hashable) -> float | None:
        try:
            after = await self._handle(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
            log.exception(
                "reconcile of %s failed (attempt %d); again in %.0fs", key, failures, delay
            )
            return delay
        self._failures.pop(key, None)
        return after

    # -- observing --------------------------------------------------------------------------

    def depth(self) -> int:
        """Keys waiting to run now (not those running or waiting on the clock)."""
        return len(self._queued)

    def scheduled(self) -> int:
        return len(self._later)

    async def drained(self) -> None:
        await self._idle.wait()
