"""BatchPrediction: resolve the model and the input, run one Indexed Job per generation, and
report partitions done, rows, rows/s, the output and its lineage.

The model (a ModelVersion, or the one a ModelDeployment serves) and the input version are
pinned in the status when the run starts (`status.runGeneration`, `status.lineage`): a rollout
or a new Dataset version during the run changes nothing about it. A new spec generation is a
new run; a finished run is never redone for the same generation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.batchprediction import BatchPrediction, BatchPredictionSpec
from ..api.conditions import FALSE, READY, TRUE
from ..api.kinds import BATCH_PREDICTION
from ..api.phases import FINISHED, Phase
from ..artifacts import paths
from ..config import OperatorConfig
from . import confinement, outage, pods, reasons
from .conditions import Cond, parse_time, rfc3339
from .dataset import version_entry
from .decision import Decision
from .indexed import index_counts, indexed_job_manifest, note_retries, parse_indexes
from .jobs import MISSING, JobOutcome, JobSettings
from .names import child_name
from .ownership import child_labels, owner_reference


@dataclass(frozen=True)
class BatchWorld:
    """What a BatchPrediction's reconcile observed."""

    model_version: dict[str, Any] | None = None  # the one to score with (pinned, or resolved)
    deployment: dict[str, Any] | None = None  # with spec.model.deploymentRef, before pinning
    dataset: dict[str, Any] | None = None  # with spec.input.datasetRef
    job: dict[str, Any] | None = None
    outcome: JobOutcome = field(default_factory=lambda: JobOutcome(MISSING))
    results: list[dict[str, Any] | None] | None = None  # per index, once the Job succeeded/failed


@dataclass(frozen=True)
class Inputs:
    """The resolved run: the model's artifact and the input's location and identity."""

    model_version: str
    artifact_uri: str
    sha256: str
    signature: dict[str, Any]
    task: str
    input_uri: str
    input_format: str
    dataset: dict[str, str] | None  # {name, version}


def generation(body: dict[str, Any]) -> int:
    return int(body["metadata"].get("generation") or 1)


def pinned(body: dict[str, Any]) -> dict[str, Any] | None:
    """The lineage this generation's run started with, if it started."""
    status = body.get("status") or {}
    if status.get("runGeneration") == generation(body) and status.get("lineage"):
        return dict(status["lineage"])
    return None


