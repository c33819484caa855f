"""Dataset validation rules: each returns a RuleResult with the number of failing rows."""

from __future__ import annotations

from typing import Any

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


# --- Partitioned Datasets: rules counted batch by batch, partition by partition, then merged.
# A tally is plain JSON (it travels in a partition's partial file); the merged results equal
# run_validation's on all rows, apart from the examples a message quotes.

EXAMPLES = 5


def tally(frame: pd.DataFrame, validation: Validation) -> list[dict[str, Any]]:
    """Per rule: failing rows of this batch (and a few offending values)."""
    out: list[dict[str, Any]] = []
    for rule in validation.rules:
        result = check_rule(frame, rule)
        entry: dict[str, Any] = {"failing": int(result.failing_rows or 0), "examples": []}
        if result.failing_rows is None:  # the column is missing or not numeric
            entry["error"] = result.message
        elif rule.check == "allowedValues" and result.failing_rows:
            present = frame[rule.column].dropna().astype(str)
            bad = present[~present.isin(set(rule.values or []))]
            entry["examples"] = sorted(set(bad))[:EXAMPLES]
        elif rule.check == "range" and frame[rule.column].notna().any():
            series = frame[rule.column]  # the range seen, quoted when any batch fails
            entry["examples"] = [float(series.min()), float(series.max())]
        out.append(entry)
    return out


def merge_tallies(tallies: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Tallies of batches or partitions added up (each a list with one entry per rule)."""
    merged: list[dict[str, Any]] = []
    for entries in zip(*tallies, strict=True):
        failing = sum(int(e["failing"]) for e in entries)
        error = next((e["error"] for e in entries if e.get("error")), None)
        examples: list[Any] = []
        for e in entries:
            examples.extend(e.get("examples") or [])
        merged.append(
            {"failing": failing, "examples": examples, **({"error": error} if error else {})}
        )
    return merged


def results_of(
    tallies: list[dict[str, Any]], validation: Validation, rows: int
) -> list[RuleResult]:
    """The RuleResults of merged tallies over `rows` rows (as run_validation gives them)."""
    results = [check_min_rows(pd.DataFrame(index=range(rows)), validation.min_rows)]
    for rule, entry in zip(validation.rules, tallies, strict=True):
        name, failing = rule.display_name(), int(entry["failing"])
        if entry.get("error"):
            results.append(RuleResult(name=name, passed=False, message=entry["error"]))
            continue
        if rule.check == "notNull":
            message = f"{failing} null value(s) in {rule.column!r}"
        elif rule.check == "range":
            bounds = f"[{'-inf' if rule.min is None else rule.min}, "
            bounds += f"{'inf' if rule.max is None else rule.max}]"
            message = f"{failing} value(s) of {rule.column!r} outside {bounds}"
            seen = [float(v) for v in entry.get("examples") or []]
            if failing and seen:
                message += f" (min seen {min(seen)}, max seen {max(seen)})"
        else:
            message = f"{failing} value(s) of {rule.column!r} not allowed"
            if failing:
                examples = sorted(set(map(str, entry.get("examples") or [])))[:EXAMPLES]
                message += f", e.g. {', '.join(repr(v) for v in examples)}"
        results.append(
            RuleResult(name=name, passed=failing == 0, message=message, failing_rows=failing)
        )
    return results
