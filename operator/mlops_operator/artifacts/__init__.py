"""The artifact store: content-addressed, checksummed artifacts on file:// or s3://."""

from . import paths
from .errors import (
    ArtifactError,
    ArtifactMissing,
    ChecksumMismatch,
    LoadFailed,
    ReadOnlySource,
    StoreUnavailable,
)
from .models import TRUSTED_TYPES, load_onnx, load_skops, verify_model
from .store import DEFAULT_STORE, Store, json_bytes, sha256_hex

__all__ = [
    "DEFAULT_STORE",
    "TRUSTED_TYPES",
    "ArtifactError",
    "ArtifactMissing",
    "ChecksumMismatch",
    "LoadFailed",
    "ReadOnlySource",
    "Store",
    "StoreUnavailable",
    "json_bytes",
    "load_onnx",
    "load_skops",
    "paths",
    "sha256_hex",
    "verify_model",
]
