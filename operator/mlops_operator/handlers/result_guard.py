"""Run results are read only from their namespace's own part of the store (docs/security.md).

The operator reads the result a profile, training, trial, compare or batch pod left at a URI it
computed in the object's namespace (`runs/<namespace>/...`, `evaluations/...`,
`predictions/...`). The pod wrote that file, so on a file:// store it may be a symlink (or sit
under a linked directory) into another namespace's part, which the operator, with the whole
store mounted, would follow; and the document may name a further file (`summaryUri`,
`resultUri`) anywhere. Before each of these reads the rule (reconcile/confinement.py) and the
symlink check (artifacts/symlinks.py) run; a refused read becomes a result with reason
OutsideNamespace naming the field and the path, which the object's decide() records as it
records any failed run (Ready=False, a Warning Event).
"""

from __future__ import annotations

from typing import Any

from ..artifacts.symlinks import escape
from ..config import OperatorConfig
from ..reconcile import confinement

STORE_ROOT = OperatorConfig.from_env().store_uri


def namespace_of(uri: str, store_root: str | None = None) -> str | None:
    """The namespace whose part of the store a result URI the operator computed is in."""
    return confinement.namespace_of(uri, store_root or STORE_ROOT)


def refusal(
    uri: str, namespace: str | None, field: str, store_root: str | None = None
) -> dict[str, Any] | None:
    """A failed result (reason OutsideNamespace) when reading `uri` for `namespace` would leave
    the namespace's part of the store, by its path or through a symlink; None when it may be
    read (or `namespace` is unknown: a URI outside the store's areas, never computed here)."""
    if namespace is None:
        return None
    root = store_root or STORE_ROOT
    found = confinement.read_refusal(field, uri, namespace, root)
    if found is None:
        path = escape(uri, confinement.namespace_roots(root, namespace))
        found = None if path is None else confinement.escaped(field, path, namespace)
    if found is None:
        return None
    return {"ok": False, "reason": found.reason, "error": found.message}
