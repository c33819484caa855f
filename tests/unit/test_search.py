"""The search's pure parts: the space and its validation, trial naming and recovery from Jobs
and result files, which trials start, the decision with its status and registration; and the
pod-side parts: Optuna's asks through the study helper, median pruning, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_operator.api.search import SearchParameter
from mlops_operator.api.trainingjob import TrainingJob
from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import trainingjob as tj
from mlops_operator.reconcile.jobs import MISSING, JobOutcome
from mlops_operator.reconcile.search import decide as sd
from mlops_operator.reconcile.search import jobs as search_jobs
from mlops_operator.reconcile.search import trials as tr
from mlops_operator.reconcile.search.space import budget, grid_values, space_errors
from mlops_operator.training import study_cli
from mlops_operator.training.estimators import validate_hyperparameters
from mlops_operator.training.pruning import FoldPruner, Pruned
from mlops_operator.training.report import render

SHA = "c" * 64
ENTRY = {"version": SHA, "snapshotUri": "file:///s/d.parquet", "profileUri": "file:///s/p.json"}
CONFIG = OperatorConfig(store_uri="file:///store")
PARAMS = [
    {"name": "max_depth", "type": "int", "min": 2, "max": 4},
    {"name": "learning_rate", "type": "float", "min": 0.01, "max": 0.3, "log": True},
    {"name": "grow_policy", "type": "categorical", "values": ["depthwise", "lossguide"]},
]


def body(
    search: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "xgb", "namespace": "ml", "uid": "uid-1", "generation": 2},
        "spec": {
            "datasetRef": {"name": "iris"}, "model": "iris", "estimator": "XGBClassifier",
            "target": "target", "split": {"method": "kfold", "folds": 3},
            "acceptance": [{"metric": "accuracy", "min": 0.8}],
            "search": {"algorithm": "tpe", "maxTrials": 6, "parallelism": 2,
                       "objective": {"metric": "accuracy"}, "parameters": PARAMS, **(search or {})},
            **spec,
        },
        "status": status or {},
    }  # fmt: skip


def spec_of(b: dict[str, Any]) -> Any:
    return TrainingJob.model_validate({"spec": b["spec"]}).spec


# --- the space ---------------------------------------------------------------------------


def test_a_valid_space_has_no_errors() -> None:
    assert space_errors(spec_of(body()), validate_hyperparameters) == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"parameters": [{"name": "max_dept", "type": "int", "min": 1, "max": 3}]},
            "spec.search.parameters[0] (max_dept): hyperparameter 'max_dept' is not a parameter of XGBClassifier; did you mean 'max_depth'?",
        ),
        (
            {"parameters": [{"name": "learning_rate", "type": "float", "min": 0.1, "max": 2.0}]},
            "spec.search.parameters[0] (learning_rate): The 'learning_rate' parameter of XGBClassifier must be in (0, 1]. Got 2.0",
        ),
        (
            {
                "parameters": [
                    {"name": "grow_policy", "type": "categorical", "values": ["depthwise", "wide"]}
                ]
            },
            "spec.search.parameters[0] (grow_policy): The 'grow_policy' parameter of XGBClassifier must be one of",
        ),
        (
            {"parameters": [{"name": "max_depth", "type": "int", "min": 1.5, "max": 3}]},
            "an int parameter needs whole min, max and step",
        ),
        (
            {"objective": {"metric": "rmse"}},
            "spec.search.objective.metric 'rmse' does not apply to XGBClassifier",
        ),
    ],
)
def test_bad_spaces_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    assert message in space_errors(spec_of(body(change)), validate_hyperparameters)


def test_a_searched_parameter_cannot_also_be_fixed() -> None:
    b = body(hyperparameters={"max_depth": 3})
    assert (
        "spec.search.parameters[0] (max_depth) is also fixed in spec.hyperparameters"
        in space_errors(spec_of(b), validate_hyperparameters)
    )


def test_an_invalid_space_fails_before_any_job() -> None:
    b = body({"parameters": [{"name": "max_dept", "type": "int", "min": 1, "max": 3}]})
    waiting, entry = tj.decide_before_job(
        b, {"metadata": {"name": "iris"}, "spec": {}, "status": {}}, validate_hyperparameters
    )
    assert entry is None and waiting is not None and waiting.done and not waiting.create
    assert (
        waiting.status["phase"] == "Failed"
        and waiting.status["failureReason"] == "InvalidSearchSpace"
    )
    assert "max_dept" in waiting.status["failureMessage"]


@pytest.mark.parametrize(
    ("param", "values"),
    [
        ({"name": "a", "type": "int", "min": 2, "max": 5}, [2, 3, 4, 5]),
        ({"name": "a", "type": "int", "min": 0, "max": 10, "step": 5}, [0, 5, 10]),
        ({"name": "a", "type": "float", "min": 0.0, "max": 1.0}, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (
            {"name": "a", "type": "float", "min": 0.001, "max": 10.0, "log": True},
            [0.001, 0.01, 0.1, 1.0, 10.0],
        ),
        ({"name": "a", "type": "float", "min": 0.1, "max": 0.5, "step": 0.2}, [0.1, 0.3, 0.5]),
        ({"name": "a", "type": "categorical", "values": ["x", 1, True]}, ["x", 1, True]),
    ],
)
def test_grid_values(param: dict[str, Any], values: list[Any]) -> None:
    assert grid_values(SearchParameter.model_validate(param)) == values


def test_a_grid_smaller_than_the_budget_is_the_budget() -> None:
    spec = spec_of(body({"algorithm": "grid", "maxTrials": 100}))
    assert spec.search is not None and budget(spec.search) == 3 * 5 * 2


# --- trials: names, recovery, what starts ------------------------------------------------


def trial_job(b: dict[str, Any], number: int, params: dict[str, Any]) -> dict[str, Any]:
    def train(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return tj.train_job(body, ENTRY, CONFIG, **kwargs)

    return search_jobs.trial_job(b, CONFIG.store_uri, number, params, [], train)


def test_trial_jobs_have_deterministic_names_labels_and_parameters() -> None:
    b = body()
    job = trial_job(b, 3, {"max_depth": 4})
    assert (
        job["metadata"]["name"]
        == tr.trial_job_name(b, 3)
        == trial_job(b, 3, {"max_depth": 2})["metadata"]["name"]
    )
    assert (
        job["metadata"]["name"].startswith("xgb-trial3-")
        and tr.trial_job_name(b, 4) != job["metadata"]["name"]
    )
    assert (
        tr.trial_job_name({**b, "metadata": {**b["metadata"], "generation": 3}}, 3)
        != job["metadata"]["name"]
    )
    labels = job["metadata"]["labels"]
    assert (
        labels["mlops.dev/trial"] == "3"
        and labels["mlops.dev/generation"] == "2"
        and labels["mlops.dev/trainingjob"] == "xgb"
    )
    assert json.loads(job["metadata"]["annotations"]["mlops.dev/trial-params"]) == {"max_depth": 4}
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    spec = json.loads(args[args.index("--spec") + 1])
    assert "search" not in spec and spec["hyperparameters"] == {"max_depth": 4}
    assert args[args.index("--uid") + 1] == "uid-1-g2-t3" and args[args.index("--trial") + 1] == "3"
    assert args[args.index("--result-uri") + 1] == tr.trial_result_uri(CONFIG.store_uri, b, 3)


def ok(value: float, pruned: bool = False, accepted: bool = True) -> dict[str, Any]:
    return {"ok": True, "metrics": {"accuracy": value}, "accepted": accepted, "pruned": pruned,
            "folds": {"accuracy": [value, value, value]}, "artifact": {"uri": "file:///m", "format": "onnx", "sha256": SHA},
            "signature": {"inputs": []}, "task": "classification", "dataset": {"name": "iris", "version": SHA},
            "resultUri": f"file:///runs/{value}.json"}  # fmt: skip


def test_a_trial_is_recovered_from_its_job_and_result() -> None:
    job = {
        "metadata": {
            "labels": {"mlops.dev/trial": "0"},
            "annotations": {"mlops.dev/trial-params": '{"max_depth": 3}'},
        }
    }
    done = tr.trial_state(0, "n", job, JobOutcome("Succeeded"), ok(0.9), "accuracy")
    assert (done.state, done.value, done.params, done.accepted) == (
        "Succeeded",
        0.9,
        {"max_depth": 3},
        True,
    )
    pruned = tr.trial_state(1, "n", job, JobOutcome("Succeeded"), ok(0.5, pruned=True), "accuracy")
    assert pruned.state == "Pruned" and pruned.finished and not pruned.accepted
    failed = tr.trial_state(2, "n", job, JobOutcome("Failed", "OOMKilled"), None, "accuracy")
    assert (failed.state, failed.reason) == ("Failed", "OOMKilled")
    running = tr.trial_state(3, "n", job, JobOutcome("Running"), None, "accuracy")
    assert running.state == "Running" and not running.finished
    # Its Job deleted (TTL) after the result was written: still a succeeded trial.
    gone = tr.trial_state(4, "n", None, JobOutcome(MISSING), ok(0.8), "accuracy")
    assert gone.state == "Succeeded" and gone.value == 0.8
    lost = tr.trial_state(5, "n", None, JobOutcome(MISSING), None, "accuracy")
    assert (lost.state, lost.reason) == ("Failed", "JobGone")


def test_created_count_comes_from_the_status_or_the_jobs() -> None:
    jobs = [{"metadata": {"labels": {"mlops.dev/trial": str(n)}}} for n in (0, 1, 4)]
    assert tr.created_count(body(), jobs) == 5  # a Job the status never heard of
    assert tr.created_count(body(status={"search": {"created": 7}}), jobs) == 7  # Jobs gone (TTL)


def world(
    *states: tuple[str, float | None], suggestions: dict[int, dict[str, Any]] | None = None
) -> sd.SearchWorld:
    found = []
    for n, (state, value) in enumerate(states):
        result = (
            ok(value or 0.0, pruned=state == "Pruned") if state in ("Succeeded", "Pruned") else None
        )
        found.append(
            tr.Trial(
                n, f"t{n}", state, {"max_depth": n}, result, value if state == "Succeeded" else None
            )
        )
    return sd.SearchWorld(found, len(states), suggestions or {})


def test_trials_start_up_to_the_parallelism_and_the_budget() -> None:
    assert sd.to_start(body(), world()) == [0, 1]
    assert sd.to_start(body(), world(("Running", None))) == [1]
    assert sd.to_start(body(), world(("Running", None), ("Running", None))) == []
    full = world(*[("Succeeded", 0.9)] * 5)
    assert sd.to_start(body(), full) == [5]
    assert sd.to_start(body(), world(*[("Succeeded", 0.9)] * 6)) == []


def build(b: dict[str, Any]) -> sd.JobBuilder:
    return lambda n, p, extra: {**trial_job(b, n, p), "extra": extra}


def test_the_decision_starts_suggested_trials_and_reports_progress() -> None:
    b = body({"pruning": {"type": "median"}})
    w = world(
        ("Succeeded", 0.9), ("Pruned", 0.4), ("Running", None), suggestions={3: {"max_depth": 2}}
    )
    decision = sd.decide_search(b, w, build(b), lambda *a: None)
    assert [j["metadata"]["labels"]["mlops.dev/trial"] for j in decision.create] == ["3"]
    pruning = json.loads(decision.create[0]["extra"][1])
    assert pruning["history"] == [[0.9, 0.9, 0.9]] and pruning["direction"] == "maximize"
    status = decision.status["search"]
    assert (status["created"], status["running"], status["succeeded"], status["pruned"]) == (
        4,
        2,
        1,
        1,
    )
    assert (
        status["progress"] == "2/6" and status["best"]["number"] == 0 and status["bestValue"] == 0.9
    )
    assert decision.status["phase"] == "Running" and decision.conditions[0].reason == "Searching"
    assert [e.reason for e in decision.events] == ["TrialsStarted"]


def test_without_suggestions_nothing_starts_and_it_looks_again() -> None:
    b = body()
    decision = sd.decide_search(b, world(), build(b), lambda *a: None)
    assert decision.create == [] and decision.requeue_after == sd.STUDY_RETRY_SECONDS


def test_when_all_trials_finished_the_best_passing_one_is_registered() -> None:
    b = body({"topTrials": 2})
    w = world(
        ("Succeeded", 0.9),
        ("Succeeded", 0.95),
        ("Failed", None),
        ("Pruned", 0.3),
        ("Succeeded", 0.95),
        ("Succeeded", 0.7),
    )
    registered: list[tuple[dict[str, Any], dict[str, Any]]] = []
    decision = sd.decide_search(
        b, w, build(b), lambda d, result, lineage: registered.append((result, lineage))
    )
    ((result, lineage),) = registered
    assert lineage["search"] == {
        "trial": 1,
        "trials": 6,
        "algorithm": "tpe",
        "objective": "accuracy (maximize)",
        "value": 0.95,
    }
    assert lineage["runUri"] == result["resultUri"]
    top = decision.status["search"]["topTrials"]
    assert [t["number"] for t in top] == [
        1,
        4,
    ]  # ties: the earlier trial first; bounded by topTrials


def test_when_no_trial_passes_acceptance_the_search_fails() -> None:
    b = body()
    found = [tr.Trial(n, f"t{n}", "Succeeded", {}, ok(0.5, accepted=False), 0.5) for n in range(6)]
    decision = sd.decide_search(b, sd.SearchWorld(found, 6), build(b), lambda *a: None)
    assert (
        decision.status["phase"] == "Failed" and decision.status["failureReason"] == "NoTrialPassed"
    )
    assert (
        "none of 6 trials passed acceptance" in decision.status["failureMessage"] and decision.done
    )


def test_minimize_objectives_rank_lower_first() -> None:
    found = [tr.Trial(n, f"t{n}", "Succeeded", {}, ok(v), v) for n, v in enumerate([3.0, 1.0, 2.0])]
    assert [t.number for t in tr.ranked(found, "minimize")] == [1, 2, 0]


# --- the study helper (Optuna) -----------------------------------------------------------


def request(algorithm: str, trials: list[dict[str, Any]], ask: list[int]) -> dict[str, Any]:
    return {"algorithm": algorithm, "seed": 3, "direction": "maximize", "metric": "accuracy",
            "parameters": PARAMS, "trials": trials, "ask": ask}  # fmt: skip


@pytest.mark.parametrize("algorithm", ["tpe", "random", "grid"])
def test_the_same_history_gives_the_same_suggestions(algorithm: str) -> None:
    history = [
        {
            "number": 0,
            "state": "Succeeded",
            "params": {"max_depth": 3, "learning_rate": 0.1, "grow_policy": "depthwise"},
            "value": 0.9,
            "folds": [0.9],
        }
    ]
    first = study_cli.ask(request(algorithm, history, [1, 2, 3]))
    assert first == study_cli.ask(request(algorithm, history, [1, 2, 3]))
    assert set(first) == {"1", "2", "3"}
    for params in first.values():
        assert 2 <= params["max_depth"] <= 4 and 0.01 <= params["learning_rate"] <= 0.3
        assert params["grow_policy"] in ("depthwise", "lossguide")


def test_grid_never_repeats_a_point_across_asks() -> None:
    trials: list[dict[str, Any]] = []
    seen = set()
    req = request("grid", trials, [])
    req["parameters"] = [{"name": "max_depth", "type": "int", "min": 2, "max": 7}]
    for number in range(6):
        params = study_cli.ask({**req, "trials": trials, "ask": [number]})[str(number)]
        seen.add(params["max_depth"])
        trials.append({"number": number, "state": "Running", "params": params})
    assert seen == {2, 3, 4, 5, 6, 7}


def test_asking_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="asked for trial 5 with 0 trials known"):
        study_cli.ask(request("tpe", [], [5]))


# --- pruning and the report ----------------------------------------------------------------


def test_median_pruning_stops_a_trial_worse_than_the_median() -> None:
    history = [[0.9, 0.92, 0.91], [0.88, 0.9, 0.9], [0.93, 0.9, 0.92]]
    pruner = FoldPruner("accuracy", "maximize", history, startup_trials=3, warmup_folds=1)
    pruner(0, {"accuracy": 0.5})  # fold 0 is a warm-up fold: never pruned
    with pytest.raises(Pruned) as caught:
        pruner(1, {"accuracy": 0.5})
    assert caught.value.fold == 1 and caught.value.folds == {"accuracy": [0.5, 0.5]}
    good = FoldPruner("accuracy", "maximize", history, startup_trials=3, warmup_folds=1)
    for fold in range(3):
        good(fold, {"accuracy": 0.95})
    few = FoldPruner("accuracy", "maximize", history[:2], startup_trials=3, warmup_folds=0)
    few(0, {"accuracy": 0.1})  # fewer finished trials than startup_trials: no pruning yet


def test_the_report_is_self_contained_html(tmp_path: Path) -> None:
    trials = [{"number": n, "state": s, "params": {"max_depth": n + 2, "grow_policy": "depthwise"}, "value": v}
              for n, (s, v) in enumerate([("Succeeded", 0.9), ("Pruned", 0.5), ("Succeeded", 0.95), ("Failed", None)])]  # fmt: skip
    page = render({**request("tpe", trials, []), "title": "ml/xgb", "topTrials": 5})
    assert (
        page.startswith("<!DOCTYPE html>")
        and "<script" not in page
        and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    )
    assert "Search ml/xgb" in page and "4 trials: 2 succeeded, 1 pruned, 1 failed" in page
    assert "max_depth vs accuracy" in page and "grow_policy vs accuracy" in page
    table = page.split("<h2>Top trials</h2>")[1]
    assert table.index("<td>2</td><td>0.95</td>") < table.index("<td>0</td><td>0.9</td>")
