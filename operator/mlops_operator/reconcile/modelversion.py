"""ModelVersion: verify the artifact once per generation, and again now and then."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..api.conditions import FALSE, READY, TRUE
from ..api.phases import Phase
from ..config import OperatorConfig
from . import confinement, reasons
from .conditions import Cond, parse_time, rfc3339
from .decision import Decision
from .names import short_sha

REVERIFY_AFTER = timedelta(minutes=30)
STORE_RETRY_AFTER = timedelta(seconds=30)  # an unreachable store: verify again this soon


def needs_verification(body: dict[str, Any], now: datetime) -> bool:
    return next_verification_in(body, now) <= 0


def next_verification_in(body: dict[str, Any], now: datetime) -> float:
    """Seconds until the artifact is due to be verified again (0: now)."""
    status = body.get("status") or {}
    generation = body["metadata"].get("generation") or 1
    if status.get("observedGeneration") != generation:
        return 0.0
    verified_at = parse_time(status.get("verifiedAt"))
    if verified_at is None:
        return 0.0
    return max(0.0, (verified_at + REVERIFY_AFTER - now).total_seconds())


def needs_load_check(body: dict[str, Any]) -> bool:
    """A new generation, or one not verified Ready yet, is loaded with its runtime; after that
    the sha256 alone shows the bytes are still the ones that loaded."""
    status = body.get("status") or {}
    generation = body["metadata"].get("generation") or 1
    return status.get("observedGeneration") != generation or status.get("phase") != Phase.READY


def refusal_of(body: dict[str, Any], config: OperatorConfig) -> confinement.Refusal | None:
    """A store URI of the spec outside the namespace's part of the store: then the artifact is
    not read at all (the handler skips verifying it)."""
    namespace = body["metadata"]["namespace"]
    return confinement.model_version_refusal(
        body.get("spec") or {}, namespace, confinement.rules_of(config)
    )


def decide(
    body: dict[str, Any],
    failure: tuple[str, str] | None,
    now: datetime,
    refusal: confinement.Refusal | None = None,
) -> Decision:
    """`failure` is (reason, message) from verifying the artifact, or None when it passed.
    The reason is the artifacts package's (reasons.ARTIFACT_MISSING, CHECKSUM_MISMATCH,
    LOAD_FAILED) and goes into the condition as it is. `refusal` (refusal_of): the spec names
    another namespace's part of the store, or a path not allowed; the version is Invalid."""
    if refusal is not None:
        return confinement.refused(body, refusal, phase=Phase.INVALID, verifiedSha256=None)
    spec = body["spec"]
    previous = (body.get("status") or {}).get("phase")
    if failure is not None and failure[0] == reasons.STORE_UNAVAILABLE:
        return _store_unavailable(body, failure[1])
    decision = Decision(done=True)
    decision.status["verifiedAt"] = rfc3339(now)
    decision.look_again_in(REVERIFY_AFTER.total_seconds())
    if failure is None:
        decision.status.update(phase=Phase.READY, verifiedSha256=spec["artifact"]["sha256"])
        artifact = spec["artifact"]
        message = f"{artifact['format']} artifact verified (sha256 {short_sha(artifact['sha256'])})"
        decision.conditions.append(Cond(READY, TRUE, reasons.VERIFIED, message))
        if previous != Phase.READY:
            decision.note(reasons.VERIFIED, f"{spec['model']} v{spec['version']} verified")
        return decision
    reason, message = failure
    decision.status.update(phase=Phase.INVALID, verifiedSha256=None)
    decision.conditions.append(Cond(READY, FALSE, reason, message))
    if previous != Phase.INVALID:
        decision.warn(reason, message)
    return decision


def _store_unavailable(body: dict[str, Any], message: str) -> Decision:
    """The store could not be reached: nothing is known about the artifact, so the version is
    not Invalid and verifiedAt stays as it was (still due); it is verified again soon, and one
    Warning is posted per outage, not one per attempt."""
    status = body.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == READY), {}
    )
    decision = Decision(done=False)
    decision.status.update(phase=status.get("phase") or Phase.PENDING)
    decision.conditions.append(Cond(READY, FALSE, reasons.STORE_UNAVAILABLE, message))
    if ready.get("reason") != reasons.STORE_UNAVAILABLE:
        decision.warn(reasons.STORE_UNAVAILABLE, message)
    decision.look_again_in(STORE_RETRY_AFTER.total_seconds())
    return decision
