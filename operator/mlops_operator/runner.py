"""Start Kopf with our handlers and settings."""

from __future__ import annotations

import logging
import os


def run_operator(
    namespaces: list[str] | None,
    health_port: int,
    metrics_port: int,
    standalone: bool = True,
) -> int:
    import kopf

    os.environ.setdefault("MLOPS_METRICS_PORT", str(metrics_port))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from . import handlers  # noqa: F401  registers every handler with Kopf

    kopf.run(
        standalone=standalone,
        clusterwide=not namespaces,
        namespaces=namespaces or [],
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz",
    )
    return 0
