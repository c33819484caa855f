"""Hyperparameter search: TPE vs random vs grid on the same budget and data.

Each algorithm proposes its trials through the very code the operator runs (the study
helper: Optuna's ask-and-tell on a study rebuilt from the trials so far, parallelism as in a
TrainingJob); each trial is scored by the trainer's own pipeline and k-fold evaluation
(LightGBM on breast_cancer, 3 folds, objective roc_auc). Printed: the best objective reached
after 4, 8, 12 and 16 trials, median over seeds; and the sampler's own time per trial.
The algorithms alternate inside every seed.

With BENCH_REPORT=path the TPE run of the first seed is written there as the search's HTML
report (what the operator links from status.search.reportUri).

    python bench/search_bench.py       # BENCH_SEEDS seeds (default 3), BENCH_TRIALS (16)
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from sklearn.datasets import load_breast_cancer

from mlops_operator.api.trainingjob import TrainingJobSpec
from mlops_operator.training import study_cli
from mlops_operator.training.estimators import build_pipeline
from mlops_operator.training.evaluate import evaluate_folds, summarize
from mlops_operator.training.report import render

PARAMETERS = [
    {"name": "num_leaves", "type": "int", "min": 2, "max": 64, "log": True},
    {"name": "learning_rate", "type": "float", "min": 0.005, "max": 0.5, "log": True},
    {"name": "n_estimators", "type": "int", "min": 10, "max": 200, "step": 10},
    {"name": "min_child_samples", "type": "int", "min": 2, "max": 80},
]
PARALLELISM = 3
CHECKPOINTS = (4, 8, 12, 16)


def score(params: dict[str, Any], x: Any, y: Any) -> tuple[float, list[float]]:
    spec = TrainingJobSpec.model_validate(
        {"datasetRef": {"name": "d"}, "model": "m", "estimator": "LGBMClassifier",
         "target": "target", "hyperparameters": {**params, "n_jobs": 1},
         "split": {"method": "kfold", "folds": 3}}
    )  # fmt: skip
    pipeline = build_pipeline(spec, list(x.columns), [])
    folds = evaluate_folds(
        pipeline, x, y, task="classification", split=spec.split, names=["roc_auc"]
    )
    means, _ = summarize(folds)
    return means["roc_auc"], folds["roc_auc"]


def run(
    algorithm: str, seed: int, budget: int, x: Any, y: Any
) -> tuple[list[dict[str, Any]], float]:
    trials: list[dict[str, Any]] = []
    sampler_seconds = 0.0
    while len(trials) < budget:
        # A wave as the operator starts it: up to PARALLELISM trials asked with the running
        # ones known (TPE's constant liar sees them), then all of them finish.
        ask = list(range(len(trials), min(budget, len(trials) + PARALLELISM)))
        request = {
            "algorithm": algorithm, "seed": seed, "direction": "maximize", "metric": "roc_auc",
            "parameters": PARAMETERS, "trials": trials, "ask": ask,
        }  # fmt: skip
        started = time.perf_counter()
        suggestions = study_cli.ask(request)
        sampler_seconds += time.perf_counter() - started
        for number in ask:
            params = suggestions[str(number)]
            value, folds = score(params, x, y)
            trials.append({"number": number, "state": "Succeeded", "params": params,
                           "value": value, "folds": folds})  # fmt: skip
    return trials, sampler_seconds / budget


def best_after(trials: list[dict[str, Any]], n: int) -> float:
    return max(t["value"] for t in trials[:n])


def main() -> None:
    seeds = int(os.environ.get("BENCH_SEEDS", "3"))
    budget = int(os.environ.get("BENCH_TRIALS", "16"))
    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target.astype(str)
    x.columns = [c.replace(" ", "_") for c in x.columns]
    algorithms = ("tpe", "random", "grid")
    best: dict[str, dict[int, list[float]]] = {a: {c: [] for c in CHECKPOINTS} for a in algorithms}
    ask_time: dict[str, list[float]] = {a: [] for a in algorithms}
    for seed in range(seeds):
        order = algorithms[seed % 3 :] + algorithms[: seed % 3]  # alternate who goes first
        for algorithm in order:
            trials, per_trial = run(algorithm, seed, budget, x, y)
            ask_time[algorithm].append(per_trial)
            for c in CHECKPOINTS:
                if c <= budget:
                    best[algorithm][c].append(best_after(trials, c))
            if algorithm == "tpe" and seed == 0 and os.environ.get("BENCH_REPORT"):
                document = {"algorithm": "tpe", "direction": "maximize", "metric": "roc_auc",
                            "parameters": PARAMETERS, "trials": trials, "topTrials": 5,
                            "title": "bench/lgbm-breast-cancer"}  # fmt: skip
                with open(os.environ["BENCH_REPORT"], "w") as handle:
                    handle.write(render(document))
    print(f"LightGBM on breast_cancer, 3-fold roc_auc, {len(PARAMETERS)} parameters, "
          f"parallelism {PARALLELISM}, median of {seeds} seeds")  # fmt: skip
    header = "| algorithm | " + " | ".join(f"best after {c}" for c in CHECKPOINTS if c <= budget)
    print(header + " | sampler ms/trial |")
    print("|---" * (2 + sum(1 for c in CHECKPOINTS if c <= budget)) + "|")
    for algorithm in algorithms:
        cells = " | ".join(f"{statistics.median(best[algorithm][c]):.5f}"
                           for c in CHECKPOINTS if c <= budget)  # fmt: skip
        print(f"| {algorithm} | {cells} | {1000 * statistics.median(ask_time[algorithm]):.1f} |")


if __name__ == "__main__":
    main()
