"""What the store holds per namespace: every file with its size and modification time (one
recursive listing per top-level area), and the removal of what a sweep chose."""

from __future__ import annotations

from ..store import FileInfo, Store

# The areas of docs/artifacts.md whose second level is a namespace.
AREAS = ("datasets", "models", "runs", "production", "evaluations", "samples", "labels",
         "predictions")  # fmt: skip


def namespaces(store: Store) -> list[str]:
    """Every namespace with something in the store."""
    found: set[str] = set()
    for area in AREAS:
        found.update(store.list_detail(area)[1])
    return sorted(found)


def files_of(store: Store, namespace: str) -> list[FileInfo]:
    """Every file of one namespace, its `name` relative to the store root."""
    out: list[FileInfo] = []
    for area in AREAS:
        prefix = f"{area}/{namespace}"
        out.extend(
            FileInfo(info.uri, f"{prefix}/{info.name}", info.size, info.modified)
            for info in store.find(prefix)
            if not info.name.rsplit("/", 1)[-1].startswith(".")  # atomic writes in flight
        )
    return out


def remove(store: Store, paths: list[str]) -> list[str]:
    """Remove each path (a file or a directory); returns the ones removed."""
    for path in paths:
        store.delete(path)
    return paths
