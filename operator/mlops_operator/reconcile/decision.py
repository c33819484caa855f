"""What a pure reconcile returns: status to write, children to create, Events to post."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .conditions import Cond


@dataclass(frozen=True)
class EventNote:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ObjectKey:
    """A child to delete: apiVersion, kind and name in the parent's namespace."""

    api_version: str
    kind: str
    name: str


@dataclass
class Decision:
    status: dict[str, Any] = field(default_factory=dict)
    conditions: list[Cond] = field(default_factory=list)
    create: list[dict[str, Any]] = field(default_factory=list)
    apply: list[dict[str, Any]] = field(default_factory=list)  # server-side applied each time
    delete: list[ObjectKey] = field(default_factory=list)
    events: list[EventNote] = field(default_factory=list)
    done: bool = False  # nothing more will happen until the spec or the world changes
    # When time itself is the next trigger (a pause, a deadline, an interval): look again in
    # this many seconds. None: only a change of the object or of a child wakes it.
    requeue_after: float | None = None

    def look_again_in(self, seconds: float) -> None:
        """Keep the earliest of several wake-ups."""
        seconds = max(0.0, float(seconds))
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds

    def warn(self, reason: str, message: str) -> None:
        self.events.append(EventNote("Warning", reason, message))

    def note(self, reason: str, message: str) -> None:
        self.events.append(EventNote("Normal", reason, message))
