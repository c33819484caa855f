"""`python -m mlops_operator.training.study_cli`: a search's sampler and report, in a process
of its own (Optuna and the report stay out of the operator process).

Reads one JSON document on stdin (reconcile.search.decide.study_request): the space, the
algorithm and seed, every trial so far, the trial numbers to ask for and where to write the
report. Writes one JSON line: {"ok": true, "suggestions": {number: params}, "report": {"uri",
"trials"}} or {"ok": false, "error"}.

The study is rebuilt from the trials every time (Optuna's ask-and-tell on an in-memory study):
each created trial is added in number order (finished ones told their value, running ones as
running, so TPE's constant liar and the grid see them), then one ask per wanted number with a
sampler seeded by (seed, number): the same history gives the same parameters.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..api.search import SearchParameter
from ..reconcile.search.space import grid_values


def distribution(p: SearchParameter) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if p.type == "categorical":
        return CategoricalDistribution(list(p.values or []))
    if p.type == "int":
        return IntDistribution(int(p.min or 0), int(p.max or 0), log=p.log, step=int(p.step or 1))
    return FloatDistribution(float(p.min or 0), float(p.max or 0), log=p.log, step=p.step)


def sampler(algorithm: str, seed: int, number: int, space: list[SearchParameter]) -> Any:
    import optuna

    trial_seed = seed * 100_003 + number
    if algorithm == "grid":
        return optuna.samplers.GridSampler({p.name: grid_values(p) for p in space}, seed=seed)
    if algorithm == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    return optuna.samplers.TPESampler(
        seed=trial_seed, n_startup_trials=max(3, min(10, len(space) * 2)), constant_liar=True
    )


def _add(study: Any, entry: dict[str, Any], space: list[SearchParameter], grid: bool) -> None:
    from optuna.trial import TrialState, create_trial

    params = entry.get("params") or {}
    dists = {p.name: distribution(p) for p in space}
    usable = {k: v for k, v in params.items() if k in dists}
    try:
        for k, v in usable.items():
            dists[k]._contains(dists[k].to_internal_repr(v))
    except (ValueError, TypeError):
        usable = {}
    state = {
        "Succeeded": TrialState.COMPLETE,
        "Pruned": TrialState.PRUNED,
        "Failed": TrialState.FAIL,
    }.get(entry["state"], TrialState.RUNNING)
    if state == TrialState.COMPLETE and entry.get("value") is None:
        state = TrialState.FAIL
    folds = entry.get("folds") or []
    trial = create_trial(
        state=state,
        value=entry.get("value") if state == TrialState.COMPLETE else None,
        params=usable,
        distributions={k: dists[k] for k in usable},
        intermediate_values=dict(enumerate(folds)),
        system_attrs={"grid_id": entry["number"]} if grid else {},
    )
    study.add_trial(trial)


def ask(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = [SearchParameter.model_validate(p) for p in document["parameters"]]
    algorithm, seed = document["algorithm"], int(document["seed"])
    study = optuna.create_study(
        direction=document["direction"], sampler=sampler(algorithm, seed, 0, space)
    )
    grid = algorithm == "grid"
    for entry in sorted(document["trials"], key=lambda e: e["number"]):
        _add(study, entry, space, grid)
    out: dict[str, dict[str, Any]] = {}
    dists = {p.name: distribution(p) for p in space}
    for number in document["ask"]:
        if len(study.trials) != number:  # the numbers are contiguous after the history
            raise ValueError(f"asked for trial {number} with {len(study.trials)} trials known")
        study.sampler = sampler(algorithm, seed, number, space)
        trial = study.ask(dists)
        params = {k: _plain(v) for k, v in trial.params.items()}
        out[str(number)] = params
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
    return value


def main() -> int:
    try:
        document = json.loads(sys.stdin.read())
        answer: dict[str, Any] = {"ok": True, "suggestions": {}}
        if document.get("ask"):
            answer["suggestions"] = ask(document)
        if document.get("reportUri"):
            from .report import write_report

            answer["report"] = write_report(document)
    except Exception as err:
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
