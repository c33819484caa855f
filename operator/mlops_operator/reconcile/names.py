"""Deterministic child names: the same input always gives the same name, within 63 chars."""

from __future__ import annotations

import hashlib

MAX_NAME = 63


def child_name(parent: str, suffix: str, *key: object) -> str:
    """`<parent>-<suffix>-<hash of key>`, parent truncated so the result fits a label value."""
    digest = hashlib.sha256("/".join(str(k) for k in (parent, suffix, *key)).encode()).hexdigest()
    tail = f"-{suffix}-{digest[:8]}" if key else f"-{suffix}"
    return parent[: MAX_NAME - len(tail)].rstrip("-") + tail
