"""Events on our resources, posted by Kopf's own non-blocking event queue."""

from __future__ import annotations

import logging
from typing import Any, Literal

import kopf

log = logging.getLogger(__name__)


def event(body: Any, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
    """Post an Event about `body` (a Kopf body or a dict with apiVersion/kind/metadata)."""
    kopf.event(body, type=type_, reason=reason, message=message[:1024])
