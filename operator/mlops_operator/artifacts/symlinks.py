"""Symlinks that lead out of a namespace's part of a file:// store (docs/security.md).

A pod writes only its own namespace's part of the store, but a file it writes may be a
symlink: followed by the operator, which has the whole store mounted, it would read another
namespace's data. Before the operator reads a namespace's files, `escape` finds any path at or
below the URI that resolves outside the namespace's directories.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def _inside(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def escape(uri: str, roots: Sequence[str]) -> str | None:
    """The first local path at or below the file:// `uri` (a file, or a directory walked
    without following links) whose real path is outside every directory in `roots`; None when
    all stay inside, the URI is not local, or nothing is there yet."""
    if not uri.startswith("file://") or not roots:
        return None
    real_roots = [os.path.realpath(root) for root in roots]
    path = uri.removeprefix("file://")
    if not os.path.lexists(path):
        return None
    if not _inside(os.path.realpath(path), real_roots):
        return path
    if not os.path.isdir(path) or os.path.islink(path):
        return None
    for directory, dirs, files in os.walk(path, followlinks=False):
        for name in (*dirs, *files):
            entry = os.path.join(directory, name)
            if os.path.islink(entry) and not _inside(os.path.realpath(entry), real_roots):
                return entry
    return None
