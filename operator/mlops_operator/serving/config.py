"""What one serving process needs to know, from command-line flags or MLOPS_SERVE_* variables."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..api.modelversion import Signature

ENV_PREFIX = "MLOPS_SERVE_"


@dataclass(frozen=True)
class ServeConfig:
    model_name: str
    model_version: str
    artifact_uri: str
    format: Literal["onnx", "skops"]
    sha256: str
    signature: Signature
    task: Literal["classification", "regression"] | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    sample_rate: float = 0.1
    sample_uri: str | None = None
    sample_batch_size: int = 256
    sample_flush_seconds: float = 60.0
    sample_queue_size: int = 1024
    max_body_bytes: int = 1_048_576
    drain_seconds: float = 5.0
    graceful_timeout: float = 20.0
    access_log: bool = False
    log_level: str = "info"


# (flag, type, default, help); the dataclass field is the flag with '-' -> '_'.
_FLAGS: tuple[tuple[str, type, object, str], ...] = (
    ("model-name", str, None, "name the model is served under (V2 {name})"),
    ("model-version", str, None, "ModelVersion version number"),
    ("artifact-uri", str, None, "file:// or s3:// URI of model.onnx / model.skops"),
    ("format", str, None, "onnx or skops"),
    ("sha256", str, None, "expected sha256 of the artifact; checked before loading"),
    ("signature", str, None, "ModelVersion spec.signature as JSON (camelCase)"),
    ("task", str, None, "classification or regression (default: inferred from the model)"),
    ("host", str, "0.0.0.0", "listen address"),
    ("port", int, 8080, "listen port"),
    ("workers", int, 1, "uvicorn worker processes"),
    ("sample-rate", float, 0.1, "fraction of request rows logged for drift checks"),
    ("sample-uri", str, None, "URI prefix where sampled rows are written as Parquet"),
    ("sample-batch-size", int, 256, "rows per sample file"),
    ("sample-flush-seconds", float, 60.0, "write a partial sample batch after this long"),
    ("sample-queue-size", int, 1024, "pending sampled requests before new ones are dropped"),
    ("max-body-bytes", int, 1_048_576, "largest request body accepted (413 beyond)"),
    ("drain-seconds", float, 5.0, "after SIGTERM: report not-ready this long before closing"),
    ("graceful-timeout", float, 20.0, "then wait at most this long for in-flight requests"),
    ("access-log", str, "false", "uvicorn access log (true/false)"),
    ("log-level", str, "info", "log level"),
)
_REQUIRED = ("model-name", "model-version", "artifact-uri", "format", "sha256", "signature")


class ConfigError(ValueError):
    """A flag or environment variable is missing or invalid."""


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-operator serve",
        description="Serve one ModelVersion. Every flag may also be set as MLOPS_SERVE_<FLAG>.",
    )
    for flag, kind, default, text in _FLAGS:
        parser.add_argument(
            f"--{flag}", type=kind, default=None, help=f"{text} [{env_name(flag)}; {default}]"
        )
    return parser


def parse_config(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> ServeConfig:
    """Flags win over environment variables, which win over defaults."""
    environ = os.environ if environ is None else environ
    args = vars(_parser().parse_args(list(argv)))
    values: dict[str, object] = {}
    for flag, kind, default, _ in _FLAGS:
        key = flag.replace("-", "_")
        value = args[key]
        if value is None and env_name(flag) in environ:
            raw = environ[env_name(flag)]
            try:
                value = kind(raw)
            except ValueError as exc:
                raise ConfigError(
                    f"{env_name(flag)}={raw!r} is not a valid {kind.__name__}"
                ) from exc
        if value is None:
            if flag in _REQUIRED:
                raise ConfigError(f"--{flag} (or {env_name(flag)}) is required")
            value = default
        values[key] = value
    return _build(values)


def _build(values: dict[str, object]) -> ServeConfig:
    if values["format"] not in ("onnx", "skops"):
        raise ConfigError(f"--format must be onnx or skops, not {values['format']!r}")
    if values["task"] not in (None, "classification", "regression"):
        raise ConfigError(f"--task must be classification or regression, not {values['task']!r}")
    try:
        values["signature"] = Signature.model_validate(json.loads(str(values["signature"])))
    except ValueError as exc:
        raise ConfigError(f"--signature is not a valid Signature: {exc}") from exc
    rate = float(values["sample_rate"])  # type: ignore[arg-type]
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"--sample-rate must be within [0, 1], not {rate}")
    for key in ("port", "workers", "sample_batch_size", "sample_queue_size", "max_body_bytes"):
        if int(values[key]) < (0 if key == "port" else 1):  # type: ignore[call-overload]
            raise ConfigError(f"--{key.replace('_', '-')} must be positive")
    values["access_log"] = str(values["access_log"]).lower() in ("1", "true", "yes", "on")
    return ServeConfig(**values)  # type: ignore[arg-type]


def to_environ(config: ServeConfig) -> dict[str, str]:
    """The MLOPS_SERVE_* variables that reproduce `config` (used to hand it to workers)."""
    out: dict[str, str] = {}
    for flag, _, _, _ in _FLAGS:
        value = getattr(config, flag.replace("-", "_"))
        if value is None:
            continue
        if flag == "signature":
            value = json.dumps(config.signature.wire())
        out[env_name(flag)] = str(value).lower() if isinstance(value, bool) else str(value)
    return out
