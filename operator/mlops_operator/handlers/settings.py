"""Kopf settings, fixed on day one: changing storage later makes every object look unhandled."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

import kopf
from prometheus_client import start_http_server

from .. import GROUP, metrics
from ..api.kinds import DATASET, DRIFT_MONITOR, MODEL_DEPLOYMENT, MODEL_VERSION, TRAINING_JOB
from ..config import OperatorConfig
from ..kube import client as kube_client

log = logging.getLogger("mlops_operator")
FINALIZER = f"{GROUP}/finalizer"
# Every kind has a controller; the startup log names them.
RECONCILED = (DATASET, TRAINING_JOB, MODEL_VERSION, MODEL_DEPLOYMENT, DRIFT_MONITOR)

_metrics_started: set[int] = set()


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    config = OperatorConfig.from_env()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    # Events say who wrote them: the From column of `kubectl describe`.
    settings.posting.reporting_component = "mlops-operator"
    settings.posting.reporting_instance = socket.gethostname()
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    # Kopf's per-object workers only hand watch events to our queue: no limit needed.
    settings.queueing.worker_limit = None
    kube_client.configure(settings)
    metrics.initialise([kind.kind for kind in RECONCILED])
    if config.metrics_port and config.metrics_port not in _metrics_started:
        start_http_server(config.metrics_port)
        _metrics_started.add(config.metrics_port)
    log.info(
        "reconciling %s in mlops.dev/v1alpha1; metrics on :%s",
        ", ".join(k.kind for k in RECONCILED),
        config.metrics_port or "(disabled)",
    )


def in_cluster_server(environ: Mapping[str, str]) -> str | None:
    """The API server address a pod is given, as client-go's InClusterConfig reads it.

    Kopf's service-account login names `https://kubernetes.default.svc`, which needs cluster
    DNS; the kubelet's KUBERNETES_SERVICE_HOST/PORT variables do not.
    """
    host = environ.get("KUBERNETES_SERVICE_HOST")
    port = environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"https://{host}:{port}"


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: its service account; elsewhere: the kubeconfig KUBECONFIG names now."""
    info = kopf.login_with_service_account(**kwargs)
    if info is not None:
        server = in_cluster_server(os.environ)
        return dataclasses.replace(info, server=server) if server else info
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.probe(id="api")
def api_reachable(**_: Any) -> str:
    """Part of /healthz: Kopf answers only while its event loop is alive."""
    return "ok"
