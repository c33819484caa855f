"""TrainingJob: wait for the Dataset, run one training Job per generation, register the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import API_VERSION
from ..api.conditions import FALSE, READY, TRUE
from ..api.kinds import MODEL_VERSION, TRAINING_JOB
from ..api.labels import MODEL_LABEL, PRODUCTION_WINDOW, TRAINED_BY_UID
from ..api.modelversion import ProductionWindow
from ..api.phases import FINISHED, Phase
from ..api.trainingjob import TrainingJob, TrainingJobSpec
from ..artifacts import paths
from ..config import OperatorConfig
from . import outage, reasons
from .conditions import Cond, clip, is_true
from .custom_trainer import add_trainer, trainer_image
from .dataset import version_entry
from .decision import Decision
from .jobs import MISSING, JobOutcome, JobSettings, job_manifest
from .names import child_name
from .ownership import child_labels, owner_reference
from .search.decide import SearchWorld, decide_search
from .search.jobs import trial_job
from .search.space import space_errors

# While a ModelVersion number is being claimed: look again this soon if no event comes
# (another TrainingJob may have taken the number; the API server's name uniqueness decides).
REGISTER_RETRY_SECONDS = 2.0

Validate = Callable[[str, dict[str, Any]], list[str]]


@dataclass(frozen=True)
class TrainingWorld:
    """What a TrainingJob's reconcile observed."""

    dataset: dict[str, Any] | None
    outcome: JobOutcome = field(default_factory=lambda: JobOutcome(MISSING))
    result: dict[str, Any] | None = None  # the Job's result file, once it finished
    model_versions: list[dict[str, Any]] = field(default_factory=list)  # of the namespace
    search: SearchWorld | None = None  # with spec.search: the trials
    # The digest of the image that trained the run being registered (its finished pod's
    # status), when the pod is still there to say.
    image_digest: str | None = None


def finished(body: dict[str, Any]) -> bool:
    """This generation's outcome is recorded: nothing to observe until the spec changes."""
    generation = int(body["metadata"].get("generation") or 1)
    return _finished(body.get("status") or {}, generation)


def decide(
    body: dict[str, Any], world: TrainingWorld, validate: Validate, config: OperatorConfig
) -> Decision:
    waiting, entry = decide_before_job(body, world.dataset, validate)
    if waiting is not None or entry is None:
        return waiting or Decision()
    if body["spec"].get("search"):
        return _decide_search(body, entry, world, config)
    job = train_job(body, entry, config)
    decision = decide_job(body, entry, world.outcome, world.result, job)
    if outage.unread(world.result) is not None:
        return decision  # held open: the result is read again before anything is registered
    if not decision.done and world.outcome.state == Phase.SUCCEEDED and world.result:
        register(
            decision, body, world.result, world.model_versions, trainer_image(job),
            digest_lineage(world.image_digest),
        )  # fmt: skip
    return decision


def _decide_search(
    body: dict[str, Any], entry: dict[str, Any], world: TrainingWorld, config: OperatorConfig
) -> Decision:
    def train(
        body: dict[str, Any], *, name: str, uid: str, result: str, extra: list[str]
    ) -> dict[str, Any]:
        return train_job(body, entry, config, name=name, uid=uid, result=result, extra=extra)

    def build(number: int, params: dict[str, Any], extra: list[str]) -> dict[str, Any]:
        return trial_job(body, config.store_uri, number, params, extra, train)

    def claim(decision: Decision, result: dict[str, Any], lineage: dict[str, Any]) -> None:
        image = trainer_image(build(0, {}, []))
        lineage = {**lineage, **digest_lineage(world.image_digest)}
        register(decision, body, result, world.model_versions, image, lineage)

    decision = decide_search(body, world.search or SearchWorld(), build, claim)
    decision.status["datasetVersion"] = entry["version"]
    return decision


