"""A search's decision: start trials (one Job each) while the budget lasts, keep the status
(counts, best, top trials, report), and register the best passing trial when all are done."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...api.conditions import FALSE, READY
from ...api.phases import Phase
from ...api.search import Search
from ...api.trainingjob import TrainingJob
from .. import outage, reasons
from ..conditions import Cond
from ..decision import Decision
from . import trials as tr
from .space import budget

# When the study helper answered nothing for trials that should start: ask again this soon.
STUDY_RETRY_SECONDS = 10.0
# Builds one trial's Job: (number, its parameters, extra args) -> manifest.
JobBuilder = Callable[[int, dict[str, Any], list[str]], dict[str, Any]]
# Registers a result as a ModelVersion (or finishes once it is): (decision, result, lineage).
Register = Callable[[Decision, dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class SearchWorld:
    """What a search's reconcile observed."""

    trials: list[tr.Trial] = field(default_factory=list)
    created: int = 0
    # Parameters of the trials to start, from Optuna's ask (the study helper), by number.
    suggestions: dict[int, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] | None = None  # {"uri", "trials"}: the report now in the store


def objective_label(search: Search) -> str:
    return f"{search.objective.metric} ({search.objective.effective_direction()})"


def counts(body: dict[str, Any], world: SearchWorld) -> tr.Tally:
    search = _search(body)
    return tr.tally(world.trials, budget(search), world.created)


def best_job(body: dict[str, Any], world: SearchWorld) -> str | None:
    """The Job of the best trial that passed acceptance (whose pod's image digest the
    ModelVersion records), once every trial has finished."""
    if not counts(body, world).done:
        return None
    best = tr.best_passing(world.trials, _search(body).objective.effective_direction())
    return best.job_name if best else None


def to_start(body: dict[str, Any], world: SearchWorld) -> list[int]:
    """Trial numbers to start now (the handler asks the sampler for exactly these)."""
    return tr.wanted(_search(body), counts(body, world))


def report_due(body: dict[str, Any], world: SearchWorld) -> bool:
    """The report in the store is older than the finished trials."""
    finished = counts(body, world).finished
    reported = ((body.get("status") or {}).get("search") or {}).get("reportedTrials")
    return finished > 0 and reported != finished


def study_request(
    body: dict[str, Any], world: SearchWorld, ask: list[int], report: str | None
) -> dict[str, Any]:
    """What the study helper is told: the space, the sampler and every trial so far."""
    search = _search(body)
    metric = search.objective.metric
    return {
        "algorithm": search.algorithm,
        "seed": search.seed,
        "direction": search.objective.effective_direction(),
        "metric": metric,
        "parameters": [p.wire() for p in search.parameters],
        "trials": tr.history(world.trials, metric),
        "ask": ask,
        "reportUri": report,
        "title": f"{body['metadata']['namespace']}/{body['metadata']['name']}",
        "topTrials": search.top_trials,
    }


def pruning_args(search: Search, world: SearchWorld) -> list[str]:
    if search.pruning is None or search.pruning.type == "none":
        return []
    metric = search.objective.metric
    past = [((t.result or {}).get("folds") or {}).get(metric) or []
            for t in world.trials if t.state == "Succeeded"]  # fmt: skip
    document = {
        "metric": metric,
        "direction": search.objective.effective_direction(),
        "startupTrials": search.pruning.startup_trials,
        "warmupFolds": search.pruning.warmup_folds,
        "history": [f for f in past if f],
    }
    return ["--pruning-json", json.dumps(document, separators=(",", ":"))]


def summary(trial: tr.Trial) -> dict[str, Any]:
    result = trial.result or {}
    out: dict[str, Any] = {
        "number": trial.number,
        "jobName": trial.job_name,
        "state": trial.state,
        "params": trial.params or {},
    }
    if trial.value is not None:
        out["value"] = trial.value
    if result.get("metrics"):
        out["metrics"] = result["metrics"]
    if trial.finished and result:
        out["accepted"] = bool(result.get("accepted"))
    if result.get("fitSeconds") is not None:
        out["fitSeconds"] = result["fitSeconds"]
    return out


