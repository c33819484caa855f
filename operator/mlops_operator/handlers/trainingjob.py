"""TrainingJob: observe the Dataset, the training Job, its result and the ModelVersions; decide."""

from __future__ import annotations

from typing import Any

from .. import API_VERSION, kube
from ..api.kinds import DATASET, MODEL_VERSION, TRAINING_JOB
from ..config import OperatorConfig
from ..metrics import TRAINING_FAILURES
from ..reconcile import trainingjob as decide
from .common import carry_out
from .dataset import job_state
from .results import read_result

CONFIG = OperatorConfig.from_env()


def _validate_hyperparameters(estimator: str, params: dict[str, Any]) -> list[str]:
    # Imported on first use: only an operator that reconciles TrainingJobs loads scikit-learn.
    from ..training.estimators import validate_hyperparameters

    return validate_hyperparameters(estimator, params)


async def observe(plain: dict[str, Any]) -> decide.TrainingWorld:
    namespace = plain["metadata"]["namespace"]
    dataset = await kube.get(
        API_VERSION, DATASET.kind, namespace, plain["spec"]["datasetRef"]["name"]
    )
    if decide.finished(plain):
        return decide.TrainingWorld(dataset)
    outcome = await job_state(namespace, decide.train_job_name(plain))
    result, versions = None, []
    if outcome.state in ("Succeeded", "Failed"):
        result = await read_result(decide.result_uri(CONFIG, plain))
    if outcome.state == "Succeeded":
        versions = await kube.list_objects(API_VERSION, MODEL_VERSION.kind, namespace)
    return decide.TrainingWorld(dataset, outcome, result, versions)


async def reconcile(plain: dict[str, Any]) -> float | None:
    world = await observe(plain)
    decision = decide.decide(plain, world, _validate_hyperparameters, CONFIG)
    if decision.status.get("phase") == "Failed" and plain["status"].get("phase") != "Failed":
        TRAINING_FAILURES.labels(plain["metadata"]["namespace"]).inc()
    await carry_out(TRAINING_JOB, plain, decision)
    return decision.requeue_after
