"""Vectorised drift statistics and reference profiles (see docs/drift.md).

The names below load numpy, scipy and pandas on first use (PEP 562), so that the operator,
which imports the pure `drift.plan` types, loads them only once a DriftMonitor checks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .check import DriftReport, FeatureResult, check_drift, compare_datasets
    from .profile import ReferenceProfile, build_reference_profile

_WHERE = {
    "DriftReport": "check",
    "FeatureResult": "check",
    "check_drift": "check",
    "compare_datasets": "check",
    "ReferenceProfile": "profile",
    "build_reference_profile": "profile",
}

__all__ = [
    "DriftReport",
    "FeatureResult",
    "ReferenceProfile",
    "build_reference_profile",
    "check_drift",
    "compare_datasets",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
