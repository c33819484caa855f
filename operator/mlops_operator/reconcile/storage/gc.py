"""Garbage collection of the store, decided: what no live object references.

The store's files of one namespace are grouped into *entries* (`classify`): a dataset
version directory, a model artifact directory, a Job result file, a run record, a rejected
data report, a production window, an evaluation result, the samples of one deployment's
version, the labels of a deployment, a BatchPrediction run's output. What live objects
reference (`references`) is read from every object of the operator's kinds, of every
namespace (any string naming a path under the store root), plus what the layout implies (a
Dataset's version and history, a ModelVersion's lineage, a live Job's result file, a live
deployment's labels and its versions' samples, a live BatchPrediction's output).

`choose` removes an entry only when nothing references it *and* its newest file is older than
the grace period (a Job may have written what its object does not name yet); everything
else is kept with the reason. Entries of kinds GC does not own (the parts of partitioned
snapshots, anything unknown) are never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Entry kinds (also the `kind` label of the store series).
DATASET_VERSION = "dataset-version"
MODEL = "model"
JOB_RESULT = "job-result"
RUN = "run"
REPORT = "report"
PRODUCTION_WINDOW = "production-window"
EVALUATION = "evaluation"
SAMPLES = "samples"
LABELS = "labels"
BATCH_OUTPUT = "batch-output"
OTHER = "other"  # never collected
COLLECTED = frozenset(
    {DATASET_VERSION, MODEL, JOB_RESULT, RUN, REPORT, PRODUCTION_WINDOW, EVALUATION,
     SAMPLES, LABELS, BATCH_OUTPUT}
)  # fmt: skip
KINDS = (*sorted(COLLECTED), OTHER)
_SHA = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class FileRef:
    """One file of the store (relative path, size, modification time)."""

    path: str
    size: int
    modified: datetime | None


@dataclass
class Entry:
    kind: str
    path: str  # the unit removed: a directory or a file, relative to the store root
    owner: str  # the object it belongs to (Dataset, model, deployment, monitor, ...)
    key: str  # version, job, window, ...
    bytes: int = 0
    objects: int = 0
    modified: datetime | None = None  # the newest file's

    def add(self, ref: FileRef) -> None:
        self.bytes += ref.size
        self.objects += 1
        if ref.modified is not None and (self.modified is None or ref.modified > self.modified):
            self.modified = ref.modified


@dataclass(frozen=True)
class Choice:
    entry: Entry
    remove: bool
    reason: str  # why it goes, or why it stays


@dataclass
class References:
    """What live objects hold: paths (relative to the store root) and names per kind."""

    paths: set[str] = field(default_factory=set)
    dataset_versions: set[tuple[str, str]] = field(default_factory=set)  # (dataset, version)
    jobs: set[str] = field(default_factory=set)  # live Jobs (result files are named after them)
    deployments: set[str] = field(default_factory=set)
    model_versions: set[str] = field(default_factory=set)
    batch_predictions: set[str] = field(default_factory=set)

    def mentions(self, path: str) -> str | None:
        """A referenced path inside `path` or holding it (None: none)."""
        prefix = path.rstrip("/") + "/"
        for ref in self.paths:
            if ref == path or ref.startswith(prefix) or path.startswith(ref.rstrip("/") + "/"):
                return ref
        return None


def _is_sha(value: str) -> bool:
    return len(value) == 64 and set(value) <= _SHA


def classify(path: str) -> tuple[str, str, str, str]:
    """(kind, unit path, owner, key) of a file of the store (a path relative to the root)."""
    parts = path.split("/")
    top = parts[0]
    if len(parts) >= 5 and top == "datasets":
        ds, third = parts[2], parts[3]
        if _is_sha(third):
            return DATASET_VERSION, "/".join(parts[:4]), ds, third
        if third == "rejected" and len(parts) >= 6:
            return REPORT, "/".join(parts[:5]), ds, parts[4]
        return OTHER, "/".join(parts[:4]), ds, third
    if len(parts) >= 5 and top == "models" and _is_sha(parts[3]):
        return MODEL, "/".join(parts[:4]), parts[2], parts[3]
    if len(parts) == 5 and top == "runs" and parts[4] == "result.json":
        return RUN, "/".join(parts[:4]), parts[2], parts[3]
    if len(parts) == 5 and top == "runs" and parts[4].endswith(".json"):
        return JOB_RESULT, path, parts[3], parts[4].removesuffix(".json")
    if len(parts) >= 5 and top == "production":
        return PRODUCTION_WINDOW, "/".join(parts[:4]), parts[2], parts[3]
    if len(parts) == 4 and top == "evaluations" and parts[3].endswith(".json"):
        return EVALUATION, path, parts[2], parts[3].removesuffix(".json")
    if len(parts) >= 5 and top == "samples":
        return SAMPLES, "/".join(parts[:4]), parts[2], parts[3]
    if len(parts) >= 4 and top == "labels":
        return LABELS, "/".join(parts[:3]), parts[2], ""
    if len(parts) >= 5 and top == "predictions":
        return BATCH_OUTPUT, "/".join(parts[:4]), parts[2], parts[3]
    return OTHER, "/".join(parts[:3]), parts[2] if len(parts) > 2 else "", ""


def entries(files: Iterable[FileRef]) -> list[Entry]:
    """The files of one namespace grouped into entries, in path order."""
    found: dict[str, Entry] = {}
    for ref in files:
        kind, unit, owner, key = classify(ref.path)
        entry = found.setdefault(unit, Entry(kind, unit, owner, key))
        entry.add(ref)
    return [found[k] for k in sorted(found)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def references(
    namespace: str,
    objects: Iterable[dict[str, Any]],
    jobs: Iterable[str],
    store_root: str,
) -> References:
    """What the live objects hold in `namespace`'s part of the store. `objects`: bodies of
    the operator's kinds in every namespace (a path named anywhere is kept); `jobs`: names
    of the namespace's live Jobs."""
    refs = References(jobs=set(jobs))
    root = store_root.rstrip("/") + "/"
    for body in objects:
        for text in _strings({"spec": body.get("spec"), "status": body.get("status")}):
            if text.startswith(root):
                refs.paths.add(text[len(root) :].split("?", 1)[0].rstrip("/"))
        meta = body.get("metadata") or {}
        if meta.get("namespace") != namespace:
            continue
        kind, name = body.get("kind"), meta.get("name", "")
        spec, status = body.get("spec") or {}, body.get("status") or {}
        if kind == "Dataset":
            for version in [status.get("version"), *(h.get("version") for h in
                                                     status.get("history") or [])]:  # fmt: skip
                if version:
                    refs.dataset_versions.add((name, str(version)))
        elif kind == "ModelVersion":
            refs.model_versions.add(name)
            lineage = (spec.get("lineage") or {}).get("dataset") or {}
            if lineage.get("name") and lineage.get("version"):
                refs.dataset_versions.add((lineage["name"], str(lineage["version"])))
        elif kind == "TrainingJob":
            dataset = (spec.get("datasetRef") or {}).get("name")
            if dataset and status.get("datasetVersion"):
                refs.dataset_versions.add((dataset, str(status["datasetVersion"])))
        elif kind == "ModelDeployment":
            refs.deployments.add(name)
        elif kind == "BatchPrediction":
            refs.batch_predictions.add(name)
    return refs


