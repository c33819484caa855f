"""What every endpoint shares: the model being served (or why it is not), readiness, sampling,
the label store."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping
from typing import Any

from . import model as model_module
from .config import ServeConfig
from .errors import RequestError
from .labels import LabelWriter
from .metrics import ServingMetrics
from .model import LoadedModel
from .sampling import Sampler
from .signature import CompiledSignature

log = logging.getLogger("mlops_operator.serving")


class ServerState:
    """The loaded model (or why it is not), readiness, sampling; one per app."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.name = config.model_name
        self.version = config.model_version
        self.signature = CompiledSignature(config.signature)
        self.metrics = ServingMetrics(config.model_name, config.model_version)
        self.model: LoadedModel | None = None
        self.load_error: str | None = None
        self.draining = False
        self.sampler: Sampler | None = None
        if config.sample_uri and config.sample_rate > 0:
            self.sampler = Sampler(
                config.sample_uri,
                self.signature.columns,
                version=config.version_name,
                rate=config.sample_rate,
                batch_size=config.sample_batch_size,
                flush_seconds=config.sample_flush_seconds,
                queue_size=config.sample_queue_size,
                metrics=self.metrics,
            )
        self.labels: LabelWriter | None = None
        if config.labels_uri:
            self.labels = LabelWriter(
                config.labels_uri,
                batch_size=config.sample_batch_size,
                flush_seconds=config.sample_flush_seconds,
                metrics=self.metrics,
            )

    @property
    def ready(self) -> bool:
        return self.model is not None and not self.draining

    def load(self) -> None:
        config = self.config
        try:
            self.model = model_module.load(config)
        except Exception as exc:
            self.load_error = str(exc)
            log.error(
                "model %s version %s will not be served: %s",
                config.model_name, config.model_version, exc,
            )  # fmt: skip
            return
        # Everything loaded so far lives until exit: keep it out of the garbage collector's
        # full passes, which would otherwise walk it and stall requests (p99 spikes).
        gc.collect()
        gc.freeze()
        self.signature.accept_missing(self.model.missing_inputs)
        if self.sampler is not None:
            self.sampler.class_labels = self.model.class_labels
        self.metrics.ready.set(1)
        log.info(
            "model %s version %s loaded (%s, %s)",
            config.model_name, config.model_version, self.model.platform, self.model.task,
        )  # fmt: skip

    def not_ready_reason(self) -> str:
        if self.draining:
            return "server is shutting down"
        if self.load_error:
            return f"model failed to load: {self.load_error}"
        return "model is still loading"

    def check_model(self, path_params: Mapping[str, Any], *, any_version: bool = False) -> None:
        """A 404 unless the path names the model served here (and its version, if it names one
        and `any_version` is false)."""
        name, version = self.name, self.version
        if path_params["name"] != name:
            raise RequestError(
                f"model '{path_params['name']}' not found; this server serves '{name}'", 404
            )
        if any_version:
            return
        wanted = path_params.get("version")
        if wanted is not None and wanted != version:
            raise RequestError(
                f"model '{name}' has no version '{wanted}'; this server serves version '{version}'",
                404,
            )
