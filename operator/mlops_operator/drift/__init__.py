"""Vectorised drift statistics and reference profiles (see docs/drift.md)."""

from .check import DriftReport, FeatureResult, check_drift, compare_datasets
from .profile import ReferenceProfile, build_reference_profile

__all__ = [
    "DriftReport",
    "FeatureResult",
    "ReferenceProfile",
    "build_reference_profile",
    "check_drift",
    "compare_datasets",
]
