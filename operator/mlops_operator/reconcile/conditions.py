"""Conditions the Kubernetes way, in one place.

`lastTransitionTime` changes only when the status flips; every condition carries the
generation it was computed for, and so does `status.observedGeneration`. The types and
statuses are named in `api.conditions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..api.conditions import FALSE, READY, TRUE, ConditionStatus

# A condition message (and a status failureMessage) is cut to this many characters.
MAX_MESSAGE = 2048


def clip(message: str) -> str:
    """`message` cut to MAX_MESSAGE characters."""
    return message[:MAX_MESSAGE]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Cond:
    """A condition as decided by reconcile/: what it is, not when it changed."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def set_conditions(
    existing: Iterable[dict[str, Any]] | None,
    updates: Iterable[Cond],
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Merge `updates` into `existing` conditions; untouched conditions are kept as they are."""
    merged: dict[str, dict[str, Any]] = {c["type"]: dict(c) for c in existing or () if "type" in c}
    for update in updates:
        previous = merged.get(update.type)
        transition = rfc3339(now)
        if previous and previous.get("status") == update.status:
            transition = previous.get("lastTransitionTime") or transition
        condition: dict[str, Any] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": transition,
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        merged[update.type] = condition
    return sorted(merged.values(), key=lambda c: (c["type"] != READY, c["type"]))


def condition(conditions: Iterable[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def is_true(conditions: Iterable[dict[str, Any]] | None, type_: str) -> bool:
    found = condition(conditions, type_)
    return bool(found and found.get("status") == TRUE)


def with_conditions(
    status: dict[str, Any],
    old_status: dict[str, Any] | None,
    updates: Iterable[Cond],
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """A full status patch: `status` plus merged conditions and observedGeneration."""
    patch = dict(status)
    patch["conditions"] = set_conditions(
        (old_status or {}).get("conditions"), updates, generation, now
    )
    if generation is not None:
        patch["observedGeneration"] = generation
    return patch


def condition_value(conditions: list[dict[str, Any]] | None, type_: str) -> bool | None:
    """True/False for a condition that is True/False, None when it is Unknown or absent."""
    found = condition(conditions, type_)
    status = (found or {}).get("status")
    return True if status == TRUE else False if status == FALSE else None


def without_nones(value: Any) -> Any:
    """A status value as the API server stores it: object keys whose value is None dropped."""
    if isinstance(value, dict):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value


def replacing(old: Any, new: Any) -> Any:
    """The merge patch that makes a status field exactly `new`: a decision writes whole
    objects, but a JSON merge patch merges them into the stored ones, so every key of the
    stored object that `new` lacks is set to null (removed), at any depth."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {k: replacing(old.get(k), v) for k, v in new.items()}
    patch.update({k: None for k in old if k not in new})
    return patch
