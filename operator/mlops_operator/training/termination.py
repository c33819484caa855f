"""The small JSON result a Job pod leaves in its termination message (kubelet cap: 4096 B)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

LIMIT = 4096
DEFAULT_PATH = "/dev/termination-log"


def encode(message: dict[str, Any], limit: int = LIMIT) -> bytes:
    """JSON under `limit` bytes: long strings and lists are cut, and say so."""
    data = _dumps(message)
    if len(data) < limit:
        return data
    trimmed = dict(message)
    for key, value in sorted(trimmed.items(), key=lambda kv: -len(_dumps(kv[1]))):
        if isinstance(value, list):
            keep = list(value)
            marker = f"{key}Truncated"
            while keep and len(_dumps({**trimmed, key: keep, marker: 0})) >= limit:
                keep.pop()
            trimmed[key] = keep
            trimmed[marker] = len(value) - len(keep)
        elif isinstance(value, str) and len(value) > 200:
            trimmed[key] = value[:200] + "…"
        data = _dumps(trimmed)
        if len(data) < limit:
            return data
    scalars = {k: v for k, v in trimmed.items() if not isinstance(v, dict | list)}
    return _dumps(scalars)[: limit - 1]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def write(message: dict[str, Any], path: str = DEFAULT_PATH) -> None:
    """Write the message where the kubelet reads it, and echo it to stdout for logs."""
    data = encode(message)
    with contextlib.suppress(OSError):  # outside a pod the path may not exist
        Path(path).write_bytes(data)
    sys.stdout.write(data.decode() + "\n")
    sys.stdout.flush()
