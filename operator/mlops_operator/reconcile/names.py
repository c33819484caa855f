"""Deterministic child names: the same input always gives the same name, within MAX_NAME chars."""

from __future__ import annotations

import hashlib

from ..api.base import MAX_NAME, SHORT_SHA

__all__ = ["MAX_NAME", "child_name", "short_sha", "truncated"]


def truncated(name: str, tail: str = "") -> str:
    """`name` cut, and stripped of the dashes it then ends with, so `name + tail` fits."""
    return name[: MAX_NAME - len(tail)].rstrip("-") + tail


def child_name(parent: str, suffix: str, *key: object) -> str:
    """`<parent>-<suffix>-<hash of key>`, parent truncated so the result fits a label value."""
    digest = hashlib.sha256("/".join(str(k) for k in (parent, suffix, *key)).encode()).hexdigest()
    tail = f"-{suffix}-{digest[:8]}" if key else f"-{suffix}"
    return truncated(parent, tail)


def short_sha(digest: str) -> str:
    """A sha256 (a Dataset version, an artifact's checksum) as messages show it."""
    return digest[:SHORT_SHA]
