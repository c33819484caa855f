"""The one boundary to the Kubernetes API: every read and write of the operator goes through here.

Calls use the official client in a worker thread, so they never block Kopf's event loop.
"""

from .client import (
    ApiError,
    Conflict,
    NotFound,
    apply,
    create,
    delete,
    get,
    list_objects,
    patch_status,
)
from .events import event
from .objects import child_labels, owner_reference

__all__ = [
    "ApiError",
    "Conflict",
    "NotFound",
    "apply",
    "child_labels",
    "create",
    "delete",
    "event",
    "get",
    "list_objects",
    "owner_reference",
    "patch_status",
]
