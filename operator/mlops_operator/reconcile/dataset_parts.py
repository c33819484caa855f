"""A partitioned Dataset's run (`spec.partitions` set): an Indexed Job profiles the source one
partition per index (`mlops-operator profile-part`), then a merge Job (`profile-merge`) turns
the partitions' partials into the version. Both have deterministic names per generation and
run; the partitions' outputs are content-addressed and the merge only reads them, so a retried
index, a retried merge or an operator restart lands on the same version.

The merge is a Job of its own rather than index 0 waiting for the others: an index that waits
holds a pod and a node slot while it does, and a retried index 0 would redo its own partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api.conditions import FALSE, READY
from ..api.dataset import Dataset, DatasetSpec
from ..api.kinds import DATASET
from ..api.phases import Phase
from ..artifacts import paths
from ..config import OperatorConfig
from . import pods, reasons
from .conditions import Cond
from .decision import Decision
from .indexed import index_counts, indexed_job_manifest, note_retries, parse_indexes
from .jobs import MISSING, JobOutcome, JobSettings, job_manifest
from .names import child_name
from .ownership import child_labels, owner_reference

DEFAULT_BACKOFF_PER_INDEX = 2
DEFAULT_BATCH_ROWS = 1 << 18


@dataclass(frozen=True)
class PartsWorld:
    """What the handler observed of a partitioned run."""

    job: dict[str, Any] | None = None  # the Indexed Job, raw (its completed/failed indexes)
    outcome: JobOutcome = field(default_factory=lambda: JobOutcome(MISSING))
    merge: JobOutcome = field(default_factory=lambda: JobOutcome(MISSING))
    result: dict[str, Any] | None = None  # the merge's result, once it finished
    failed: dict[str, Any] | None = None  # a failed partition's report, once the Job failed


def partitioned(body: dict[str, Any]) -> bool:
    return bool((body.get("spec") or {}).get("partitions"))


def _run_key(body: dict[str, Any]) -> tuple[int, int]:
    status = body.get("status") or {}
    return int(body["metadata"].get("generation") or 1), int(status.get("profileRun") or 0)


def parts_job_name(body: dict[str, Any]) -> str:
    return child_name(body["metadata"]["name"], "parts", *_run_key(body))


def merge_job_name(body: dict[str, Any]) -> str:
    return child_name(body["metadata"]["name"], "merge", *_run_key(body))


def merge_result_uri(config: OperatorConfig, body: dict[str, Any]) -> str:
    meta = body["metadata"]
    path = paths.job_result(meta["namespace"], DATASET.plural, meta["name"], merge_job_name(body))
    return paths.under(config.store_uri, path)


def partial_uri(config: OperatorConfig, body: dict[str, Any], index: int) -> str:
    meta = body["metadata"]
    path = paths.dataset_partial(meta["namespace"], meta["name"], parts_job_name(body), index)
    return paths.under(config.store_uri, path)


def _spec(body: dict[str, Any]) -> DatasetSpec:
    return Dataset.model_validate({"spec": body["spec"]}).spec


def _common_args(body: dict[str, Any], spec: DatasetSpec, config: OperatorConfig) -> list[str]:
    meta = body["metadata"]
    return [
        "--namespace", meta["namespace"],
        "--name", meta["name"],
        "--spec", spec.model_dump_json(by_alias=True, exclude_none=True),
        "--store", config.store_uri,
        "--run", parts_job_name(body),
        "--partitions", str(spec.partitions),
    ]  # fmt: skip


def parts_job(body: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    """One index per partition; the Job controller retries a failed index alone."""
    meta, spec = body["metadata"], _spec(body)
    assert spec.partitions is not None
    args = ["profile-part", *_common_args(body, spec, config),
            "--batch-rows", str(spec.batch_rows or DEFAULT_BATCH_ROWS)]  # fmt: skip
    return indexed_job_manifest(
        parts_job_name(body),
        meta["namespace"],
        child_labels(DATASET.kind, meta["name"]),
        owner_reference(body),
        JobSettings(image=spec.image or config.image, args=args, writes=pods.WRITES_PROFILE),
        config,
        completions=spec.partitions,
        parallelism=spec.parallelism,
        backoff_limit_per_index=(
            DEFAULT_BACKOFF_PER_INDEX
            if spec.backoff_limit_per_index is None
            else spec.backoff_limit_per_index
        ),
    )


def merge_job(body: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    meta, spec = body["metadata"], _spec(body)
    args = ["profile-merge", *_common_args(body, spec, config),
            "--result-uri", merge_result_uri(config, body)]  # fmt: skip
    settings = JobSettings(
        image=spec.image or config.image, args=args, backoff_limit=2, writes=pods.WRITES_PROFILE
    )
    return job_manifest(
        merge_job_name(body),
        meta["namespace"],
        child_labels(DATASET.kind, meta["name"]),
        owner_reference(body),
        settings,
        config,
    )


@dataclass
class Step:
    """The run's progress; once `finished`, its outcome and result (for dataset.decide)."""

    decision: Decision
    finished: bool = False
    outcome: JobOutcome = field(default_factory=lambda: JobOutcome(MISSING))
    result: dict[str, Any] | None = None


def step(body: dict[str, Any], world: PartsWorld, config: OperatorConfig) -> Step:
    status = body.get("status") or {}
    total = int(body["spec"]["partitions"])
    has_version = bool(status.get("version"))
    decision = Decision()
    done, _, _ = index_counts(world.job)
    decision.status.update(
        jobName=parts_job_name(body), partitions=total, partitionsDone=done,
        progress=f"{done}/{total}",
    )  # fmt: skip
    note_retries(decision, body, world.job)

    def waiting(message: str) -> Step:
        if not has_version:
            decision.status["phase"] = Phase.PROFILING
            decision.conditions.append(Cond(READY, FALSE, reasons.PROFILING, message))
        return Step(decision)

    if world.outcome.state == MISSING:
        job = parts_job(body, config)
        decision.create.append(job)
        decision.status.update(partitionsDone=0, progress=f"0/{total}", podFailures=0)
        decision.note(
            reasons.JOB_CREATED,
            f"Indexed Job {job['metadata']['name']}: {total} partition(s) to profile",
        )
        return waiting(f"profiling {total} partition(s)")
    if world.outcome.state in (Phase.PENDING, Phase.RUNNING):
        return waiting(f"{done}/{total} partitions profiled")
    if world.outcome.state == Phase.FAILED:
        failed = sorted(parse_indexes(((world.job or {}).get("status") or {}).get("failedIndexes")))
        which = ", ".join(map(str, failed)) or "?"
        report = world.failed or {}
        reason = str(report.get("reason") or (
            world.outcome.reason if world.outcome.reason == reasons.OOM_KILLED
            else reasons.PROFILE_FAILED
        ))  # fmt: skip
        detail = report.get("error") or world.outcome.message or world.outcome.reason
        message = f"partition(s) {which} of {total} failed: {detail}"
        return Step(
            decision, True, world.outcome, {"ok": False, "reason": reason, "error": message}
        )
    decision.status["jobName"] = merge_job_name(body)
    if world.merge.state == MISSING:
        job = merge_job(body, config)
        decision.create.append(job)
        decision.note(reasons.JOB_CREATED, f"merge Job {job['metadata']['name']} created")
        return waiting(f"{total}/{total} partitions profiled; merging")
    if world.merge.state in (Phase.PENDING, Phase.RUNNING):
        return waiting(f"{total}/{total} partitions profiled; merging")
    return Step(decision, True, world.merge, world.result)
