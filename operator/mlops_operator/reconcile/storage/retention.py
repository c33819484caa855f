"""Retention: which hour partitions of a deployment's records go, and whether a monitor's
window reaches past what is kept. Pure: the partitions and the clock come in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ...api.conditions import FALSE, TRUE, WINDOW_RETAINED
from ...artifacts import paths
from ...artifacts.paths import HOUR
from ..conditions import Cond
from ..reasons import WINDOW_BEYOND_RETENTION, WINDOW_WITHIN_RETENTION

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Effective retention of one deployment (None: no limit of that kind)."""

    max_age_hours: int | None
    max_size_mib: int | None


@dataclass(frozen=True)
class Partition:
    """One hour of a deployment's records: a partition directory (or one flat file)."""

    path: str  # relative to the store root
    hour: datetime  # the start of its hour
    bytes: int
    objects: int


def limits(deployment: dict[str, Any] | None, default: Limits) -> Limits:
    """spec.retention of a ModelDeployment, each unset field taken from `default`."""
    spec = ((deployment or {}).get("spec") or {}).get("retention") or {}
    age = spec.get("maxAgeHours")
    size = spec.get("maxSizeMib")
    return Limits(
        int(age) if age is not None else default.max_age_hours,
        int(size) if size is not None else default.max_size_mib,
    )


def expired(partitions: list[Partition], limit: Limits, now: datetime) -> list[Partition]:
    """The partitions to remove, oldest first: every hour that ended more than
    `max_age_hours` ago, then the oldest of the rest until the total fits `max_size_mib`.
    The hour being written (the one `now` is in) is never chosen."""
    ordered = sorted(partitions, key=lambda p: (p.hour, p.path))
    current = now.replace(minute=0, second=0, microsecond=0)
    chosen: list[Partition] = []
    kept: list[Partition] = []
    for part in ordered:
        too_old = limit.max_age_hours is not None and part.hour + HOUR <= now - timedelta(
            hours=limit.max_age_hours
        )
        (chosen if too_old and part.hour < current else kept).append(part)
    if limit.max_size_mib is not None:
        budget = limit.max_size_mib * MIB
        total = sum(p.bytes for p in kept)
        for part in kept:
            if total <= budget or part.hour >= current:
                break
            chosen.append(part)
            total -= part.bytes
    return chosen


def window_condition(
    window_seconds: int | None, limit: Limits | None, deployment: str | None
) -> Cond | None:
    """WindowRetained for a DriftMonitor of a deployment: False (WindowBeyondRetention)
    naming spec.window.durationSeconds when its window starts before the oldest samples
    kept; None when the monitor watches no deployment."""
    if deployment is None or limit is None:
        return None
    if window_seconds is None or limit.max_age_hours is None:
        return Cond(WINDOW_RETAINED, TRUE, WINDOW_WITHIN_RETENTION, "no age limit applies")
    if window_seconds > limit.max_age_hours * 3600:
        return Cond(
            WINDOW_RETAINED,
            FALSE,
            WINDOW_BEYOND_RETENTION,
            f"spec.window.durationSeconds ({window_seconds}) reaches past the retention of "
            f"ModelDeployment {deployment} (spec.retention.maxAgeHours or the operator "
            f"default: {limit.max_age_hours} h = {limit.max_age_hours * 3600} s): the "
            "window holds only the samples kept; shorten the window or raise the retention",
        )
    return Cond(
        WINDOW_RETAINED,
        TRUE,
        WINDOW_WITHIN_RETENTION,
        f"the window ({window_seconds} s) is within the retention ({limit.max_age_hours} h)",
    )


def record_partitions(files: list[Any], namespace: str, deployment: str) -> list[Partition]:
    """The hour partitions of one deployment's records (samples of every version, labels)
    among `files` (gc.FileRef: paths relative to the store root); a flat-layout file is a
    partition of its own."""
    samples, labels = f"samples/{namespace}/{deployment}/", f"labels/{namespace}/{deployment}/"
    found: dict[str, Partition] = {}
    for ref in files:
        path: str = ref.path
        if path.startswith(samples):
            version, _, rest = path[len(samples) :].partition("/")
            base = samples + version
        elif path.startswith(labels):
            base, rest = labels.rstrip("/"), path[len(labels) :]
        else:
            continue
        pieces = rest.split("/")
        if len(pieces) == 3 and (day := paths.day_of(pieces[0])) is not None:
            hour = paths.hour_in(day, pieces[1])
            unit = f"{base}/{pieces[0]}/{pieces[1]}"
        elif len(pieces) == 1 and (moment := paths.record_time(pieces[0])) is not None:
            hour, unit = paths.hour_of(moment), path
        else:
            continue
        if hour is None:
            continue
        old = found.get(unit)
        size, count = (old.bytes, old.objects) if old else (0, 0)
        found[unit] = Partition(unit, hour, size + int(ref.size), count + 1)
    return sorted(found.values(), key=lambda p: (p.hour, p.path))