def register(
    decision: Decision,
    body: dict[str, Any],
    result: dict[str, Any],
    existing: list[dict[str, Any]],
    image: str,
    lineage: dict[str, Any] | None = None,
) -> None:
    """Claim the next ModelVersion number, or finish once our ModelVersion is there."""
    already = registered_by(existing, body)
    if already is not None:
        name = str(already["metadata"]["name"])
        succeeded(decision, name)
        decision.note(reasons.MODEL_REGISTERED, f"registered ModelVersion {name}")
        return
    version = next_version(existing, body["spec"]["model"])
    labels = child_labels(TRAINING_JOB.kind, body["metadata"]["name"])
    manifest = model_version_manifest(body, result, version, labels, image)
    manifest["spec"]["lineage"].update(lineage or {})
    decision.create.append(manifest)
    if result.get("trackingError"):
        decision.warn(
            reasons.TRACKING_FAILED,
            clip(f"MLflow tracking failed (the run is recorded in the store): "
                 f"{result['trackingError']}"),
        )  # fmt: skip
    decision.look_again_in(REGISTER_RETRY_SECONDS)


def digest_lineage(digest: str | None) -> dict[str, Any]:
    return {"imageDigest": digest} if digest else {}


def mlflow_lineage(result: dict[str, Any]) -> dict[str, Any]:
    """`{"mlflow": ...}` when the training pod registered its model in MLflow; {} otherwise."""
    registered = result.get("mlflowModelVersion") or {}
    if not registered.get("registeredModel") or not registered.get("version"):
        return {}
    keys = ("registeredModel", "version", "runId")
    return {"mlflow": {k: str(registered[k]) for k in keys if registered.get(k)}}


def train_job_name(body: dict[str, Any]) -> str:
    return child_name(body["metadata"]["name"], "train", body["metadata"].get("generation") or 1)


def result_uri(config: OperatorConfig, body: dict[str, Any]) -> str:
    meta = body["metadata"]
    path = paths.job_result(
        meta["namespace"], TRAINING_JOB.plural, meta["name"], train_job_name(body)
    )
    return paths.under(config.store_uri, path)


def spec_errors(
    spec: TrainingJobSpec, dataset: dict[str, Any] | None, validate_params: Callable[..., list[str]]
) -> tuple[str, str] | None:
    """Problems only the operator can see, before any Job starts: (reason, message)."""
    # A container's hyperparameters are its own business: handed over as given.
    errors = validate_params(spec.estimator, spec.hyperparameters) if spec.estimator else []
    if errors:
        return reasons.INVALID_HYPERPARAMETERS, "; ".join(errors)
    search_problem = space_errors(spec, validate_params)
    if search_problem:
        return reasons.INVALID_SEARCH_SPACE, search_problem
    schema = ((dataset or {}).get("spec") or {}).get("schema")
    if schema:
        names = {c["name"] for c in schema.get("columns", [])}
        if spec.target not in names:
            return (
                reasons.TARGET_NOT_IN_SCHEMA,
                f"target {spec.target!r} is not a column of Dataset "
                f"{dataset['metadata']['name']} (columns: {', '.join(sorted(names))})",  # type: ignore[index]
            )
        missing = sorted(set(spec.features or []) - names)
        if missing:
            return (
                reasons.TARGET_NOT_IN_SCHEMA,
                f"features not in the Dataset schema: {', '.join(missing)}",
            )
    return None


