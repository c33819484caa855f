"""Retraining on drift or degraded performance: the cooldown, the cap, the TrainingJob (and
the Dataset with production rows) to create, failed retrains.

Level-triggered: the count and the time of the last retrain come from both the status and
the TrainingJobs this monitor owns (deterministic names `<monitor>-retrain-<n>`), so a
restart between creating a TrainingJob and writing the status never makes a second one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ... import API_VERSION
from ...api.conditions import DRIFTED, FALSE, PERFORMANCE_DEGRADED, READY
from ...api.driftmonitor import FAILED_RETRAINS_LIMIT, DriftMonitorSpec, RetrainRecord, Trigger
from ...api.kinds import DRIFT_MONITOR, TRAINING_JOB
from ...api.phases import FINISHED, Phase
from ...artifacts import paths
from ...performance.plan import WindowTarget
from .. import reasons
from ..conditions import Cond, clip, is_true, parse_time, rfc3339
from ..decision import Decision
from ..names import child_name
from ..ownership import child_labels, owner_reference
from .observed import Observed, spec_of
from .retrain_data import retrain_dataset_manifest, triggers, window_annotation, window_name
from .verdict import not_ready

# The condition each trigger sets.
TRIGGER_CONDITIONS: dict[str, str] = {"drift": DRIFTED, "performance": PERFORMANCE_DEGRADED}

D = TypeVar("D", bound=Decision)


@dataclass(frozen=True)
class Hold:
    """Why no retrain now; `until`: when the cooldown ends (None: no time will lift it)."""

    message: str
    until: datetime | None = None


def retrain_name(monitor: str, n: int) -> str:
    return child_name(monitor, f"retrain-{n}")


def retrains_so_far(body: dict[str, Any], retrains: list[dict[str, Any]]) -> int:
    status = body.get("status") or {}
    return max(int(status.get("retrainsTriggered") or 0), len(retrains))


def last_retrain_at(body: dict[str, Any], retrains: list[dict[str, Any]]) -> datetime | None:
    record = (body.get("status") or {}).get("lastRetrain") or {}
    moments = [parse_time(record.get("at"))]
    moments += [parse_time((tj.get("metadata") or {}).get("creationTimestamp")) for tj in retrains]
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def retrain_spec(
    spec: DriftMonitorSpec, source_job: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The TrainingJob spec to run: the template, else a copy of the one behind the served
    version; the Dataset version is unpinned so it trains on the newest one."""
    if spec.action.training_job_template is not None:
        chosen = spec.action.training_job_template.wire()
    elif source_job is not None:
        chosen = copy.deepcopy(dict(source_job.get("spec") or {}))
    else:
        return None
    chosen["datasetRef"] = {"name": chosen["datasetRef"]["name"]}
    return chosen


