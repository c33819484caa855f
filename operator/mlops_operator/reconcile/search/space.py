"""The search space: checks only the operator can make (names and bounds against the
estimator's hyperparameters) and the grid a grid search walks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ...api.modelversion import CLASSIFICATION
from ...api.search import GRID_POINTS, Search, SearchParameter
from ...api.trainingjob import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    TrainingJobSpec,
    spec_task,
    trainer_name,
)

Validate = Callable[[str, dict[str, Any]], list[str]]


def grid_values(p: SearchParameter) -> list[Any]:
    """The points a grid search tries for one parameter."""
    if p.type == "categorical":
        return list(p.values or [])
    low, high = float(p.min or 0), float(p.max or 0)
    if p.type == "int":
        step = max(1, int(p.step or 1))
        if p.log and not p.step:
            points = sorted({round(v) for v in _geom(low, high, GRID_POINTS)})
            return [int(v) for v in points]
        return list(range(int(low), int(high) + 1, step))
    if p.step:
        count = math.floor((high - low) / p.step + 1e-9) + 1
        return [_round(low + i * p.step) for i in range(count)]
    if p.log:
        return [_round(v) for v in _geom(low, high, GRID_POINTS)]
    return [_round(low + (high - low) * i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)]


def _geom(low: float, high: float, n: int) -> list[float]:
    a, b = math.log(low), math.log(high)
    return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def grid_size(search: Search) -> int:
    return math.prod(len(grid_values(p)) for p in search.parameters)


def budget(search: Search) -> int:
    """How many trials the search runs: max_trials, or the whole grid when it is smaller."""
    if search.algorithm == "grid":
        return min(search.max_trials, grid_size(search))
    return search.max_trials


def space_errors(spec: TrainingJobSpec, validate: Validate) -> str:
    """'' when the search can run, else every problem, each naming its field."""
    search = spec.search
    if search is None:
        return ""
    problems: list[str] = []
    metric = search.objective.metric
    task = spec_task(spec)
    allowed = CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS
    if metric not in allowed:
        problems.append(
            f"spec.search.objective.metric {metric!r} does not apply to {trainer_name(spec)} "
            f"({task}); "
            f"use one of {', '.join(allowed)}"
        )
    elif spec.metrics and metric not in spec.metrics:
        problems.append(f"spec.search.objective.metric {metric!r} is not in spec.metrics")
    for i, p in enumerate(search.parameters):
        where = f"spec.search.parameters[{i}] ({p.name})"
        if p.type == "categorical" and not p.values:
            problems.append(f"{where}: a categorical parameter needs values")
            continue
        if p.name in spec.hyperparameters:
            problems.append(f"{where} is also fixed in spec.hyperparameters; set it in one place")
            continue
        if p.type == "int" and not all(
            v is None or float(v).is_integer() for v in (p.min, p.max, p.step)
        ):
            problems.append(f"{where}: an int parameter needs whole min, max and step")
            continue
        if spec.estimator is None:
            continue  # a container's parameters are its own: any name, any value
        for value in _probe_values(p):
            errors = validate(spec.estimator, {p.name: value})
            if errors:
                problems.append(f"{where}: {errors[0]}")
                break
    if search.algorithm == "grid" and not problems and grid_size(search) > 100_000:
        problems.append(f"spec.search: the grid has {grid_size(search)} points (max 100000)")
    return "; ".join(problems)


def _probe_values(p: SearchParameter) -> list[Any]:
    """The values whose validity stands for the whole range: its ends, or every choice."""
    if p.type == "categorical":
        return list(p.values or [])
    if p.type == "int":
        return [int(p.min or 0), int(p.max or 0)]
    return [float(p.min or 0), float(p.max or 0)]
