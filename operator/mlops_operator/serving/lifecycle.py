"""The server's lifespan: load the model in the background; on SIGTERM go unready, drain, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from .state import ServerState

log = logging.getLogger("mlops_operator.serving")


def lifespan(state: ServerState) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        writers = [w for w in (state.sampler, state.labels) if w is not None]
        for writer in writers:
            writer.start()
        restore = drain_on_sigterm(state, state.config.drain_seconds)
        # Loading can take a while: the server starts at once, live but not ready.
        loading = asyncio.get_running_loop().run_in_executor(None, state.load)
        try:
            yield
        finally:
            state.draining = True
            state.metrics.ready.set(0)
            restore()
            await loading
            # After uvicorn has finished the in-flight requests: every accepted label and
            # every sampled prediction is written before the process exits.
            for writer in writers:
                await run_in_threadpool(writer.close)

    return run


def drain_on_sigterm(state: ServerState, drain_seconds: float) -> Callable[[], None]:
    """On SIGTERM report not-ready first, keep serving `drain_seconds`, then let uvicorn stop.

    uvicorn has installed its own handler by the time the app starts; it is chained, so
    its graceful shutdown (stop accepting, finish in-flight requests) still runs.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        if state.draining:
            previous(signum, frame)
            return
        state.draining = True
        state.metrics.ready.set(0)
        log.info("SIGTERM: readiness is false; closing in %.1f s", drain_seconds)
        timer = threading.Timer(drain_seconds, previous, (signum, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    return restore
