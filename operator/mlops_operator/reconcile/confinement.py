"""Tenant isolation: what a namespace's objects may reference in the store (docs/security.md).

A URI that names the store is confined to the namespace's part of it: `<area>/<namespace>/...`
for an area of the layout (artifacts/paths.py). The path is normalised first (`.`, `..` and
repeated slashes resolved), so `file:///store/datasets/b/../a/x` is judged as `datasets/a/x`.
A `file://` URI outside the store is allowed only under the operator's allowed prefixes; an
`s3://` URI outside the store only with the namespace's own credentials when the pods carry
the operator's. `https://` and `sklearn://` name no store and are not confined here.

Pure: every function judges strings; nothing is read (symlinks inside a pod's mounts cannot
reach another namespace's part, which is not mounted: reconcile/pods.py).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..api.conditions import FALSE, READY
from ..config import OperatorConfig
from . import reasons
from .conditions import Cond
from .decision import Decision

# Where users put their own files for sources (raw CSV/Parquet, bulk labels): the store
# sweep never collects it.
INPUTS = "inputs"
# The top-level areas of the store layout; each holds one directory per namespace.
AREAS: tuple[str, ...] = (
    INPUTS,
    "datasets",
    "models",
    "runs",
    "samples",
    "labels",
    "production",
    "evaluations",
    "predictions",
)
ALLOWED_PREFIXES_SETTING = "MLOPS_ALLOWED_FILE_PREFIXES (chart: operator.allowedFilePrefixes)"


@dataclass(frozen=True)
class Rules:
    """What the operator is configured with: the store root, the `file://` prefixes outside the
    store that sources may name, and whether its pods carry S3 credentials of its own."""

    store_root: str
    allowed_file_prefixes: tuple[str, ...] = ()
    operator_s3_credentials: bool = False


def rules_of(config: OperatorConfig) -> Rules:
    return Rules(
        store_root=config.store_uri,
        allowed_file_prefixes=config.allowed_file_prefixes,
        operator_s3_credentials=(config.store_uri.startswith("s3://") or bool(config.s3_secret))
        and not config.s3_namespace_secret,
    )


@dataclass(frozen=True)
class Refusal:
    field: str
    reason: str  # reasons.OUTSIDE_NAMESPACE or reasons.PATH_NOT_ALLOWED
    message: str  # names the field


def _split(uri: str) -> tuple[str, str]:
    scheme, sep, rest = uri.partition("://")
    return (scheme.lower(), rest) if sep else ("", uri)


def _normal(path: str) -> str:
    """`path` with `.`, `..` and repeated slashes resolved (never above the root)."""
    absolute = path.startswith("/")
    normal = posixpath.normpath("/" + path.lstrip("/"))
    normal = "/" + normal.lstrip("/")
    return normal if absolute else normal.lstrip("/")


def _within(path: str, prefix: str) -> str | None:
    """`path` relative to the directory `prefix`, or None when it is not under it."""
    prefix = prefix.rstrip("/")
    if path == prefix:
        return ""
    if prefix == "" and path.startswith("/"):
        return path.lstrip("/")
    return path[len(prefix) + 1 :] if path.startswith(prefix + "/") else None


def _store_location(root: str) -> tuple[str, str]:
    """(scheme, normalised location) of the store root: a path, or `bucket/prefix` on S3."""
    scheme, rest = _split(root)
    if scheme == "file":
        return scheme, _normal(rest)
    return scheme, _normal(rest).strip("/")


def namespace_part(namespace: str) -> str:
    """The namespace's part of the store, brace-expanded: `{datasets,models,...}/<ns>/`."""
    return f"{{{','.join(AREAS)}}}/{namespace}/"