def why_kept(entry: Entry, refs: References) -> str | None:
    """Why a live object holds the entry (None: nothing does)."""
    if entry.kind not in COLLECTED:
        return "not managed by garbage collection"
    named = refs.mentions(entry.path)
    if named is not None:
        return f"referenced: {named}"
    kind, owner, key = entry.kind, entry.owner, entry.key
    if kind == DATASET_VERSION and (owner, key) in refs.dataset_versions:
        return f"Dataset {owner} history or a lineage holds version {key[:12]}"
    if kind == JOB_RESULT and key in refs.jobs:
        return f"Job {key} still exists"
    if kind == LABELS and owner in refs.deployments:
        return f"ModelDeployment {owner} exists"
    if kind == SAMPLES and owner in refs.deployments and key in refs.model_versions:
        return f"ModelDeployment {owner} and ModelVersion {key} exist"
    if kind == EVALUATION and owner in refs.deployments and key in refs.model_versions:
        return f"ModelDeployment {owner} and ModelVersion {key} exist"
    if kind == BATCH_OUTPUT and owner in refs.batch_predictions:
        return f"BatchPrediction {owner} exists"
    return None


def choose(
    found: Iterable[Entry], refs: References, now: datetime, grace: timedelta
) -> list[Choice]:
    """Every entry with its fate: removed only when unreferenced and older than `grace`."""
    out = []
    for entry in found:
        kept = why_kept(entry, refs)
        if kept is not None:
            out.append(Choice(entry, False, kept))
        elif entry.modified is None or entry.modified + grace > now:
            out.append(Choice(entry, False, f"unreferenced, within the grace period ({grace})"))
        else:
            out.append(Choice(entry, True, "unreferenced"))
    return out


def report(namespace: str, choices: list[Choice], *, dry_run: bool) -> str:
    """A plain-text table of a sweep: what goes (or would go) and why the rest stays."""
    verb = "would remove" if dry_run else "removed"
    removed = [c for c in choices if c.remove]
    freed = sum(c.entry.bytes for c in removed)
    lines = [
        f"namespace {namespace}: {verb} {len(removed)} of {len(choices)} entries, "
        f"{sum(c.entry.objects for c in removed)} objects, {freed} bytes",
        f"{'ACTION':<13} {'KIND':<18} {'BYTES':>9}  {'PATH':<60} REASON",
    ]
    for c in sorted(choices, key=lambda c: (not c.remove, c.entry.kind, c.entry.path)):
        action = verb if c.remove else "keep"
        lines.append(
            f"{action:<13} {c.entry.kind:<18} {c.entry.bytes:>9}  {c.entry.path:<60} {c.reason}"
        )
    return "\n".join(lines)
