"""Dataset: run a profile Job per spec generation (and per refresh), record versions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..api.conditions import FALSE, READY, TRUE
from ..api.dataset import Dataset, DatasetVersion
from ..api.kinds import DATASET
from ..api.phases import Phase
from ..artifacts import paths
from ..config import OperatorConfig
from . import confinement, outage, pods, reasons
from .conditions import Cond, parse_time, rfc3339
from .dataset_parts import PartsWorld, partitioned, step
from .decision import Decision
from .jobs import MISSING, JobOutcome, JobSettings, job_manifest
from .names import child_name, short_sha
from .ownership import child_labels, owner_reference

HISTORY_LIMIT = 20
STORE_RETRY_SECONDS = outage.STORE_RETRY_SECONDS


def run_key(body: dict[str, Any]) -> tuple[int, int]:
    status = body.get("status") or {}
    return int(body["metadata"].get("generation") or 1), int(status.get("profileRun") or 0)


def profile_job_name(body: dict[str, Any]) -> str:
    generation, run = run_key(body)
    return child_name(body["metadata"]["name"], "profile", generation, run)


def result_uri(config: OperatorConfig, body: dict[str, Any]) -> str:
    meta = body["metadata"]
    path = paths.job_result(meta["namespace"], DATASET.plural, meta["name"], profile_job_name(body))
    return paths.under(config.store_uri, path)


def profile_job(body: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    meta = body["metadata"]
    owner, labels = owner_reference(body), child_labels(DATASET.kind, meta["name"])
    dataset = Dataset.model_validate({"spec": body["spec"]})
    args = [
        "profile",
        "--namespace", meta["namespace"],
        "--name", meta["name"],
        "--spec", dataset.spec.model_dump_json(by_alias=True, exclude_none=True),
        "--store", config.store_uri,
        "--result-uri", result_uri(config, body),
    ]  # fmt: skip
    settings = JobSettings(
        image=dataset.spec.image or config.image,
        args=args,
        backoff_limit=0,
        writes=pods.WRITES_PROFILE,
    )
    return job_manifest(profile_job_name(body), meta["namespace"], labels, owner, settings, config)


def next_refresh(body: dict[str, Any]) -> datetime | None:
    interval = (body.get("spec") or {}).get("refreshIntervalSeconds")
    last = parse_time((body.get("status") or {}).get("lastProfiledAt"))
    if not interval or last is None:
        return None
    return last + timedelta(seconds=int(interval))


def refresh_due(body: dict[str, Any], now: datetime) -> bool:
    due = next_refresh(body)
    return due is not None and now >= due


def run_completed(body: dict[str, Any]) -> bool:
    """The current run's outcome is recorded: its Job and result file need no more reading."""
    generation, run = run_key(body)
    return (body.get("status") or {}).get("completedRun") == f"{generation}/{run}"


