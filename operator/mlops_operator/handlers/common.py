"""Carry out a Decision: create children, patch status, post Events. No decisions here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from .. import kube
from ..api.kinds import Kind
from ..reconcile.conditions import with_conditions
from ..reconcile.decision import Decision

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def as_dict(body: Any) -> dict[str, Any]:
    """A plain, mutable copy of a Kopf body."""
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": dict(body["metadata"]),
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }


async def create_children(decision: Decision) -> None:
    for manifest in decision.create:
        try:
            kube.cache.CACHE.written(await kube.create(manifest))
        except kube.Conflict:
            log.info("%s %s exists already", manifest["kind"], manifest["metadata"]["name"])


async def apply_children(namespace: str, decision: Decision) -> None:
    for manifest in decision.apply:
        await kube.apply(manifest)
    for key in decision.delete:
        await kube.delete(key.api_version, key.kind, namespace, key.name)


async def write_status(kind: Kind, body: dict[str, Any], decision: Decision) -> None:
    meta = body["metadata"]
    old_status = body.get("status") or {}
    patch = with_conditions(
        decision.status, old_status, decision.conditions, meta.get("generation"), now()
    )
    changed = {k: v for k, v in patch.items() if old_status.get(k) != v}
    if changed:
        written = await kube.patch_status(
            body["apiVersion"], kind.kind, meta["namespace"], meta["name"], changed
        )
        kube.cache.CACHE.written(written)


async def post_events(body: dict[str, Any], decision: Decision) -> None:
    for note in decision.events:
        await kube.event(body, note.type, note.reason, note.message)


async def carry_out(kind: Kind, plain: dict[str, Any], decision: Decision) -> None:
    """Create, apply and delete children, write the status, post the Events."""
    await create_children(decision)
    await apply_children(plain["metadata"]["namespace"], decision)
    await write_status(kind, plain, decision)
    await post_events(plain, decision)
