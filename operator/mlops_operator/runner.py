"""Start Kopf with our handlers and settings."""

from __future__ import annotations

import logging
import os
import re


class RoutineSuccesses(logging.Filter):
    """Drop Kopf's INFO lines for each watch event handed to the work queue and each
    liveness probe.

    Every change of every watched object passes through a `watch-<kind>` handler: a line per
    event would be most of the log (19,000 lines for 1,000 Datasets and 1,000
    ModelDeployments). Warnings, errors and retries are kept, and so is what the reconciles
    themselves log.
    """

    ROUTINE = re.compile(r"^(Handler 'watch-[a-z-]+'|Activity '(api|leader)') succeeded\.$")

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
    leader_election: bool = False,
) -> int:
    import kopf

    os.environ.setdefault("MLOPS_METRICS_PORT", str(metrics_port))
    if leader_election:
        os.environ["MLOPS_LEADER_ELECTION"] = "true"
    from .config import leadership_from_env

    # Misconfigured leader election is refused before anything starts, naming the variable.
    leadership = leadership_from_env()
    configure_logging()
    from . import handlers  # noqa: F401  registers every handler with Kopf

    if leadership.enabled:
        logging.getLogger("mlops_operator").info(
            "leader election on: Lease %s/%s, identity %s, lease %.0fs, renew every %.0fs",
            leadership.namespace,
            leadership.lease_name,
            leadership.identity,
            leadership.lease_seconds,
            leadership.renew_seconds,
        )

    kopf.run(
        standalone=standalone,
        clusterwide=not namespaces,
        namespaces=namespaces or [],
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz",
    )
    return 0
