"""Bounds on every S3 call: connect and read timeouts and a number of attempts.

Left to their defaults, botocore (5 attempts, a 15 s read timeout in s3fs) under s3fs's own
retry loop (5 more rounds) let one call against an endpoint that accepts connections but never
answers wait for minutes, holding a handler or the worker thread that reads results. Every
s3fs filesystem the store builds gets a botocore config with explicit timeouts and
`total_max_attempts` in botocore's standard retry mode (which retries refused and timed-out
connections, throttling and 5xx answers with jittered backoff), and s3fs's own loop is reduced
to one round: a call waits at most about attempts x (connect + read timeout) plus the backoff,
then fails with botocore's ReadTimeoutError / ConnectTimeoutError, which the store maps to
StoreUnavailable (`is_transport_error`).

Settings (the chart's `store.s3.timeoutSeconds` and `store.s3.maxAttempts`; the operator passes
them to every pod it creates on an s3:// store).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

CONNECT_TIMEOUT_ENV = "MLOPS_S3_CONNECT_TIMEOUT_SECONDS"
READ_TIMEOUT_ENV = "MLOPS_S3_READ_TIMEOUT_SECONDS"
MAX_ATTEMPTS_ENV = "MLOPS_S3_MAX_ATTEMPTS"
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_READ_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10  # the chart's schema refuses more
S3FS_ROUNDS = 1  # s3fs's own retry loop: botocore's standard mode does the retrying


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or ""
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _attempts(env: Mapping[str, str]) -> int:
    raw = env.get(MAX_ATTEMPTS_ENV) or ""
    if raw == "":
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_ATTEMPTS_ENV} must be a whole number, got {raw!r}") from None
    if not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"{MAX_ATTEMPTS_ENV} must be from 1 to {MAX_ATTEMPTS_LIMIT}, got {raw!r}")
    return value


def client_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The botocore `Config` arguments (s3fs `config_kwargs`) from the environment."""
    env = os.environ if env is None else env
    return {
        "connect_timeout": _seconds(env, CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT_SECONDS),
        "read_timeout": _seconds(env, READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT_SECONDS),
        "retries": {"total_max_attempts": _attempts(env), "mode": "standard"},
    }


def bound(fs: Any) -> Any:
    """An s3fs filesystem with its own retry loop reduced to one round (botocore retries)."""
    fs.retries = S3FS_ROUNDS
    return fs


def is_transport_error(error: BaseException) -> bool:
    """botocore's errors for a connection refused, timed out or lost (no OSError for some):
    EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError."""
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:
        return False
    return isinstance(error, BotoConnectionError | HTTPClientError)
