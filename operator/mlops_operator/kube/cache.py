"""The operator's view of the cluster: the objects it watches, kept current by watch events.

A reconcile reads its children and the objects it depends on from here, so a reconcile that
changes nothing sends no request: an idle cluster of thousands of objects costs the API server
only the watch streams. Kopf's watch streams feed `observe()`; the first read of a
(resource, namespace) lists it once from the API server to fill the gap before the stream's own
initial listing arrives, and never lets that listing overwrite a newer event or resurrect an
object a DELETED event removed (resourceVersions are compared as etcd revisions, which is what
every API server backed by etcd hands out; an unparsable one is treated as newest).

What is not watched (anything outside `WATCHED`) is read from the API server. Objects handed
out are the cache's own: read them, never change them (decisions are pure and copy what they
keep).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .. import API_VERSION
from ..api.kinds import (
    DEPLOYMENT,
    HORIZONTAL_POD_AUTOSCALER,
    JOB,
    KINDS,
    MODEL_DEPLOYMENT,
    POD,
    SERVICE,
)
from ..api.labels import MANAGED_BY
from . import client

Resource = tuple[str, str]  # (apiVersion, kind)
Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Watched:
    api_version: str
    kind: str
    selector: str | None  # the label selector every cached object of it matches
    # What decisions never read of a child, and the cache does not keep: the pod template's
    # spec of a Job or Deployment (its labels stay), the whole spec of a Pod, Service or HPA.
    # A child's spec is what we wrote; its spec-hash annotation stands for it.
    drop: tuple[tuple[str, ...], ...] = ()


CHILD_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
# Of pods, only a ModelDeployment's matter to a decision (readiness, crash loops, the canary's
# addresses). A Job's pods are read only to explain its failure, from the API server; not
# caching them keeps memory to the serving pods.
POD_SELECTOR = f"{CHILD_SELECTOR},{MODEL_DEPLOYMENT.label}"
_TEMPLATE_SPEC = (("spec", "template", "spec"),)
_SPEC = (("spec",),)
# Our own kinds, and the children whose changes wake their owners.
WATCHED: dict[Resource, Watched] = {
    **{(API_VERSION, k.kind): Watched(API_VERSION, k.kind, None) for k in KINDS},
    **{
        (v, k): Watched(v, k, selector, drop)
        for (v, k), selector, drop in (
            (JOB, CHILD_SELECTOR, _TEMPLATE_SPEC),
            (DEPLOYMENT, CHILD_SELECTOR, _TEMPLATE_SPEC),
            (SERVICE, CHILD_SELECTOR, _SPEC),
            (POD, POD_SELECTOR, _SPEC),
            (HORIZONTAL_POD_AUTOSCALER, CHILD_SELECTOR, _SPEC),
        )
    },
}


def _revision(obj: dict[str, Any]) -> int:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        return 1 << 62


_NEVER_READ_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _without(tree: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A copy of `tree` without the value at `path` (copying only the dicts on the way)."""
    if path[0] not in tree:
        return tree
    copy = dict(tree)
    if len(path) == 1:
        del copy[path[0]]
    elif isinstance(copy[path[0]], dict):
        copy[path[0]] = _without(copy[path[0]], path[1:])
    return copy


def _slim(obj: dict[str, Any], watched: Watched) -> dict[str, Any]:
    """Keep what decisions read: no managedFields (the largest part of most objects), no
    kubectl last-applied copy, none of `watched.drop`. Thousands of objects stay small."""
    slim = _without(obj, ("metadata", "managedFields"))
    for annotation in _NEVER_READ_ANNOTATIONS:
        slim = _without(slim, ("metadata", "annotations", annotation))
    for path in watched.drop:
        slim = _without(slim, path)
    return slim


def _controllers(obj: dict[str, Any]) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [ref["uid"] for ref in refs if ref.get("controller") and ref.get("uid")]


