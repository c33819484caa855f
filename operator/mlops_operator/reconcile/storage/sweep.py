"""One store sweep of a namespace, decided: garbage collection (gc.py), retention per
ModelDeployment (retention.py), the records bases to compact, the usage per kind and the
Events to post. Pure: the namespace's files, the live objects and the clock come in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..reasons import GARBAGE_COLLECTED, GARBAGE_FOUND, RETENTION_APPLIED
from . import gc, retention


@dataclass(frozen=True)
class Settings:
    grace: timedelta
    default_limits: retention.Limits
    gc: bool = True
    dry_run: bool = False


@dataclass(frozen=True)
class Notice:
    """An Event: on the Namespace (target None) or on a ModelDeployment (its name)."""

    deployment: str | None
    reason: str
    message: str


@dataclass
class SweepPlan:
    namespace: str
    choices: list[gc.Choice] = field(default_factory=list)
    expired: dict[str, list[retention.Partition]] = field(default_factory=dict)
    compact: list[str] = field(default_factory=list)  # records bases, relative to the root
    usage: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (bytes, files)
    notices: list[Notice] = field(default_factory=list)
    dry_run: bool = False

    def gc_removals(self) -> list[gc.Entry]:
        return [c.entry for c in self.choices if c.remove]

    def removals(self) -> list[str]:
        """What to delete (nothing in a dry run): GC entries, then expired partitions."""
        if self.dry_run:
            return []
        out = [e.path for e in self.gc_removals()]
        for parts in self.expired.values():
            out.extend(p.path for p in parts)
        return out


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def decide(
    namespace: str,
    files: list[gc.FileRef],
    refs: gc.References,
    deployments: list[dict[str, Any]],
    now: datetime,
    settings: Settings,
) -> SweepPlan:
    plan = SweepPlan(namespace, dry_run=settings.dry_run)
    found = gc.entries(files)
    for entry in found:
        size, count = plan.usage.get(entry.kind, (0, 0))
        plan.usage[entry.kind] = (size + entry.bytes, count + entry.objects)
    if settings.gc:
        plan.choices = gc.choose(found, refs, now, settings.grace)
    removed = {e.path for e in plan.gc_removals()}
    for body in sorted(deployments, key=lambda b: b["metadata"]["name"]):
        name = body["metadata"]["name"]
        limit = retention.limits(body, settings.default_limits)
        parts = [  # what garbage collection removes whole is not retention's
            p
            for p in retention.record_partitions(files, namespace, name)
            if not any(p.path.startswith(r + "/") for r in removed)
        ]
        chosen = retention.expired(parts, limit, now)
        if chosen:
            plan.expired[name] = chosen
            verb = "would remove" if settings.dry_run else "removed"
            plan.notices.append(
                Notice(
                    name,
                    RETENTION_APPLIED,
                    f"retention (maxAgeHours {limit.max_age_hours}, maxSizeMib "
                    f"{limit.max_size_mib}) {verb} {len(chosen)} hour partitions of samples "
                    f"and labels, {_mib(sum(p.bytes for p in chosen))}; oldest kept: "
                    + _oldest_kept(parts, chosen),
                )
            )
        for entry in found:
            if (
                entry.kind in (gc.SAMPLES, gc.LABELS)
                and entry.owner == name
                and entry.path not in removed
                and entry.path not in plan.compact
            ):
                plan.compact.append(entry.path)
    gone_entries = plan.gc_removals()
    if gone_entries:
        kinds: dict[str, int] = {}
        for entry in gone_entries:
            kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        freed = _mib(sum(e.bytes for e in gone_entries))
        plan.notices.append(
            Notice(
                None,
                GARBAGE_FOUND if settings.dry_run else GARBAGE_COLLECTED,
                (
                    f"dry run: would remove {summary} ({freed}) that no live object references"
                    if settings.dry_run
                    else f"removed {summary} ({freed}) that no live object references"
                ),
            )
        )
    return plan


def _oldest_kept(parts: list[retention.Partition], chosen: list[retention.Partition]) -> str:
    gone = {p.path for p in chosen}
    kept = [p for p in parts if p.path not in gone]
    return f"{kept[0].hour:%Y-%m-%dT%H:00Z}" if kept else "none"