def _in_store(field: str, uri: str, relative: str, namespace: str) -> Refusal | None:
    segments = [s for s in relative.split("/") if s]
    if len(segments) >= 2 and segments[0] in AREAS and segments[1] == namespace:
        return None
    if len(segments) >= 2 and segments[0] in AREAS:
        return Refusal(
            field,
            reasons.OUTSIDE_NAMESPACE,
            f"{field}: {uri} is outside namespace {namespace}'s part of the store "
            f"(it is in namespace {segments[1]}'s; allowed: {namespace_part(namespace)})",
        )
    return Refusal(
        field,
        reasons.PATH_NOT_ALLOWED,
        f"{field}: {uri} is not in namespace {namespace}'s part of the store "
        f"(allowed: {namespace_part(namespace)})",
    )


def check(
    field: str,
    uri: str,
    namespace: str,
    rules: Rules,
    *,
    own_credentials: bool = False,
    outside_store: bool = True,
) -> Refusal | None:
    """Whether the object in `namespace` may reference `uri` in `field` (None: it may).

    `own_credentials`: whatever reads the URI carries the namespace's own S3 credentials,
    not the operator's. `outside_store`: whether the field may name data outside the store at all
    (sources may; artifacts, profiles and production windows live in the store)."""
    scheme, rest = _split(uri)
    if scheme in ("https", "sklearn") and outside_store:
        return None
    store_scheme, store_location = _store_location(rules.store_root)
    if scheme == "file":
        if rest and not rest.startswith("/"):
            return Refusal(
                field,
                reasons.PATH_NOT_ALLOWED,
                f"{field}: {uri} names a host; a file:// URI is file:///<absolute path>",
            )
        path = _normal(rest)
        if store_scheme == "file" and (relative := _within(path, store_location)) is not None:
            return _in_store(field, uri, relative, namespace)
        allowed = [p for p in rules.allowed_file_prefixes if _within(path, _normal(p)) is not None]
        if outside_store and allowed:
            return None
        shown = ", ".join(rules.allowed_file_prefixes) if outside_store else ""
        return Refusal(
            field,
            reasons.PATH_NOT_ALLOWED,
            f"{field}: {uri} is outside the store and under no allowed prefix "
            f"(allowed: {shown or 'none'}; operator setting {ALLOWED_PREFIXES_SETTING})"
            if outside_store
            else f"{field}: {uri} is outside the store; it must be in namespace "
            f"{namespace}'s part of it ({namespace_part(namespace)})",
        )
    if scheme == "s3":
        location = _normal(rest).strip("/")
        if store_scheme == "s3" and (relative := _within(location, store_location)) is not None:
            return _in_store(field, uri, relative, namespace)
        if not outside_store:
            return Refusal(
                field,
                reasons.PATH_NOT_ALLOWED,
                f"{field}: {uri} is outside the store; it must be in namespace "
                f"{namespace}'s part of it ({namespace_part(namespace)})",
            )
        if own_credentials or not rules.operator_s3_credentials:
            return None
        return Refusal(
            field,
            reasons.PATH_NOT_ALLOWED,
            f"{field}: {uri} is outside the store; an s3:// source outside it is read with "
            "the namespace's own credentials, and the operator gives its pods its own: "
            "ask for MLOPS_S3_NAMESPACE_SECRET (chart: store.s3.namespaceSecret)",
        )
    allowed_schemes = "file://, s3://, https:// or sklearn://" if outside_store else "the store's"
    return Refusal(
        field,
        reasons.PATH_NOT_ALLOWED,
        f"{field}: {uri} has a scheme not allowed here (allowed: {allowed_schemes})",
    )


def first(refusals: Iterable[Refusal | None]) -> Refusal | None:
    return next((r for r in refusals if r is not None), None)


def _source(field: str, source: dict[str, Any] | None, ns: str, rules: Rules) -> Refusal | None:
    if not source or not source.get("uri"):
        return None
    # A source's s3SecretRef is not what the pod reads with (it carries the store's
    # credentials), so it does not make an s3:// URI outside the store the namespace's own.
    return check(f"{field}.uri", str(source["uri"]), ns, rules)


def dataset_refusal(spec: dict[str, Any], namespace: str, rules: Rules) -> Refusal | None:
    """spec.source and every spec.additionalSources[i] of a Dataset."""
    extra = spec.get("additionalSources") or []
    return first(
        [
            _source("spec.source", spec.get("source"), namespace, rules),
            *(
                _source(f"spec.additionalSources[{i}]", s, namespace, rules)
                for i, s in enumerate(extra)
            ),
        ]
    )


