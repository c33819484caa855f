"""Start Kopf with our handlers and settings."""

from __future__ import annotations

import logging
import os
import re


class RoutineSuccesses(logging.Filter):
    """Drop Kopf's INFO lines for each successful timer run and liveness probe.

    With a timer per object every few seconds (MLOPS_POLL_SECONDS) they were most of the
    operator's log: 1-2 lines a second for the iris example alone. Warnings, errors, retries
    and the success of every change handler are kept.
    """

    ROUTINE = re.compile(r"^(Timer '[^']+'|Activity 'api') succeeded\.$")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and self.ROUTINE.match(record.getMessage()))


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RoutineSuccesses) for f in handler.filters):
            handler.addFilter(RoutineSuccesses())
    # the access log of Kopf's /healthz server: one line per kubelet probe
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def run_operator(
    namespaces: list[str] | None,
    health_port: int,
    metrics_port: int,
    standalone: bool = True,
) -> int:
    import kopf

    os.environ.setdefault("MLOPS_METRICS_PORT", str(metrics_port))
    configure_logging()
    from . import handlers  # noqa: F401  registers every handler with Kopf

    kopf.run(
        standalone=standalone,
        clusterwide=not namespaces,
        namespaces=namespaces or [],
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz",
    )
    return 0