def search_status(body: dict[str, Any], world: SearchWorld, tally: tr.Tally) -> dict[str, Any]:
    search = _search(body)
    direction = search.objective.effective_direction()
    best = tr.best_passing(world.trials, direction)
    old = (body.get("status") or {}).get("search") or {}
    status: dict[str, Any] = {
        "algorithm": search.algorithm,
        "objective": objective_label(search),
        "budget": tally.budget,
        "created": tally.created,
        "running": tally.running,
        "succeeded": tally.succeeded,
        "failed": tally.failed,
        "pruned": tally.pruned,
        "progress": f"{tally.finished}/{tally.budget}",
        "topTrials": [summary(t) for t in tr.ranked(world.trials, direction)[: search.top_trials]],
        "reportUri": old.get("reportUri"),
        "reportedTrials": old.get("reportedTrials"),
    }
    if best is not None and best.value is not None:
        status["best"] = {
            "number": best.number,
            "value": best.value,
            "params": best.params or {},
            "metrics": (best.result or {}).get("metrics") or {},
        }
        status["bestValue"] = best.value
    if world.report:
        status["reportUri"] = world.report["uri"]
        status["reportedTrials"] = world.report["trials"]
    return status


def decide_search(
    body: dict[str, Any], world: SearchWorld, build_job: JobBuilder, register: Register
) -> Decision:
    search = _search(body)
    tally = counts(body, world)
    decision = Decision()
    status = search_status(body, world, tally)
    decision.status["search"] = status
    started = []
    wanted = to_start(body, world)
    for number in wanted:
        params = world.suggestions.get(number)
        if params is None:
            break  # asked in order: start none after a missing one (names stay contiguous)
        decision.create.append(build_job(number, params, pruning_args(search, world)))
        started.append(number)
    if wanted and not started:
        decision.look_again_in(STUDY_RETRY_SECONDS)  # the sampler gave nothing: try again
    if started:
        status["created"] = tally.created + len(started)
        status["running"] = tally.running + len(started)
        decision.note(
            reasons.TRIALS_STARTED,
            f"trial(s) {', '.join(map(str, started))} of {tally.budget} started",
        )
    if not tally.done:
        decision.status["phase"] = Phase.RUNNING
        down = next((m for m in (outage.unread(t.result) for t in world.trials) if m), None)
        if down is not None:  # a finished trial's result cannot be read yet
            return outage.hold(decision, body.get("status") or {}, down)
        best = status.get("best")
        best_text = f"; best {objective_label(search)} {best['value']:.4g} (trial " \
                    f"{best['number']})" if best else ""  # fmt: skip
        decision.conditions.append(
            Cond(READY, FALSE, reasons.SEARCHING,
                 f"{tally.finished}/{tally.budget} trials finished, {status['running']} "
                 f"running{best_text}")
        )  # fmt: skip
        return decision
    best_trial = tr.best_passing(world.trials, search.objective.effective_direction())
    if best_trial is None or best_trial.result is None:
        message = (
            f"none of {tally.budget} trials passed acceptance ({tally.succeeded} succeeded, "
            f"{tally.failed} failed, {tally.pruned} pruned)"
        )
        decision.status.update(phase=Phase.FAILED, failureReason=reasons.NO_TRIAL_PASSED,
                               failureMessage=message)  # fmt: skip
        decision.conditions.append(Cond(READY, FALSE, reasons.NO_TRIAL_PASSED, message))
        decision.warn(reasons.NO_TRIAL_PASSED, message)
        decision.done = True
        return decision
    decision.status["metrics"] = best_trial.result.get("metrics")
    decision.status["runUri"] = best_trial.result.get("resultUri")
    lineage = {
        "search": {
            "trial": best_trial.number,
            "trials": tally.budget,
            "algorithm": search.algorithm,
            "objective": objective_label(search),
            "value": best_trial.value,
            **({"reportUri": status["reportUri"]} if status.get("reportUri") else {}),
        },
        **({"runUri": best_trial.result["resultUri"]} if best_trial.result.get("resultUri")
           else {}),
    }  # fmt: skip
    register(decision, best_trial.result, lineage)
    if decision.done:
        decision.note(
            reasons.SEARCH_FINISHED,
            f"search finished: trial {best_trial.number} is the best "
            f"({objective_label(search)} {best_trial.value:.4g})",
        )
    return decision


def _search(body: dict[str, Any]) -> Search:
    search = TrainingJob.model_validate({"spec": body["spec"]}).spec.search
    assert search is not None
    return search
