"""Events on our resources: `kubectl describe` shows them, from mlops-operator and its pod."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from typing import Any, Literal

from .client import ApiError, call
from .resources import Resource

log = logging.getLogger(__name__)

COMPONENT = "mlops-operator"
INSTANCE = socket.gethostname()
MESSAGE_LIMIT = 1024  # the API server refuses longer Event messages


async def event(
    body: dict[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str
) -> None:
    """Post an Event about `body`; best effort: a failure is logged, never raised."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    moment = datetime.now(UTC).isoformat()
    manifest = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": namespace, "generateName": f"{meta['name']}."},
        "type": type_,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "action": reason,
        "reportingComponent": COMPONENT,
        "reportingInstance": INSTANCE,
        "source": {"component": COMPONENT, "host": INSTANCE},  # the From column of describe
        "involvedObject": {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
    }
    try:
        await call("POST", Resource("v1", "Event").path(namespace), body=manifest)
    except ApiError as error:
        log.warning("could not post Event %s on %s/%s: %s", reason, namespace, meta["name"], error)