def _in_store_only(field: str, uri: Any, namespace: str, rules: Rules) -> Refusal | None:
    if not uri:
        return None
    return check(field, str(uri), namespace, rules, outside_store=False)


def model_version_uris(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every store URI a ModelVersion spec names: the artifact and its lineage's records."""
    lineage = spec.get("lineage") or {}
    yield "spec.artifact.uri", (spec.get("artifact") or {}).get("uri")
    yield "spec.lineage.profileUri", lineage.get("profileUri")
    yield "spec.lineage.runUri", lineage.get("runUri")
    yield "spec.lineage.productionWindow.uri", (lineage.get("productionWindow") or {}).get("uri")
    yield "spec.lineage.search.reportUri", (lineage.get("search") or {}).get("reportUri")


def model_version_refusal(spec: dict[str, Any], namespace: str, rules: Rules) -> Refusal | None:
    return first(
        _in_store_only(field, uri, namespace, rules) for field, uri in model_version_uris(spec)
    )


def batch_refusal(spec: dict[str, Any], namespace: str, rules: Rules) -> Refusal | None:
    """spec.input.source of a BatchPrediction (its output is always its own namespace's)."""
    return _source("spec.input.source", (spec.get("input") or {}).get("source"), namespace, rules)


def monitor_refusal(spec: dict[str, Any], namespace: str, rules: Rules) -> Refusal | None:
    """spec.performance.labels of a DriftMonitor (samples and windows are its namespace's)."""
    labels = (spec.get("performance") or {}).get("labels")
    if not labels or not labels.get("uri"):
        return None
    return check("spec.performance.labels.uri", str(labels["uri"]), namespace, rules)


def read_refusal(field: str, uri: str, namespace: str, store_root: str) -> Refusal | None:
    """A store URI the operator itself is about to read for an object of `namespace`."""
    return _in_store_only(field, uri, namespace, Rules(store_root=store_root))


def refused(body: dict[str, Any], refusal: Refusal, **status: Any) -> Decision:
    """What a controller does with a refused reference: Ready=False naming the field, a Warning
    Event (once per message), no child; nothing more until the spec changes."""
    decision = Decision(done=True)
    decision.conditions.append(Cond(READY, FALSE, refusal.reason, refusal.message))
    decision.status.update(status)
    conditions = (body.get("status") or {}).get("conditions") or []
    previous: dict[str, Any] = next((c for c in conditions if c.get("type") == READY), {})
    if (previous.get("reason"), previous.get("message")) != (refusal.reason, refusal.message):
        decision.warn(refusal.reason, refusal.message)
    return decision


def namespace_of(uri: str, store_root: str) -> str | None:
    """The namespace whose part of the store `uri` is in (`<area>/<namespace>/...`, after
    normalising); None for a URI outside the store or in none of its areas."""
    scheme, rest = _split(uri)
    store_scheme, store_location = _store_location(store_root)
    if scheme != store_scheme or scheme not in ("file", "s3"):
        return None
    location = _normal(rest) if scheme == "file" else _normal(rest).strip("/")
    relative = _within(location, store_location)
    segments = [s for s in (relative or "").split("/") if s]
    return segments[1] if len(segments) >= 2 and segments[0] in AREAS else None


def namespace_roots(store_root: str, namespace: str) -> list[str]:
    """The local directories of the namespace's part of a file:// store ([] on S3)."""
    scheme, location = _store_location(store_root)
    if scheme != "file":
        return []
    return [f"{location.rstrip('/')}/{area}/{namespace}" for area in AREAS]


def escaped(field: str, path: str, namespace: str) -> Refusal:
    """A path the operator was about to read that links out of the namespace's part."""
    return Refusal(
        field,
        reasons.OUTSIDE_NAMESPACE,
        f"{field}: {path} is a symlink that leads outside namespace {namespace}'s part of "
        "the store; it is not read",
    )