def finished(body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    return pinned(body) is not None and status.get("phase") in FINISHED


def job_name(body: dict[str, Any]) -> str:
    return child_name(body["metadata"]["name"], "predict", generation(body))


def wanted_model_version(body: dict[str, Any], deployment: dict[str, Any] | None) -> str | None:
    """The ModelVersion to read: the pinned one, the referenced one, or the one served."""
    lineage = pinned(body)
    if lineage:
        return str(lineage["modelVersion"])
    model = body["spec"]["model"]
    if model.get("modelVersionRef"):
        return str(model["modelVersionRef"]["name"])
    return ((deployment or {}).get("status") or {}).get("servingVersion")


def run_key(spec: BatchPredictionSpec, inputs: Inputs) -> str:
    """The run's identity: the same model, input and partitioning give the same output."""
    identity = {
        "model": inputs.sha256,
        "input": inputs.dataset or {"uri": inputs.input_uri, "format": inputs.input_format},
        "partitions": spec.partitions,
        "idColumns": spec.id_columns,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def output_uri(config: OperatorConfig, body: dict[str, Any], run: str) -> str:
    meta = body["metadata"]
    return paths.under(config.store_uri, paths.batch_output(meta["namespace"], meta["name"], run))


def resolve(
    body: dict[str, Any], spec: BatchPredictionSpec, world: BatchWorld
) -> tuple[Inputs | None, tuple[str, str] | None]:
    """(inputs, None), or (None, (reason, message)) while something is missing."""
    lineage = pinned(body)
    if spec.model.deployment_ref and not lineage:
        name = spec.model.deployment_ref.name
        if world.deployment is None:
            return None, (reasons.DEPLOYMENT_NOT_FOUND, f"ModelDeployment {name} not found")
        if not (world.deployment.get("status") or {}).get("servingVersion"):
            return None, (reasons.NOT_SERVING, f"ModelDeployment {name} serves no version yet")
    wanted = wanted_model_version(body, world.deployment)
    mv = world.model_version
    if mv is None:
        return None, (reasons.MODEL_VERSION_NOT_FOUND, f"ModelVersion {wanted} not found")
    if (mv.get("status") or {}).get("phase") != Phase.READY:
        return None, (
            reasons.MODEL_VERSION_NOT_READY,
            f"ModelVersion {wanted} is not verified yet "
            f"({(mv.get('status') or {}).get('phase') or 'Pending'})",
        )
    mv_spec = mv["spec"]
    dataset_lineage = None
    if spec.input.dataset_ref:
        ref = spec.input.dataset_ref
        if world.dataset is None:
            return None, (reasons.DATASET_NOT_FOUND, f"Dataset {ref.name} not found")
        wanted_version = (lineage or {}).get("dataset", {}).get("version") or ref.version
        entry = version_entry(world.dataset, wanted_version)
        if entry is None:
            if wanted_version:
                return None, (
                    reasons.DATASET_VERSION_NOT_FOUND,
                    f"Dataset {ref.name} has no version {wanted_version}",
                )
            return None, (reasons.DATASET_NOT_READY, f"Dataset {ref.name} has no version yet")
        input_uri, input_format = entry["snapshotUri"], "parquet"
        dataset_lineage = {"name": ref.name, "version": entry["version"]}
    else:
        assert spec.input.source is not None  # CEL: exactly one of datasetRef or source
        input_uri, input_format = spec.input.source.uri, spec.input.source.format
    inputs = Inputs(
        model_version=mv["metadata"]["name"],
        artifact_uri=mv_spec["artifact"]["uri"],
        sha256=mv_spec["artifact"]["sha256"],
        signature=mv_spec["signature"],
        task=mv_spec["task"],
        input_uri=input_uri,
        input_format=input_format,
        dataset=dataset_lineage,
    )
    return inputs, None


def predict_job(
    body: dict[str, Any], spec: BatchPredictionSpec, inputs: Inputs, run: str,
    config: OperatorConfig,
) -> dict[str, Any]:  # fmt: skip
    meta = body["metadata"]
    args = [
        "predict",
        "--name", meta["name"],
        "--model", f"{inputs.model_version}={inputs.artifact_uri}@{inputs.sha256}",
        "--signature-json", json.dumps(inputs.signature, separators=(",", ":"), sort_keys=True),
        "--task", inputs.task,
        "--input", inputs.input_uri,
        "--format", inputs.input_format,
        "--partitions", str(spec.partitions),
        "--batch-rows", str(spec.batch_rows),
        "--output-uri", output_uri(config, body, run),
    ]  # fmt: skip
    for column in spec.id_columns:
        args += ["--id-column", column]
    settings = JobSettings(
        image=spec.image or config.image,
        args=args,
        resources=spec.resources.wire() if spec.resources else None,
        node_selector=spec.node_selector,
        tolerations=[t.wire() for t in spec.tolerations] if spec.tolerations else None,
        active_deadline_seconds=spec.active_deadline_seconds,
        writes=pods.WRITES_BATCH,
    )
    return indexed_job_manifest(
        job_name(body),
        meta["namespace"],
        child_labels(BATCH_PREDICTION.kind, meta["name"]),
        owner_reference(body),
        settings,
        config,
        completions=spec.partitions,
        parallelism=spec.parallelism,
        backoff_limit_per_index=spec.backoff_limit_per_index,
    )


def decide(
    body: dict[str, Any], world: BatchWorld, now: datetime, config: OperatorConfig
) -> Decision:
    decision = Decision()
    if finished(body):
        # The Job controller may count a failed attempt only after the Job finished.
        if world.job is not None:
            note_retries(decision, body, world.job)
        decision.done = True
        return decision
    spec = BatchPrediction.model_validate({"spec": body["spec"]}).spec
    # The ModelVersion and the Dataset are confined by their own controllers (a refused one is
    # never Ready, and resolve() waits for Ready); the input source is this object's.
    namespace, rules = body["metadata"]["namespace"], confinement.rules_of(config)
    refusal = confinement.batch_refusal(body["spec"], namespace, rules)
    if refusal is not None:
        return confinement.refused(body, refusal, phase=Phase.FAILED, failureReason=refusal.reason)
    inputs, waiting = resolve(body, spec, world)
    if inputs is None:
        assert waiting is not None
        return wait(body, *waiting)
    status = body.get("status") or {}
    lineage = pinned(body)
    run = str(status["run"]) if lineage and status.get("run") else run_key(spec, inputs)
    if world.outcome.state == MISSING:
        return start(body, spec, inputs, run, now, config)
    return follow(body, spec, world, now)


def wait(body: dict[str, Any], reason: str, message: str) -> Decision:
    """Something the run needs is missing: Ready=False naming it, one Event per new reason."""
    decision = Decision()
    decision.status.update(phase=Phase.PENDING, failureReason=reason)
    decision.conditions.append(Cond(READY, FALSE, reason, message))
    if _ready_reason(body) != reason:
        decision.warn(reason, message)
    return decision


def _ready_reason(body: dict[str, Any]) -> str | None:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == READY:
            return str(condition.get("reason"))
    return None


def start(
    body: dict[str, Any], spec: BatchPredictionSpec, inputs: Inputs, run: str, now: datetime,
    config: OperatorConfig,
) -> Decision:  # fmt: skip
    decision = Decision()
    job = predict_job(body, spec, inputs, run, config)
    decision.create.append(job)
    lineage: dict[str, Any] = {"modelVersion": inputs.model_version, "modelSha256": inputs.sha256}
    if inputs.dataset:
        lineage["dataset"] = inputs.dataset
    else:
        lineage["sourceUri"] = inputs.input_uri
    decision.status.update(
        phase=Phase.PENDING,
        jobName=job["metadata"]["name"],
        run=run,
        runGeneration=generation(body),
        partitions=spec.partitions,
        partitionsDone=0,
        partitionsFailed=0,
        podFailures=0,
        progress=f"0/{spec.partitions}",
        rows=None,
        rowsPerSecond=None,
        outputUri=output_uri(config, body, run),
        lineage=lineage,
        startedAt=(body.get("status") or {}).get("startedAt") if pinned(body) else rfc3339(now),
        completedAt=None,
        failureReason=None,
    )
    message = (
        f"Indexed Job {job['metadata']['name']}: {spec.partitions} partition(s) scored by "
        f"{inputs.model_version}"
    )
    decision.conditions.append(Cond(READY, FALSE, reasons.PREDICTING, message))
    decision.note(reasons.JOB_CREATED, message)
    return decision


def follow(
    body: dict[str, Any], spec: BatchPredictionSpec, world: BatchWorld, now: datetime
) -> Decision:
    decision = Decision()
    total = spec.partitions
    done, failed, _ = index_counts(world.job)
    decision.status.update(partitionsDone=done, partitionsFailed=failed, progress=f"{done}/{total}")
    note_retries(decision, body, world.job)
    state = world.outcome.state
    if state in (Phase.PENDING, Phase.RUNNING):
        running = state == Phase.RUNNING or done > 0
        decision.status["phase"] = Phase.RUNNING if running else Phase.PENDING
        decision.conditions.append(
            Cond(READY, FALSE, reasons.PREDICTING, f"{done}/{total} partitions done")
        )
        return decision
    results = world.results or []
    down = next((m for m in map(outage.unread, results) if m is not None), None)
    if down is not None:  # the Job finished; a partition's result cannot be read yet
        decision.status["phase"] = Phase.RUNNING
        return outage.hold(decision, body.get("status") or {}, down)
    decision.done = True
    decision.status["completedAt"] = rfc3339(now)
    if state == Phase.SUCCEEDED:
        missing = [i for i, r in enumerate(results) if not r or not r.get("ok")]
        if len(results) != total or missing:
            where = ", ".join(map(str, missing)) or "all"
            message = f"the Job succeeded but partition result(s) {where} are missing"
            return failed_run(decision, reasons.RESULT_MISSING, message)
        return succeeded(decision, world, results)
    failed_indexes = sorted(
        parse_indexes(((world.job or {}).get("status") or {}).get("failedIndexes"))
    )
    reported = [r for i, r in enumerate(results) if i in failed_indexes and r and not r.get("ok")]
    reason = (reported[0].get("reason") if reported else None) or (
        world.outcome.reason if world.outcome.reason == reasons.OOM_KILLED
        else reasons.PREDICTION_FAILED
    )  # fmt: skip
    detail = (reported[0].get("error") if reported else None) or world.outcome.message
    which = ", ".join(map(str, failed_indexes)) or "?"
    message = (
        f"partition(s) {which} of {total} failed after "
        f"{spec.backoff_limit_per_index + 1} attempt(s)"
        + (f": {detail}" if detail else f" ({world.outcome.reason})")
    )
    return failed_run(decision, str(reason), message)


def succeeded(
    decision: Decision, world: BatchWorld, results: list[dict[str, Any] | None]
) -> Decision:
    rows = sum(int((r or {}).get("rows") or 0) for r in results)
    started = parse_time(world.outcome.start_time)
    completed = parse_time(world.outcome.completion_time)
    seconds = (completed - started).total_seconds() if started and completed else 0.0
    if seconds <= 0:  # timestamps have whole seconds: the slowest partition's own time
        seconds = max(float((r or {}).get("seconds") or 0) for r in results)
    decision.status.update(
        phase=Phase.SUCCEEDED,
        rows=rows,
        rowsPerSecond=round(rows / seconds, 1) if seconds > 0 else None,
        failureReason=None,
    )
    message = f"{len(results)} partition(s), {rows} rows"
    decision.conditions.append(Cond(READY, TRUE, reasons.PREDICTED, message))
    decision.note(reasons.PREDICTED, message)
    return decision


def failed_run(decision: Decision, reason: str, message: str) -> Decision:
    decision.status.update(phase=Phase.FAILED, failureReason=reason)
    decision.conditions.append(Cond(READY, FALSE, reason, message))
    decision.warn(reason, message)
    return decision
