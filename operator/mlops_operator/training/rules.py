"""Dataset validation rules: each returns a RuleResult with the number of failing rows."""

from __future__ import annotations

import pandas as pd
from pandas.api import types as ptypes

from ..api.dataset import RuleResult, Validation, ValidationRule


def check_min_rows(frame: pd.DataFrame, min_rows: int) -> RuleResult:
    rows = len(frame)
    passed = rows >= min_rows
    message = f"{rows} rows" + ("" if passed else f" < minRows {min_rows}")
    return RuleResult(name="minRows", passed=passed, message=message, failing_rows=0)


def check_rule(frame: pd.DataFrame, rule: ValidationRule) -> RuleResult:
    name = rule.display_name()
    if rule.column not in frame.columns:
        return RuleResult(name=name, passed=False, message=f"column {rule.column!r} not in data")
    series = frame[rule.column]
    if rule.check == "notNull":
        failing = int(series.isna().sum())
        message = f"{failing} null value(s) in {rule.column!r}"
    elif rule.check == "range":
        if not ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
            return RuleResult(
                name=name, passed=False, message=f"column {rule.column!r} is not numeric"
            )
        outside = pd.Series(False, index=series.index)
        if rule.min is not None:
            outside |= series < rule.min
        if rule.max is not None:
            outside |= series > rule.max
        failing = int(outside.sum())
        bounds = f"[{'-inf' if rule.min is None else rule.min}, "
        bounds += f"{'inf' if rule.max is None else rule.max}]"
        message = f"{failing} value(s) of {rule.column!r} outside {bounds}"
        if failing:
            message += f" (min seen {series.min()}, max seen {series.max()})"
    else:
        allowed = set(rule.values or [])
        present = series.dropna().astype(str)
        unexpected = present[~present.isin(allowed)]
        failing = len(unexpected)
        message = f"{failing} value(s) of {rule.column!r} not allowed"
        if failing:
            examples = sorted(set(unexpected))[:5]
            message += f", e.g. {', '.join(repr(v) for v in examples)}"
    return RuleResult(name=name, passed=failing == 0, message=message, failing_rows=failing)


def run_validation(frame: pd.DataFrame, validation: Validation) -> list[RuleResult]:
    results = [check_min_rows(frame, validation.min_rows)]
    results.extend(check_rule(frame, rule) for rule in validation.rules)
    return results
