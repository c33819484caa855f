"""Kopf glue for TrainingJob."""

from __future__ import annotations

from typing import Any

import kopf

from .. import API_VERSION, GROUP, VERSION, kube
from ..api.kinds import TRAINING_JOB
from ..config import OperatorConfig
from ..metrics import TRAINING_FAILURES, reconcile_timer
from ..reconcile import trainingjob as decide
from ..reconcile.decision import Decision
from .common import as_dict, carry_out, forget, lock_for
from .dataset import job_state
from .results import read_result

CONFIG = OperatorConfig.from_env()
REGISTER_ATTEMPTS = 5


def _validate_hyperparameters(estimator: str, params: dict[str, Any]) -> list[str]:
    from ..training.estimators import validate_hyperparameters

    return validate_hyperparameters(estimator, params)


@kopf.on.create(GROUP, VERSION, TRAINING_JOB.plural)
@kopf.on.update(GROUP, VERSION, TRAINING_JOB.plural, field="spec")
@kopf.on.resume(GROUP, VERSION, TRAINING_JOB.plural)
@kopf.timer(GROUP, VERSION, TRAINING_JOB.plural, interval=CONFIG.poll_seconds, initial_delay=1)
async def reconcile_training_job(body: kopf.Body, **_: Any) -> None:
    async with lock_for(body):
        plain = as_dict(body)
        with reconcile_timer(TRAINING_JOB.kind):
            meta = plain["metadata"]
            generation = meta.get("generation") or 1
            status = plain["status"]
            if (
                status.get("phase") in ("Succeeded", "Failed")
                and status.get("observedGeneration") == generation
            ):
                return
            dataset = await kube.get(
                API_VERSION, "Dataset", meta["namespace"], plain["spec"]["datasetRef"]["name"]
            )
            waiting, entry = decide.decide_before_job(plain, dataset, _validate_hyperparameters)
            if waiting is not None or entry is None:
                await _finish(body, plain, waiting or Decision())
                return
            outcome = await job_state(meta["namespace"], decide.train_job_name(plain))
            result = None
            if outcome.state in ("Succeeded", "Failed"):
                result = await read_result(decide.result_uri(CONFIG, plain))
            labels = kube.child_labels(TRAINING_JOB.kind, meta["name"])
            manifest = decide.train_job(plain, entry, kube.owner_reference(plain), labels, CONFIG)
            decision = decide.decide_job(plain, entry, outcome, result, manifest)
            if not decision.done and outcome.state == "Succeeded" and result:
                image = manifest["spec"]["template"]["spec"]["containers"][0]["image"]
                name = await register_model_version(plain, result, labels, image)
                decide.succeeded(decision, name)
                decision.note(decide.reasons.MODEL_REGISTERED, f"registered ModelVersion {name}")
            await _finish(body, plain, decision)


async def _finish(body: kopf.Body, plain: dict[str, Any], decision: Decision) -> None:
    if decision.status.get("phase") == "Failed" and plain["status"].get("phase") != "Failed":
        TRAINING_FAILURES.labels(plain["metadata"]["namespace"]).inc()
    await carry_out(TRAINING_JOB, body, plain, decision)


async def register_model_version(
    body: dict[str, Any], result: dict[str, Any], labels: dict[str, str], image: str
) -> str:
    """Create the ModelVersion once; the API server's name uniqueness settles version races."""
    namespace = body["metadata"]["namespace"]
    model = body["spec"]["model"]
    for _ in range(REGISTER_ATTEMPTS):
        existing = await kube.list_objects(API_VERSION, "ModelVersion", namespace)
        already = decide.registered_by(existing, body)
        if already:
            return str(already["metadata"]["name"])
        version = decide.next_version(existing, model)
        manifest = decide.model_version_manifest(body, result, version, labels, image)
        try:
            created = await kube.create(manifest)
            return str(created["metadata"]["name"])
        except kube.Conflict:
            continue
    raise kopf.TemporaryError("could not assign a ModelVersion number; retrying", delay=5)


@kopf.on.delete(GROUP, VERSION, TRAINING_JOB.plural, optional=True)
async def training_job_deleted(body: kopf.Body, **_: Any) -> None:
    forget(body)
