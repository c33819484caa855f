"""Trials of a search: their deterministic names, what the cluster and the store say about
each, which to start next, and the best and top ones.

A trial is recovered from two places that outlive the operator: its Job (labels: the trial
number and generation; annotation: its parameters) and its result file in the store (at a
path derived from the trial's name). Nothing about a trial lives only in operator memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ... import GROUP
from ...api.kinds import TRAINING_JOB, kind_label
from ...api.phases import Phase
from ...api.search import FINISHED_TRIALS, Search
from ...artifacts import paths
from .. import outage
from ..jobs import MISSING, JobOutcome
from ..names import child_name
from ..reasons import STORE_UNAVAILABLE

TRIAL_LABEL = f"{GROUP}/trial"
GENERATION_LABEL = f"{GROUP}/generation"
TRIAL_PARAMS = f"{GROUP}/trial-params"


def generation(body: dict[str, Any]) -> int:
    return int(body["metadata"].get("generation") or 1)


def trial_job_name(body: dict[str, Any], number: int) -> str:
    return child_name(body["metadata"]["name"], f"trial{number}", generation(body))


def trial_uid(body: dict[str, Any], number: int) -> str:
    """Names the trial's run record (runs/<ns>/<trainingjob>/<uid>/result.json)."""
    return f"{body['metadata']['uid']}-g{generation(body)}-t{number}"


def trial_result_uri(store_uri: str, body: dict[str, Any], number: int) -> str:
    meta = body["metadata"]
    path = paths.job_result(
        meta["namespace"], TRAINING_JOB.plural, meta["name"], trial_job_name(body, number)
    )
    return paths.under(store_uri, path)


def report_uri(store_uri: str, body: dict[str, Any]) -> str:
    meta = body["metadata"]
    path = paths.job_result(
        meta["namespace"], TRAINING_JOB.plural, meta["name"], f"search-g{generation(body)}"
    )
    return paths.under(store_uri, path.removesuffix(".json") + ".html")


def trial_selector(body: dict[str, Any]) -> str:
    """The label selector of this generation's trial Jobs."""
    return (
        f"{kind_label(TRAINING_JOB.kind)}={body['metadata']['name']},"
        f"{GENERATION_LABEL}={generation(body)}"
    )


@dataclass(frozen=True)
class Trial:
    number: int
    job_name: str
    state: str  # api.search.TrialState
    params: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    value: float | None = None
    reason: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_TRIALS

    @property
    def accepted(self) -> bool:
        return bool(self.state == "Succeeded" and (self.result or {}).get("accepted"))


def job_number(job: dict[str, Any]) -> int | None:
    raw = ((job.get("metadata") or {}).get("labels") or {}).get(TRIAL_LABEL)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def job_params(job: dict[str, Any] | None) -> dict[str, Any] | None:
    raw = (((job or {}).get("metadata") or {}).get("annotations") or {}).get(TRIAL_PARAMS)
    try:
        params = json.loads(raw) if raw else None
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


def created_count(body: dict[str, Any], jobs: list[dict[str, Any]]) -> int:
    """Trials created so far: the status's count, or more when a Job says so (the operator
    may have stopped between creating a Job and writing the status)."""
    recorded = int(((body.get("status") or {}).get("search") or {}).get("created") or 0)
    numbers = [n for n in (job_number(j) for j in jobs) if n is not None]
    return max([recorded, *(n + 1 for n in numbers)])


def trial_state(
    number: int,
    job_name: str,
    job: dict[str, Any] | None,
    outcome: JobOutcome,
    result: dict[str, Any] | None,
    metric: str,
) -> Trial:
    """One trial from its Job (if still there) and its result file (if written)."""
    params = job_params(job)
    if outage.unread(result) is not None:  # not the trial's outcome: its result is read again
        return Trial(number, job_name, "Running", params, result, None, STORE_UNAVAILABLE)
    if result is not None and result.get("ok"):
        params = result.get("searchParams") or params
        value = (result.get("metrics") or {}).get(metric)
        state = "Pruned" if result.get("pruned") else "Succeeded"
        if state == "Succeeded" and value is None:
            return Trial(number, job_name, "Failed", params, result, None, "MetricMissing")
        if outcome.state in (Phase.PENDING, Phase.RUNNING):
            state = "Running"  # the pod wrote its result; the Job has not said so yet
        return Trial(number, job_name, state, params, result, value)
    if outcome.state == Phase.FAILED or (result is not None and not result.get("ok")):
        reason = (result or {}).get("reason") or outcome.reason or "TrainerError"
        return Trial(number, job_name, "Failed", params, result, None, reason)
    if outcome.state == MISSING:
        # Created (its number is below the count) but gone without a result: its Job was
        # deleted (TTL, by hand) before the pod reported. Lost, counted as failed.
        return Trial(number, job_name, "Failed", params, result, None, "JobGone")
    if outcome.state == Phase.SUCCEEDED:
        return Trial(number, job_name, "Running", params, None, None, "ResultPending")
    return Trial(number, job_name, "Running" if outcome.state == Phase.RUNNING else "Pending",
                 params)  # fmt: skip


@dataclass(frozen=True)
class Tally:
    budget: int
    created: int
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    pruned: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.pruned

    @property
    def done(self) -> bool:
        return self.created >= self.budget and self.finished >= self.created


def tally(trials: list[Trial], budget: int, created: int) -> Tally:
    count = {s: sum(1 for t in trials if t.state == s) for s in
             ("Succeeded", "Failed", "Pruned")}  # fmt: skip
    running = sum(1 for t in trials if not t.finished)
    return Tally(budget, created, running, count["Succeeded"], count["Failed"], count["Pruned"])


def wanted(search: Search, counts: Tally) -> list[int]:
    """The numbers of the trials to start now: free parallelism, within the budget."""
    free = search.parallelism - counts.running
    remaining = counts.budget - counts.created
    return list(range(counts.created, counts.created + max(0, min(free, remaining))))


def ranked(trials: list[Trial], direction: str) -> list[Trial]:
    """Succeeded trials, best first (ties: the earlier trial)."""
    done = [t for t in trials if t.state == "Succeeded" and t.value is not None]
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted(done, key=lambda t: (sign * float(t.value or 0.0), t.number))


def best_passing(trials: list[Trial], direction: str) -> Trial | None:
    """The best trial that passed acceptance."""
    return next((t for t in ranked(trials, direction) if t.accepted), None)


def history(trials: list[Trial], metric: str) -> list[dict[str, Any]]:
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        folds = ((t.result or {}).get("folds") or {}).get(metric) or []
        out.append({"number": t.number, "state": t.state, "params": t.params,
                    "value": t.value, "folds": folds})  # fmt: skip
    return out
