"""Read the result a Job pod left in the artifact store (its `--result-uri`)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ..artifacts.store import unreachable, url_to_fs
from ..reconcile import outage
from . import result_guard

log = logging.getLogger(__name__)

# The short result points at the full document: a Dataset summary or a training result.
DETAIL_KEYS = ("summaryUri", "resultUri")


def _read_json(uri: str) -> dict[str, Any] | None:
    try:
        fs, path = url_to_fs(uri)  # s3://: the store's endpoint and credentials
        with fs.open(path, "rb") as handle:
            document = json.loads(handle.read())
    except FileNotFoundError:
        return None
    except Exception as error:
        down = unreachable(error, uri)
        if down is not None:  # not the Job's failure: the caller looks again later
            return outage.unread_result(str(down))
        if not isinstance(error, OSError | ValueError):
            raise
        log.warning("cannot read result %s: %s", uri, error)
        return None
    return document if isinstance(document, dict) else None


def _read(uri: str) -> dict[str, Any] | None:
    # The pod wrote these files: none is read through a link out of its namespace's part.
    namespace = result_guard.namespace_of(uri)
    result = result_guard.refusal(uri, namespace, "the run result") or _read_json(uri)
    if not result or not result.get("ok"):
        return result
    for key in DETAIL_KEYS:
        if result.get(key):
            refused = result_guard.refusal(result[key], namespace, f"the run result's {key}")
            if refused is not None:
                return refused
            detail = _read_json(result[key])
            if detail is None or outage.unread(detail):
                return detail
            result = {**detail, **result}
    return result


async def read_result(uri: str) -> dict[str, Any] | None:
    return await asyncio.to_thread(_read, uri)
