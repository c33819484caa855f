"""A finished Job's result the operator could not read because the store cannot be reached
(StoreUnavailable: the endpoint refuses or drops the connection).

Nothing is known to be wrong with the run, so it is not recorded as failed: the object stays
open with Ready=False StoreUnavailable naming the URI and the endpoint, warns once per outage
(not once per attempt), and the result is read again after STORE_RETRY_SECONDS. A store
coming back sends no event, so time is the trigger here. Used by the Dataset, TrainingJob
(and its search trials) and BatchPrediction decisions, and by a ModelDeployment's
champion/challenger comparison (rollout/challenge.py: the challenger is not lost, the champion
serves on).

The result reader (handlers/results.py) marks such a read with UNREAD; a result the pod itself
wrote with reason StoreUnavailable (the store failed it while it ran) is the Job's outcome and
is not retried.
"""

from __future__ import annotations

from typing import Any

from ..api.conditions import FALSE, READY
from . import reasons
from .conditions import Cond
from .decision import Decision

STORE_RETRY_SECONDS = 30.0  # a result the store could not be asked for: read it again this soon
UNREAD = "unread"  # the key the result reader sets on a read the store could not answer


def unread_result(message: str) -> dict[str, Any]:
    """What the result reader returns for a result the store could not be asked for."""
    return {"ok": False, "reason": reasons.STORE_UNAVAILABLE, "error": message, UNREAD: True}


def unread(result: dict[str, Any] | None) -> str | None:
    """The message (naming the URI and endpoint) when `result` is a read the store could not
    answer; None for a result that was read, or none at all."""
    if result and result.get(UNREAD) and result.get("reason") == reasons.STORE_UNAVAILABLE:
        return str(result.get("error") or "the store cannot be reached")
    return None


def ready_reason(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == READY:
            return str(condition.get("reason"))
    return None


def hold(decision: Decision, status: dict[str, Any], message: str) -> Decision:
    """Keep the run open: Ready=False StoreUnavailable, one Warning per outage (none while the
    object already says StoreUnavailable), read again soon. Nothing is marked done."""
    decision.conditions.append(Cond(READY, FALSE, reasons.STORE_UNAVAILABLE, message))
    if ready_reason(status) != reasons.STORE_UNAVAILABLE:
        decision.warn(reasons.STORE_UNAVAILABLE, message)
    decision.look_again_in(STORE_RETRY_SECONDS)
    decision.done = False
    return decision
