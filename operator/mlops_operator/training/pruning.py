"""Median pruning of a search trial on its per-fold scores, with Optuna's MedianPruner.

The trial pod is told the fold scores of the search's finished trials when its Job was made;
after each fold it reports the running mean of the objective over the folds so far, and
stops when Optuna's MedianPruner says that is worse than the median of those trials at the
same fold.
"""

from __future__ import annotations

import json
from typing import Any


class Pruned(Exception):
    def __init__(self, fold: int, folds: dict[str, list[float]]):
        super().__init__(f"pruned after fold {fold}")
        self.fold = fold
        self.folds = folds


def running_means(values: list[float]) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        out.append(total / (i + 1))
    return out


class FoldPruner:
    """Called after every fold (`evaluate_folds(after_fold=...)`); raises Pruned to stop."""

    def __init__(
        self,
        metric: str,
        direction: str,
        history: list[list[float]],
        startup_trials: int = 3,
        warmup_folds: int = 1,
    ) -> None:
        import optuna
        from optuna.distributions import FloatDistribution
        from optuna.trial import TrialState, create_trial

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.metric = metric
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=startup_trials, n_warmup_steps=warmup_folds
        )
        self.study = optuna.create_study(
            direction="minimize" if direction == "minimize" else "maximize", pruner=pruner
        )
        for folds in history:
            if not folds:
                continue
            means = running_means(folds)
            self.study.add_trial(
                create_trial(
                    state=TrialState.COMPLETE,
                    value=means[-1],
                    params={"fold": 0.0},
                    distributions={"fold": FloatDistribution(0.0, 1.0)},
                    intermediate_values=dict(enumerate(means)),
                )
            )
        self.trial = self.study.ask()
        self.values: list[float] = []
        self.folds: dict[str, list[float]] = {}

    @classmethod
    def from_json(cls, raw: str) -> FoldPruner:
        doc: dict[str, Any] = json.loads(raw)
        return cls(
            doc["metric"],
            doc["direction"],
            [list(map(float, h)) for h in doc.get("history") or []],
            int(doc.get("startupTrials", 3)),
            int(doc.get("warmupFolds", 1)),
        )

    def __call__(self, fold: int, scores: dict[str, float]) -> None:
        for name, value in scores.items():
            self.folds.setdefault(name, []).append(float(value))
        if self.metric not in scores:
            return
        self.values.append(float(scores[self.metric]))
        self.trial.report(running_means(self.values)[-1], fold)
        if self.trial.should_prune():
            raise Pruned(fold, self.folds)
