"""ModelVersion: verify the artifact once per generation, and again now and then."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import reasons
from .conditions import Cond, parse_time, rfc3339
from .decision import Decision

REVERIFY_AFTER = timedelta(minutes=30)

# Verification errors, by the reason the artifacts package reports.
FAILURE_REASONS = {
    "ArtifactMissing": reasons.ARTIFACT_MISSING,
    "ChecksumMismatch": reasons.CHECKSUM_MISMATCH,
    "LoadFailed": reasons.LOAD_FAILED,
}


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
    return status.get("observedGeneration") != generation or status.get("phase") != "Ready"


def decide(body: dict[str, Any], failure: tuple[str, str] | None, now: datetime) -> Decision:
    """`failure` is (reason, message) from verifying the artifact, or None when it passed."""
    spec = body["spec"]
    previous = (body.get("status") or {}).get("phase")
    decision = Decision(done=True)
    decision.status["verifiedAt"] = rfc3339(now)
    decision.look_again_in(REVERIFY_AFTER.total_seconds())
    if failure is None:
        decision.status.update(phase="Ready", verifiedSha256=spec["artifact"]["sha256"])
        artifact = spec["artifact"]
        message = f"{artifact['format']} artifact verified (sha256 {artifact['sha256'][:12]})"
        decision.conditions.append(Cond("Ready", "True", reasons.VERIFIED, message))
        if previous != "Ready":
            decision.note(reasons.VERIFIED, f"{spec['model']} v{spec['version']} verified")
        return decision
    reason, message = failure
    reason = FAILURE_REASONS.get(reason, reason)
    decision.status.update(phase="Invalid", verifiedSha256=None)
    decision.conditions.append(Cond("Ready", "False", reason, message))
    if previous != "Invalid":
        decision.warn(reason, message)
    return decision
