"""`mlops-operator serve`: run the model server with uvicorn."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Sequence

from starlette.applications import Starlette

from .config import ConfigError, ServeConfig, parse_config, to_environ


def app_from_env() -> Starlette:
    """uvicorn factory for worker processes: the config travels in MLOPS_SERVE_* variables."""
    from .app import create_app

    return create_app(parse_config([]))


def main(argv: Sequence[str]) -> int:
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        print(f"mlops-operator serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return serve(config)


def serve(config: ServeConfig) -> int:
    import uvicorn

    options = {
        "host": config.host,
        "port": config.port,
        "access_log": config.access_log,
        "log_level": config.log_level,
        "timeout_graceful_shutdown": config.graceful_timeout,
        "lifespan": "on",
    }
    if config.workers == 1:
        from .app import create_app

        uvicorn.run(create_app(config), **options)  # type: ignore[arg-type]
        return 0
    # Several processes: each worker rebuilds the config from the environment, and the
    # metrics of all workers are added up through prometheus_client's multiprocess files.
    os.environ.update(to_environ(config))
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mlops-serve-metrics-")
    uvicorn.run(
        "mlops_operator.serving.cli:app_from_env",
        factory=True,
        workers=config.workers,
        **options,  # type: ignore[arg-type]
    )
    return 0