def decide(
    body: dict[str, Any],
    outcome: JobOutcome,
    result: dict[str, Any] | None,
    now: datetime,
    config: OperatorConfig,
    parts: PartsWorld | None = None,
) -> Decision:
    """`outcome` is the current run's profile Job; `result` is its result file once finished.
    A partitioned Dataset (`spec.partitions`) runs its Indexed Job and merge Job instead
    (reconcile/dataset_parts.py, observed as `parts`); its finished run is recorded alike."""
    refusal = confinement.dataset_refusal(
        body.get("spec") or {}, body["metadata"]["namespace"], confinement.rules_of(config)
    )
    if refusal is not None:
        return confinement.refused(body, refusal, phase=Phase.INVALID, failureReason=refusal.reason)
    status = body.get("status") or {}
    generation, run = run_key(body)
    key = f"{generation}/{run}"
    has_version = bool(status.get("version"))
    decision = Decision()
    if partitioned(body) and not run_completed(body):
        progress = step(body, parts or PartsWorld(), config)
        if not progress.finished:
            return progress.decision
        decision, outcome, result = progress.decision, progress.outcome, progress.result

    if run_completed(body):
        if refresh_due(body, now):
            decision.status["profileRun"] = run + 1
        else:
            due = next_refresh(body)
            if due is not None:
                decision.look_again_in((due - now).total_seconds())
        decision.done = not decision.status
        return decision

    if not partitioned(body):
        decision.status["jobName"] = profile_job_name(body)
    if outcome.state == MISSING:
        job = profile_job(body, config)
        decision.create.append(job)
        decision.status["phase"] = Phase.PROFILING if not has_version else status.get("phase")
        if not has_version:
            decision.conditions.append(Cond(READY, FALSE, reasons.PROFILING, "profile Job created"))
        decision.note(reasons.JOB_CREATED, f"profile Job {job['metadata']['name']} created")
        return decision
    if outcome.state in (MISSING, Phase.PENDING, Phase.RUNNING):
        if not has_version:
            decision.status["phase"] = Phase.PROFILING
            decision.conditions.append(
                Cond(READY, FALSE, reasons.PROFILING, f"profile Job is {outcome.state.lower()}")
            )
        return decision

    down = outage.unread(result)
    if down is not None:  # the Job finished, its result cannot be read yet: the run stays open
        if not has_version:
            decision.status["phase"] = Phase.PROFILING
        return outage.hold(decision, status, down)
    decision.status["completedRun"] = key
    decision.status["lastProfiledAt"] = rfc3339(now)
    interval = (body.get("spec") or {}).get("refreshIntervalSeconds")
    if interval:
        decision.look_again_in(int(interval))
    if outcome.state == Phase.SUCCEEDED and result and result.get("ok"):
        _record_result(decision, status, result, now)
    else:
        reason = (result or {}).get("reason") or (
            reasons.RESULT_MISSING if outcome.state == Phase.SUCCEEDED else reasons.PROFILE_FAILED
        )
        message = (result or {}).get("error") or outcome.message or outcome.reason
        if not result and outcome.state == Phase.SUCCEEDED:  # the pod's "Completed" says nothing
            message = "profile Job succeeded but left no readable result in the store"
        decision.status.update(phase=Phase.FAILED, failureReason=reason)
        decision.conditions.append(Cond(READY, FALSE, reason, message))
        decision.warn(reason, message)
    return decision


def _record_result(
    decision: Decision, status: dict[str, Any], result: dict[str, Any], now: datetime
) -> None:
    rules = result.get("validation") or []
    decision.status["validation"] = rules
    if not result.get("passed", False):
        failed = result.get("failed") or [r["name"] for r in rules if not r.get("passed")]
        message = "validation failed: " + ", ".join(failed)
        decision.status.update(phase=Phase.INVALID, failureReason=reasons.VALIDATION_FAILED)
        decision.conditions.append(Cond(READY, FALSE, reasons.VALIDATION_FAILED, message))
        decision.warn(reasons.VALIDATION_FAILED, message)
        return
    version = result["version"]
    history = list(status.get("history") or [])
    if not any(entry.get("version") == version for entry in history):
        entry = DatasetVersion(
            version=version,
            rows=int(result["rows"]),
            created_at=rfc3339(now),
            snapshot_uri=result["snapshotUri"],
            profile_uri=result["profileUri"],
        ).wire()
        history = [entry, *history][:HISTORY_LIMIT]
        decision.note(reasons.PROFILED, f"version {short_sha(version)} with {result['rows']} rows")
    decision.status.update(
        phase=Phase.READY,
        version=version,
        rows=int(result["rows"]),
        columns=int(result["columns"]),
        snapshotUri=result["snapshotUri"],
        profileUri=result["profileUri"],
        sources=result.get("sources") or [],
        history=history,
        failureReason=None,
    )
    decision.conditions.append(
        Cond(READY, TRUE, reasons.PROFILED, f"version {short_sha(version)}, {result['rows']} rows")
    )
    decision.done = True


def version_entry(body: dict[str, Any], wanted: str | None) -> dict[str, Any] | None:
    """The history entry for a pinned version (full sha or unique prefix), or the current one."""
    status = body.get("status") or {}
    history = status.get("history") or []
    if wanted is None:
        current = status.get("version")
        return next((h for h in history if h.get("version") == current), None)
    matches = [h for h in history if str(h.get("version", "")).startswith(wanted)]
    return matches[0] if len(matches) == 1 else None
