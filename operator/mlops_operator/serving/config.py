"""What one serving process needs to know, from command-line flags or MLOPS_SERVE_* variables."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..api.modeldeployment import SAMPLE_BATCH_SIZE, SAMPLE_FLUSH_SECONDS, SAMPLE_RATE
from ..api.modelversion import MODEL_FORMATS, TASKS, ModelFormat, Signature, Task

ENV_PREFIX = "MLOPS_SERVE_"


@dataclass(frozen=True)
class ServeConfig:
    model_name: str
    # The version number (V2 `{version}`); the ModelVersion object's name, which sampled
    # records carry, is model_version_name.
    model_version: str
    artifact_uri: str
    format: ModelFormat
    sha256: str
    signature: Signature
    task: Task | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    sample_rate: float = SAMPLE_RATE
    sample_uri: str | None = None
    sample_batch_size: int = SAMPLE_BATCH_SIZE
    sample_flush_seconds: float = float(SAMPLE_FLUSH_SECONDS)
    sample_queue_size: int = 1024
    labels_uri: str | None = None
    model_version_name: str | None = None
    max_body_bytes: int = 1_048_576
    drain_seconds: float = 10.0
    graceful_timeout: float = 15.0
    access_log: bool = False
    log_level: str = "info"

    @property
    def version_name(self) -> str:
        """The ModelVersion a sampled prediction names (records.VERSION)."""
        return self.model_version_name or self.model_version


# (flag, type, help); the dataclass field is the flag with '-' -> '_', and has the default.
_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("model-name", str, "name the model is served under (V2 {name})"),
    ("model-version", str, "ModelVersion version number"),
    ("artifact-uri", str, "file:// or s3:// URI of model.onnx / model.skops"),
    ("format", str, " or ".join(MODEL_FORMATS)),
    ("sha256", str, "expected sha256 of the artifact; checked before loading"),
    ("signature", str, "ModelVersion spec.signature as JSON (camelCase)"),
    ("task", str, f"{' or '.join(TASKS)} (default: inferred from the model)"),
    ("host", str, "listen address"),
    ("port", int, "listen port"),
    ("workers", int, "uvicorn worker processes"),
    ("sample-rate", float, "fraction of request rows logged for drift checks"),
    ("sample-uri", str, "URI prefix where sampled rows are written as Parquet"),
    ("sample-batch-size", int, "rows per sample file"),
    ("sample-flush-seconds", float, "write a partial sample batch after this long"),
    ("sample-queue-size", int, "pending sampled requests before new ones are dropped"),
    ("labels-uri", str, "URI prefix where feedback labels are written (none: no feedback)"),
    ("model-version-name", str, "ModelVersion name in sampled records (default: model-version)"),
    ("max-body-bytes", int, "largest request body accepted (413 beyond)"),
    ("drain-seconds", float, "after SIGTERM: report not-ready this long before closing"),
    ("graceful-timeout", float, "then wait at most this long for in-flight requests"),
    ("access-log", str, "uvicorn access log (true/false)"),
    ("log-level", str, "log level"),
)
_REQUIRED = ("model-name", "model-version", "artifact-uri", "format", "sha256", "signature")


class ConfigError(ValueError):
    """A flag or environment variable is missing or invalid."""


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _default(flag: str) -> object:
    """The ServeConfig field's default (None for a required one), as a flag would give it."""
    default = _FIELDS[flag.replace("-", "_")].default
    if default is dataclasses.MISSING:
        return None
    return str(default).lower() if isinstance(default, bool) else default


_FIELDS = {f.name: f for f in dataclasses.fields(ServeConfig)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-operator serve",
        description="Serve one ModelVersion. Every flag may also be set as MLOPS_SERVE_<FLAG>.",
    )
    for flag, kind, text in _FLAGS:
        parser.add_argument(
            f"--{flag}",
            type=kind,
            default=None,
            help=f"{text} [{env_name(flag)}; {_default(flag)}]",
        )
    return parser


def parse_config(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> ServeConfig:
    """Flags win over environment variables, which win over defaults."""
    environ = os.environ if environ is None else environ
    args = vars(_parser().parse_args(list(argv)))
    values: dict[str, object] = {}
    for flag, kind, _ in _FLAGS:
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
            value = _default(flag)
        values[key] = value
    return _build(values)


def _build(values: dict[str, object]) -> ServeConfig:
    if values["format"] not in MODEL_FORMATS:
        raise ConfigError(
            f"--format must be {' or '.join(MODEL_FORMATS)}, not {values['format']!r}"
        )
    if values["task"] not in (None, *TASKS):
        raise ConfigError(f"--task must be {' or '.join(TASKS)}, not {values['task']!r}")
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
    for flag, _, _ in _FLAGS:
        value = getattr(config, flag.replace("-", "_"))
        if value is None:
            continue
        if flag == "signature":
            value = json.dumps(config.signature.wire())
        out[env_name(flag)] = str(value).lower() if isinstance(value, bool) else str(value)
    return out
