"""Read the result file a Job pod left in the artifact store."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import fsspec

log = logging.getLogger(__name__)


def _read(uri: str) -> dict[str, Any] | None:
    try:
        with fsspec.open(uri, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("cannot read result %s: %s", uri, error)
        return None


async def read_result(uri: str) -> dict[str, Any] | None:
    return await asyncio.to_thread(_read, uri)