def train_job(
    body: dict[str, Any],
    dataset_version: dict[str, Any],
    config: OperatorConfig,
    *,
    name: str | None = None,
    uid: str | None = None,
    result: str | None = None,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    meta = body["metadata"]
    owner, labels = owner_reference(body), child_labels(TRAINING_JOB.kind, meta["name"])
    spec = TrainingJob.model_validate({"spec": body["spec"]}).spec
    args = [
        "train",
        "--namespace", meta["namespace"],
        "--name", meta["name"],
        "--uid", uid or meta["uid"],
        "--spec", spec.model_dump_json(by_alias=True, exclude_none=True),
        "--dataset-name", spec.dataset_ref.name,
        "--dataset-version", dataset_version["version"],
        "--snapshot-uri", dataset_version["snapshotUri"],
        "--profile-uri", dataset_version["profileUri"],
        "--store", config.store_uri,
        "--result-uri", result or result_uri(config, body),
        "--image", spec.image or config.image,
        *(extra or []),
    ]  # fmt: skip
    settings = JobSettings(
        image=spec.image or config.image,
        args=args,
        resources=spec.resources.wire() if spec.resources else None,
        node_selector=spec.node_selector,
        tolerations=[t.wire() for t in spec.tolerations] if spec.tolerations else None,
        backoff_limit=spec.backoff_limit,
        active_deadline_seconds=spec.active_deadline_seconds,
        ttl_seconds_after_finished=spec.ttl_seconds_after_finished,
    )
    job = job_manifest(
        name or train_job_name(body), meta["namespace"], labels, owner, settings, config
    )
    if config.mlflow_tracking_uri:
        tracking = {"name": "MLFLOW_TRACKING_URI", "value": config.mlflow_tracking_uri}
        container = job["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [*container["env"], tracking]
    if spec.container is not None:
        add_trainer(job, spec, dataset_version, config)
    return job


def _finished(status: dict[str, Any], generation: int) -> bool:
    return status.get("phase") in FINISHED and status.get("observedGeneration") == generation


def decide_before_job(
    body: dict[str, Any],
    dataset: dict[str, Any] | None,
    validate_params: Callable[..., list[str]],
) -> tuple[Decision | None, dict[str, Any] | None]:
    """Either a waiting/failed Decision, or the Dataset version entry to train on."""
    spec = TrainingJob.model_validate({"spec": body["spec"]}).spec
    generation = int(body["metadata"].get("generation") or 1)
    status = body.get("status") or {}
    decision = Decision()
    if _finished(status, generation):
        decision.done = True
        return decision, None
    problem = spec_errors(spec, dataset, validate_params)
    if problem:
        return _failed(decision, *problem), None
    if dataset is None:
        message = f"Dataset {spec.dataset_ref.name} not found; waiting for it"
        decision.status["phase"] = Phase.PENDING
        decision.conditions.append(Cond(READY, FALSE, reasons.DATASET_NOT_FOUND, message))
        return decision, None
    entry = version_entry(dataset, spec.dataset_ref.version)
    if (
        entry is None
        and spec.dataset_ref.version
        and is_true((dataset.get("status") or {}).get("conditions"), READY)
    ):
        return _failed(
            decision,
            reasons.DATASET_VERSION_NOT_FOUND,
            f"Dataset {spec.dataset_ref.name} has no version {spec.dataset_ref.version}",
        ), None
    ready = is_true((dataset.get("status") or {}).get("conditions"), READY)
    if entry is None or (not ready and not spec.dataset_ref.version):
        decision.status["phase"] = Phase.PENDING
        decision.conditions.append(
            Cond(READY, FALSE, reasons.DATASET_NOT_READY,
                 f"Dataset {spec.dataset_ref.name} is not Ready; waiting for it")
        )  # fmt: skip
        return decision, None
    return None, entry


def decide_job(
    body: dict[str, Any],
    entry: dict[str, Any],
    outcome: JobOutcome,
    result: dict[str, Any] | None,
    job: dict[str, Any],
) -> Decision:
    """Given the Dataset version to train on and the observed Job, what happens next."""
    decision = Decision()
    decision.status.update(jobName=train_job_name(body), datasetVersion=entry["version"])
    if outcome.state == MISSING:
        decision.create.append(job)
        decision.status["phase"] = Phase.PENDING
        decision.conditions.append(Cond(READY, FALSE, reasons.JOB_CREATED, "training Job created"))
        decision.note(reasons.JOB_CREATED, f"training Job {job['metadata']['name']} created")
        return decision
    decision.status.update(
        attempts=outcome.attempts,
        startTime=outcome.start_time,
        completionTime=outcome.completion_time,
    )
    if outcome.state in (Phase.PENDING, Phase.RUNNING):
        decision.status["phase"] = outcome.state
        decision.conditions.append(
            Cond(READY, FALSE, reasons.TRAINING, f"training Job is {outcome.state.lower()}")
        )
        return decision
    down = outage.unread(result)
    if down is not None:  # the Job finished; its result cannot be read yet: the run stays open
        decision.status["phase"] = Phase.RUNNING
        return outage.hold(decision, body.get("status") or {}, down)
    if outcome.state == Phase.FAILED:
        reason = (result or {}).get("reason") or outcome.reason or reasons.TRAINER_ERROR
        message = (result or {}).get("error") or outcome.message or f"training Job failed: {reason}"
        return _failed(decision, reason, message)
    if not result or not result.get("ok", True) or "metrics" not in result:
        return _failed(
            decision, reasons.RESULT_MISSING, "training Job succeeded but left no result"
        )
    decision.status["metrics"] = result["metrics"]
    if not result.get("accepted", False):
        failures = "; ".join(result.get("failures") or []) or "acceptance thresholds not met"
        return _failed(decision, reasons.ACCEPTANCE_FAILED, failures)
    return decision  # accepted: `register` claims the ModelVersion


def succeeded(decision: Decision, model_version: str) -> Decision:
    decision.status.update(
        phase=Phase.SUCCEEDED, modelVersion=model_version, failureReason=None, failureMessage=None
    )
    decision.conditions.append(
        Cond(READY, TRUE, reasons.MODEL_REGISTERED, f"registered ModelVersion {model_version}")
    )
    decision.done = True
    return decision


def _failed(decision: Decision, reason: str, message: str) -> Decision:
    decision.status.update(phase=Phase.FAILED, failureReason=reason, failureMessage=clip(message))
    decision.conditions.append(Cond(READY, FALSE, reason, clip(message)))
    decision.warn(reason, message)
    decision.done = True
    return decision


def next_version(existing: list[dict[str, Any]], model: str) -> int:
    """One above the highest version registered for `model` (the API server arbitrates races)."""
    versions = [
        int(mv["spec"]["version"])
        for mv in existing
        if (mv.get("spec") or {}).get("model") == model
    ]
    return max(versions, default=0) + 1


def model_version_name(model: str, version: int) -> str:
    return f"{model}-v{version}"


def model_version_manifest(
    body: dict[str, Any], result: dict[str, Any], version: int, labels: dict[str, str], image: str
) -> dict[str, Any]:
    """A ModelVersion from a training result. No owner reference: it outlives its TrainingJob."""
    meta = body["metadata"]
    spec = body["spec"]
    return {
        "apiVersion": API_VERSION,
        "kind": MODEL_VERSION.kind,
        "metadata": {
            "name": model_version_name(spec["model"], version),
            "namespace": meta["namespace"],
            "labels": {**labels, MODEL_LABEL: spec["model"]},
            "annotations": {TRAINED_BY_UID: f"{meta['uid']}/{meta.get('generation') or 1}"},
        },
        "spec": {
            "model": spec["model"],
            "version": version,
            "task": result["task"],
            "estimator": result.get("estimator", spec.get("estimator")),
            "artifact": result["artifact"],
            "signature": result["signature"],
            "metrics": result["metrics"],
            "params": result.get("params") or {},
            "lineage": {
                "trainingJob": meta["name"],
                "dataset": result["dataset"],
                "image": image,
                "profileUri": result.get("profileUri"),
                "target": spec.get("target"),
                **production_window(body),
                **mlflow_lineage(result),
            },
        },
    }


def production_window(body: dict[str, Any]) -> dict[str, Any]:
    """`{"productionWindow": ...}` when a monitor's retrain learned from production rows (the
    annotation it set on the TrainingJob); {} otherwise, or when the annotation is unusable."""
    raw = ((body.get("metadata") or {}).get("annotations") or {}).get(PRODUCTION_WINDOW)
    if not raw:
        return {}
    try:
        window = ProductionWindow.model_validate_json(raw)
    except ValueError:
        return {}
    return {"productionWindow": window.wire()}


def registered_by(existing: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any] | None:
    """The ModelVersion this TrainingJob generation already registered, if any (idempotence)."""
    meta = body["metadata"]
    marker = f"{meta['uid']}/{meta.get('generation') or 1}"
    for mv in existing:
        if ((mv.get("metadata") or {}).get("annotations") or {}).get(TRAINED_BY_UID) == marker:
            return mv
    return None
