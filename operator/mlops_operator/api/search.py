"""A TrainingJob's hyperparameter search (`spec.search`) and what its status shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import ApiModel, FreeForm, cel, validations

MAX_TRIALS = 200
MAX_TOP_TRIALS = 20
# A float range searched by grid without a step: this many points (log-spaced when `log`).
GRID_POINTS = 5
LOWER_IS_BETTER = frozenset({"rmse", "mae"})

Direction = Literal["maximize", "minimize"]
Algorithm = Literal["grid", "random", "tpe"]
TrialState = Literal["Pending", "Running", "Succeeded", "Failed", "Pruned"]
FINISHED_TRIALS = ("Succeeded", "Failed", "Pruned")

Value = Any  # a categorical choice: a string, number or boolean (the CRD keeps it as given)


class SearchParameter(ApiModel):
    """One hyperparameter to search: a float or int range (log scale optional) or choices."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["float", "int", "categorical"]
    min: float | None = None
    max: float | None = None
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    values: list[Value] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        json_schema_extra={
            "items": {"x-kubernetes-preserve-unknown-fields": True, "x-mlops-any-value": True}
        },
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.type == 'categorical' || (has(self.min) && has(self.max) "
                "&& self.min < self.max)",
                "a float or int parameter needs min < max",
            ),
            cel(
                "!self.log || (self.type != 'categorical' && has(self.min) && self.min > 0)",
                "log scale needs a float or int range with min > 0",
            ),
            cel(
                "!(self.log && has(self.step))",
                "log scale and step cannot be combined",
            ),
        )
    }


class Objective(ApiModel):
    metric: Literal["accuracy", "f1", "roc_auc", "precision", "recall", "rmse", "mae", "r2"]
    direction: Direction | None = Field(
        default=None, description="Default: minimize for rmse and mae, else maximize."
    )

    def effective_direction(self) -> Direction:
        if self.direction:
            return self.direction
        return "minimize" if self.metric in LOWER_IS_BETTER else "maximize"


class Pruning(ApiModel):
    """Median pruning on per-fold scores: a trial stops after a fold whose running score is
    worse than the median of finished trials at that fold (needs split.method kfold)."""

    type: Literal["median", "none"] = "median"
    startup_trials: int = Field(default=3, ge=0, le=MAX_TRIALS)
    warmup_folds: int = Field(default=1, ge=0, le=19)


class Search(ApiModel):
    algorithm: Algorithm = "tpe"
    parameters: list[SearchParameter] = Field(min_length=1, max_length=20)
    objective: Objective
    max_trials: int = Field(default=12, ge=1, le=MAX_TRIALS)
    parallelism: int = Field(default=2, ge=1, le=50)
    seed: int = Field(default=0, ge=0)
    pruning: Pruning | None = None
    top_trials: int = Field(default=5, ge=1, le=MAX_TOP_TRIALS)

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.parameters.all(p, self.parameters.exists_one(q, q.name == p.name))",
                "search parameter names must be unique",
                ".parameters",
            ),
        )
    }


class TrialSummary(ApiModel):
    number: int = Field(ge=0)
    job_name: str | None = None
    state: TrialState
    params: FreeForm = Field(default_factory=dict)
    value: float | None = None
    metrics: dict[str, float] | None = None
    accepted: bool | None = None
    fit_seconds: float | None = None


class BestTrial(ApiModel):
    number: int = Field(ge=0)
    value: float
    params: FreeForm = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)


class SearchStatus(ApiModel):
    algorithm: Algorithm | None = None
    objective: str | None = None  # "accuracy (maximize)"
    budget: int = 0
    created: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    pruned: int = 0
    progress: str | None = None  # "7/12", for kubectl get
    best: BestTrial | None = None
    best_value: float | None = None
    top_trials: list[TrialSummary] = Field(default_factory=list, max_length=MAX_TOP_TRIALS)
    report_uri: str | None = None
    reported_trials: int | None = None
