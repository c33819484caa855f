"""Indexed Jobs: one pod per partition index (BatchPrediction, a partitioned Dataset profile).

The Job controller retries a failed index on its own (`backoffLimitPerIndex`) without touching
the indexes that succeeded, and reports them as interval lists (`completedIndexes: "0-2,5"`,
`failedIndexes`).
"""

from __future__ import annotations

from typing import Any

from ..config import OperatorConfig
from . import reasons
from .decision import Decision
from .jobs import JobSettings, job_manifest


def indexed_job_manifest(
    name: str,
    namespace: str,
    labels: dict[str, str],
    owner: dict[str, Any],
    settings: JobSettings,
    config: OperatorConfig,
    *,
    completions: int,
    parallelism: int | None = None,
    backoff_limit_per_index: int = 1,
) -> dict[str, Any]:
    """A Job of `completions` indexes; each pod finds its index in $JOB_COMPLETION_INDEX."""
    manifest = job_manifest(name, namespace, labels, owner, settings, config)
    spec = manifest["spec"]
    # With a per-index limit the Job-wide backoffLimit only caps the total; leave it unset.
    spec.pop("backoffLimit", None)
    spec.update(
        completionMode="Indexed",
        completions=completions,
        parallelism=min(parallelism or completions, completions),
        backoffLimitPerIndex=backoff_limit_per_index,
    )
    return manifest


def parse_indexes(text: str | None) -> set[int]:
    """`"0-2,5"` -> {0, 1, 2, 5}; empty or None -> set()."""
    found: set[int] = set()
    for raw in (text or "").split(","):
        part = raw.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def index_counts(job: dict[str, Any] | None) -> tuple[int, int, int]:
    """(indexes completed, indexes failed for good, pod failures) of an Indexed Job.

    A failed pod is first listed in `uncountedTerminatedPods` and only later added to `failed`
    (the Job controller's two-step tracking): both are counted.
    """
    status = (job or {}).get("status") or {}
    uncounted = (status.get("uncountedTerminatedPods") or {}).get("failed") or []
    return (
        len(parse_indexes(status.get("completedIndexes"))),
        len(parse_indexes(status.get("failedIndexes"))),
        int(status.get("failed") or 0) + len(uncounted),
    )


def note_retries(decision: Decision, body: dict[str, Any], job: dict[str, Any] | None) -> None:
    """Failed partition attempts in status, and a Warning when there are new ones (a
    BatchPrediction's or a partitioned Dataset's Indexed Job)."""
    _, _, pod_failures = index_counts(job)
    if pod_failures == int((body.get("status") or {}).get("podFailures") or 0):
        return
    decision.status["podFailures"] = pod_failures
    retries = (body.get("spec") or {}).get("backoffLimitPerIndex", 2)
    decision.warn(
        reasons.PARTITION_RETRIED,
        f"{pod_failures} failed partition attempt(s) so far; a failed partition is retried "
        f"alone (up to {retries} time(s)), the others are kept",
    )