def _matches(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        key, equals, value = term.partition("=")
        if not equals:  # `key`: the label exists
            if key.strip() not in labels:
                return False
        elif labels.get(key.strip()) != value.strip():
            return False
    return True


def selector_labels(selector: str | None) -> dict[str, str | None]:
    """A selector of `key=value` and `key` terms as a mapping (None: the label exists)."""
    terms = [t.partition("=") for t in (selector or "").split(",") if t]
    return {k.strip(): (v.strip() if eq else None) for k, eq, v in terms}


def _simple_selector(selector: str | None) -> bool:
    """`key=value` and `key` terms only: what the cache can answer itself."""
    return not selector or all(
        "!" not in t and " in " not in t and "(" not in t for t in selector.split(",")
    )


def _within(watched: Watched, selector: str | None) -> bool:
    """Whether everything `selector` selects is cached: it names every label the watch
    requires beyond our own labels (a Job's pods are not cached; a ModelDeployment's are)."""
    required = set(selector_labels(watched.selector)) - set(MANAGED_BY)
    return required <= set(selector_labels(selector))


class Cache:
    def __init__(self) -> None:
        self._objects: dict[Resource, dict[Key, dict[str, Any]]] = defaultdict(dict)
        self._gone: dict[Resource, dict[Key, int]] = defaultdict(dict)  # DELETED revisions
        self._listed: set[tuple[Resource, str]] = set()
        # Controller uid -> its children: a deleted owner's children without a scan.
        self._controlled: dict[str, set[tuple[Resource, Key]]] = defaultdict(set)
        self._listing: dict[tuple[Resource, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- fed by the watch streams and by our own writes ---------------------------------------

    def observe(self, event_type: str | None, obj: dict[str, Any]) -> None:
        """A watch event (ADDED, MODIFIED, DELETED, or None for the stream's initial listing)."""
        resource = (obj.get("apiVersion") or "", obj.get("kind") or "")
        watched = WATCHED.get(resource)
        if watched is None:
            return
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if event_type == "DELETED" or not _matches(obj, watched.selector):
            self._unindex(resource, key, self._objects[resource].pop(key, None))
            if (resource, key[0]) not in self._listed:  # only a listing on its way needs it
                self._gone[resource][key] = _revision(obj)
            return
        self._store(resource, key, obj)

    def written(self, obj: dict[str, Any]) -> None:
        """The API server's answer to our own write: newer than what the stream showed yet."""
        self.observe("MODIFIED", obj)

    def _store(self, resource: Resource, key: Key, obj: dict[str, Any]) -> None:
        current = self._objects[resource].get(key)
        if current is not None and _revision(current) > _revision(obj):
            return
        self._gone[resource].pop(key, None)
        self._unindex(resource, key, current)
        self._objects[resource][key] = _slim(obj, WATCHED[resource])
        for uid in _controllers(obj):
            self._controlled[uid].add((resource, key))

    def _unindex(self, resource: Resource, key: Key, obj: dict[str, Any] | None) -> None:
        for uid in _controllers(obj or {}):
            children = self._controlled.get(uid)
            if children is not None:
                children.discard((resource, key))
                if not children:
                    del self._controlled[uid]

    def controlled_by(self, uid: str) -> list[dict[str, Any]]:
        """The cached children whose controller (owner reference) has this uid."""
        return [
            self._objects[resource][key]
            for resource, key in sorted(self._controlled.get(uid, ()))
            if key in self._objects[resource]
        ]

    # -- reads ---------------------------------------------------------------------------------

    async def _ensure_listed(self, resource: Resource, namespace: str) -> None:
        if (resource, namespace) in self._listed:
            return
        async with self._listing[(resource, namespace)]:
            if (resource, namespace) in self._listed:
                return
            watched = WATCHED[resource]
            answer = await client.list_from_server(
                watched.api_version, watched.kind, namespace, watched.selector
            )
            for item in answer.get("items") or []:
                item.setdefault("apiVersion", watched.api_version)
                item.setdefault("kind", watched.kind)
                meta = item.get("metadata") or {}
                key = (meta.get("namespace") or namespace, meta.get("name") or "")
                if self._gone[resource].get(key, -1) >= _revision(item):
                    continue  # deleted while the listing was on its way
                self._store(resource, key, item)
            self._listed.add((resource, namespace))
            for key in [k for k in self._gone[resource] if k[0] == namespace]:
                del self._gone[resource][key]  # the listing is merged: tombstones are moot

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        resource = (api_version, kind)
        if resource not in WATCHED or not namespace:
            return await client.read(api_version, kind, namespace, name)
        await self._ensure_listed(resource, namespace)
        return self._objects[resource].get((namespace, name))

    async def list_objects(
        self, api_version: str, kind: str, namespace: str | None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        resource = (api_version, kind)
        if (
            resource not in WATCHED
            or not namespace
            or not _simple_selector(selector)
            or not _within(WATCHED[resource], selector)
        ):
            answer = await client.list_from_server(api_version, kind, namespace, selector)
            return list(answer.get("items") or [])
        await self._ensure_listed(resource, namespace)
        return [
            obj
            for (ns, _), obj in sorted(self._objects[resource].items())
            if ns == namespace and _matches(obj, selector)
        ]

    def peek(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """What the watch last showed, without a request (None when not seen)."""
        return self._objects[(api_version, kind)].get((namespace, name))

    def items(self, api_version: str, kind: str) -> list[tuple[Key, dict[str, Any]]]:
        """Everything of one resource the watch has shown, without a request."""
        return list(self._objects[(api_version, kind)].items())

    def keys(self, api_version: str, kind: str) -> list[Key]:
        return list(self._objects[(api_version, kind)])

    def size(self) -> int:
        return sum(len(objects) for objects in self._objects.values())


# One cache per operator run; the startup handler replaces it (tests start many operators).
CACHE = Cache()


def reset() -> Cache:
    global CACHE
    CACHE = Cache()
    return CACHE