def retrain_manifest(
    body: dict[str, Any], n: int, spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """The n-th retrain TrainingJob, owned by and labelled with the monitor."""
    meta = body["metadata"]
    metadata: dict[str, Any] = {
        "name": retrain_name(meta["name"], n),
        "namespace": meta["namespace"],
        "labels": child_labels(DRIFT_MONITOR.kind, meta["name"]),
        "ownerReferences": [owner_reference(body)],
    }
    if annotations:
        metadata["annotations"] = annotations
    kind = TRAINING_JOB.kind
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def retrain_held(
    spec: DriftMonitorSpec,
    retrains: list[dict[str, Any]],
    done: int,
    last: datetime | None,
    now: datetime,
) -> Hold | None:
    """Why a retrain must wait: the cap, one still running, or the cooldown."""
    if done >= spec.action.max_retrains:
        return Hold(f"maxRetrains ({spec.action.max_retrains}) reached")
    running = [
        tj["metadata"]["name"]
        for tj in retrains
        if (tj.get("status") or {}).get("phase") not in FINISHED
    ]
    if running:
        return Hold(f"TrainingJob {running[0]} is still running")
    if last is not None and now - last < timedelta(seconds=spec.action.cooldown_seconds):
        until = last + timedelta(seconds=spec.action.cooldown_seconds)
        return Hold(f"cooling down until {rfc3339(until)}", until)
    return None


def held_by_cooldown_until(body: dict[str, Any], retrains: list[dict[str, Any]]) -> datetime | None:
    """When the last check found a trigger (drift, degraded performance) after an earlier
    retrain and below the cap, the end of that retrain's cooldown, if the check came before
    it: then a retrain may follow."""
    spec = spec_of(body)
    status = body.get("status") or {}
    conditions = status.get("conditions")
    found = any(is_true(conditions, TRIGGER_CONDITIONS[t]) for t in triggers(spec))
    if spec.action.type != "retrain" or not found:
        return None
    if retrains_so_far(body, retrains) >= spec.action.max_retrains:
        return None
    last_retrain = last_retrain_at(body, retrains)
    last_check = parse_time(status.get("lastCheckTime"))
    if last_retrain is None or last_check is None or last_retrain >= last_check:
        return None  # no retrain yet, or the last check made the last one
    until = last_retrain + timedelta(seconds=spec.action.cooldown_seconds)
    return until if last_check < until else None


def retrain_trigger(
    spec: DriftMonitorSpec, observed: Observed, degraded: bool | None
) -> Trigger | None:
    """What this check found that starts a retrain, if anything: degraded performance first."""
    wanted = triggers(spec)
    if "performance" in wanted and degraded:
        return "performance"
    check = observed.check
    report = check.outcome.report if check is not None else None
    if "drift" in wanted and report is not None and report.dataset_drifted:
        return "drift"
    return None


def window_target(
    body: dict[str, Any], observed: Observed, store_root: str, now: datetime
) -> WindowTarget | None:
    """Where the check writes the window's labeled production rows: only when a retrain
    with production data could follow it (not capped, running or cooling down)."""
    spec = spec_of(body)
    if (
        spec.action.type != "retrain"
        or spec.action.production_data == "none"
        or spec.performance is None
        or observed.model_version is None
    ):
        return None
    done = retrains_so_far(body, observed.retrains)
    last = last_retrain_at(body, observed.retrains)
    if retrain_held(spec, observed.retrains, done, last, now) is not None:
        return None
    chosen = retrain_spec(spec, observed.source_job)
    inputs = ((observed.model_version.get("spec") or {}).get("signature") or {}).get("inputs")
    if chosen is None or not chosen.get("target") or not inputs:
        return None
    meta = body["metadata"]
    try:
        directory = paths.production_window(meta["namespace"], meta["name"], window_name(now))
    except ValueError:
        return None
    return WindowTarget(
        uri=paths.under(store_root, directory),
        features=tuple(str(t["name"]) for t in inputs),
        target=str(chosen["target"]),
    )


def decide_retrain(
    body: dict[str, Any],
    decision: Decision,
    observed: Observed,
    now: datetime,
    degraded: bool | None = None,
) -> None:
    """After a check that found a trigger (dataset drift, degraded performance), with action
    retrain: one TrainingJob — on a Dataset with the window's labeled production rows when
    there are some — unless capped, cooling down (look again when it ends) or one still runs."""
    spec = spec_of(body)
    if spec.action.type != "retrain":
        return
    trigger = retrain_trigger(spec, observed, degraded)
    if trigger is None:
        return
    condition = TRIGGER_CONDITIONS[trigger]
    done = retrains_so_far(body, observed.retrains)
    last = last_retrain_at(body, observed.retrains)
    held = retrain_held(spec, observed.retrains, done, last, now)
    if held:
        _append_to(decision, condition, f"; no retrain: {held.message}")
        if held.until is not None:
            decision.look_again_in((held.until - now).total_seconds())
        return
    chosen = retrain_spec(spec, observed.source_job)
    if chosen is None:
        message = (
            f"{trigger} calls for a retrain but there is nothing to retrain: the served "
            "ModelVersion names no TrainingJob that still exists; set "
            "spec.action.trainingJobTemplate"
        )
        not_ready(body, decision, reasons.RETRAIN_SOURCE_NOT_FOUND, message)
        return
    n = done + 1
    name = retrain_name(body["metadata"]["name"], n)
    performance = observed.performance
    window = performance.outcome.window if performance is not None else None
    mode = spec.action.production_data
    annotations: dict[str, str] = {}
    dataset_name: str | None = None
    if mode != "none" and window is not None and window.train_rows > 0:
        if observed.retrain_dataset is None and mode == "append":
            message = (
                f"Dataset {chosen['datasetRef']['name']} (the retrain's data) not found; "
                "the production rows cannot be appended to it"
            )
            not_ready(body, decision, reasons.RETRAIN_SOURCE_NOT_FOUND, message)
            return
        decision.create.append(
            retrain_dataset_manifest(body, name, observed.retrain_dataset or {}, window, mode)
        )
        dataset_name = name
        chosen["datasetRef"] = {"name": name}
        annotations = window_annotation(body["metadata"]["name"], window, now)
    elif mode == "replace":
        message = "no labeled production rows in the window to train on (productionData replace)"
        _append_to(decision, condition, f"; no retrain: {message}")
        decision.note(reasons.NO_PRODUCTION_DATA, message)
        return
    decision.create.append(retrain_manifest(body, n, chosen, annotations))
    decision.status.update(
        retrainsTriggered=n,
        lastRetrain=RetrainRecord(
            training_job=name, at=rfc3339(now), dataset=dataset_name, trigger=trigger
        ).wire(),
    )
    data = (
        f" on Dataset {name} ({window.train_rows} labeled production rows, {mode})"
        if dataset_name and window
        else ""
    )
    _append_to(decision, condition, f"; retraining with TrainingJob {name}{data}")
    decision.note(
        reasons.RETRAIN_TRIGGERED,
        f"TrainingJob {name} created{data} on {trigger} "
        f"(retrain {n} of {spec.action.max_retrains})",
    )


def _append_to(decision: Decision, condition: str, text: str) -> None:
    decision.conditions = [
        Cond(c.type, c.status, c.reason, clip(c.message + text)) if c.type == condition else c
        for c in decision.conditions
    ]


def new_retrain_failures(body: dict[str, Any], retrains: list[dict[str, Any]]) -> list[str]:
    """Retrain TrainingJobs that ended Failed since the status last recorded them."""
    seen = set((body.get("status") or {}).get("failedRetrains") or [])
    return sorted(
        tj["metadata"]["name"]
        for tj in retrains
        if (tj.get("status") or {}).get("phase") == Phase.FAILED
        and tj["metadata"]["name"] not in seen
    )


def decide_retrain_failures(
    body: dict[str, Any], decision: Decision, retrains: list[dict[str, Any]]
) -> list[str]:
    """Record newly failed retrains in the status (with a Warning); returns their names."""
    failed = new_retrain_failures(body, retrains)
    if failed:
        seen = list((body.get("status") or {}).get("failedRetrains") or [])
        decision.status["failedRetrains"] = (seen + failed)[-FAILED_RETRAINS_LIMIT:]
        for name in failed:
            decision.warn(reasons.RETRAIN_FAILED, f"retrain TrainingJob {name} failed")
    return failed


def retrain_rejected(decision: D, message: str) -> D:
    """The API server refused the retrain TrainingJob in `decision.create`: nothing was
    created, say why. The same decision otherwise, with nothing left to create."""
    names = [f"{m['kind']} {m['metadata']['name']}" for m in decision.create]
    text = clip(f"retrain {', '.join(names)} was refused: {message}")
    status = {
        k: v for k, v in decision.status.items() if k not in ("retrainsTriggered", "lastRetrain")
    }
    conditions = [c for c in decision.conditions if c.type != READY]
    conditions.append(Cond(READY, FALSE, reasons.RETRAIN_FAILED, text))
    events = [e for e in decision.events if e.reason != reasons.RETRAIN_TRIGGERED]
    rejected = replace(decision, status=status, conditions=conditions, events=events, create=[])
    rejected.warn(reasons.RETRAIN_FAILED, text)
    return rejected
