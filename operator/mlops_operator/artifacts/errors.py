"""Typed artifact errors; each carries a short `reason` the operator puts in a condition."""

from __future__ import annotations


class ArtifactError(Exception):
    reason = "ArtifactError"


class ArtifactMissing(ArtifactError):
    reason = "ArtifactMissing"


class ChecksumMismatch(ArtifactError):
    reason = "ChecksumMismatch"


class LoadFailed(ArtifactError):
    reason = "LoadFailed"


class StoreUnavailable(ArtifactError):
    """The store cannot be reached or its driver (e.g. s3fs) is not installed."""

    reason = "StoreUnavailable"


class ReadOnlySource(ArtifactError):
    reason = "ReadOnlySource"


class ArtifactCorrupt(ArtifactError, ValueError):
    """A file that exists but cannot be parsed (a truncated write, not Parquet); a ValueError
    too, so whoever handled the parser's error handles it the same."""

    reason = "ArtifactCorrupt"
