"""The hyperparameters of XGBoost and LightGBM a TrainingJob may set, with their types and
ranges: checked in the operator before any Job starts, without importing either library.

A unit test keeps this table honest: every name here is a parameter of the real class.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    kind: str  # int | float | choice | bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    choices: tuple[Any, ...] = ()

    def problem(self, value: Any) -> str:
        """'' when `value` fits, else what it should be."""
        if self.kind == "choice":
            return "" if value in self.choices else f"one of {list(self.choices)}"
        if self.kind == "bool":
            return "" if isinstance(value, bool) else "true or false"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "a number" if self.kind == "float" else "an integer"
        if self.kind == "int" and not float(value).is_integer():
            return "an integer"
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return self._range()
        if self.high is not None and value > self.high:
            return self._range()
        return ""

    def _range(self) -> str:
        low = "(" if self.low_open else "["
        high = "inf)" if self.high is None else f"{self.high:g}]"
        return f"in {low}{self.low:g}, {high}"


def _int(low: float | None = None, high: float | None = None) -> Param:
    return Param("int", low, high)


def _float(low: float | None = 0.0, high: float | None = None, *, low_open: bool = False) -> Param:
    return Param("float", low, high, low_open)


_FRACTION = _float(0.0, 1.0, low_open=True)
_COMMON = {"n_estimators": _int(1, 100_000), "random_state": _int(0), "n_jobs": _int(-1, 256)}

XGBOOST: dict[str, Param] = {
    **_COMMON,
    "max_depth": _int(0, 64),
    "max_leaves": _int(0),
    "max_bin": _int(2),
    "learning_rate": _float(0.0, 1.0, low_open=True),
    "subsample": _FRACTION,
    "colsample_bytree": _FRACTION,
    "colsample_bylevel": _FRACTION,
    "colsample_bynode": _FRACTION,
    "min_child_weight": _float(),
    "gamma": _float(),
    "reg_alpha": _float(),
    "reg_lambda": _float(),
    "max_delta_step": _float(),
    "scale_pos_weight": _float(low_open=True),
    "grow_policy": Param("choice", choices=("depthwise", "lossguide")),
    "tree_method": Param("choice", choices=("auto", "exact", "approx", "hist")),
}
LIGHTGBM: dict[str, Param] = {
    **_COMMON,
    "boosting_type": Param("choice", choices=("gbdt", "dart")),
    "num_leaves": _int(2, 131_072),
    "max_depth": _int(-1, 64),
    "learning_rate": _float(0.0, 1.0, low_open=True),
    "subsample": _FRACTION,
    "subsample_freq": _int(0),
    "colsample_bytree": _FRACTION,
    "min_child_samples": _int(0),
    "min_child_weight": _float(),
    "min_split_gain": _float(),
    "reg_alpha": _float(),
    "reg_lambda": _float(),
    "subsample_for_bin": _int(1),
    "class_weight": Param("choice", choices=("balanced", None)),
}
TABLES = {
    "XGBClassifier": XGBOOST,
    "XGBRegressor": XGBOOST,
    "LGBMClassifier": LIGHTGBM,
    "LGBMRegressor": LIGHTGBM,
}


def validate(estimator: str, params: dict[str, Any]) -> list[str]:
    """Every problem with `params` for a boosting `estimator`, each naming the parameter."""
    table = TABLES[estimator]
    known = sorted(table)
    errors = []
    for name, value in params.items():
        spec = table.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
            errors.append(f"hyperparameter {name!r} is not a parameter of {estimator}{hint}")
            continue
        wanted = spec.problem(value)
        if wanted:
            errors.append(
                f"The {name!r} parameter of {estimator} must be {wanted}. Got {value!r} instead."
            )
    return errors
