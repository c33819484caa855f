"""TrainingJob: observe the Dataset, the training Job, its result and the ModelVersions; decide."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from .. import API_VERSION, kube
from ..api.kinds import DATASET, JOB, MODEL_VERSION, POD, TRAINING_JOB
from ..config import OperatorConfig
from ..metrics import TRAINING_FAILURES
from ..reconcile import outage
from ..reconcile import trainingjob as decide
from ..reconcile.custom_trainer import trainer_container
from ..reconcile.jobs import image_digest, job_outcome
from ..reconcile.search import decide as search
from ..reconcile.search import trials as trial_set
from .common import carry_out
from .dataset import job_state
from .results import read_result

log = logging.getLogger(__name__)
CONFIG = OperatorConfig.from_env()
STUDY_TIMEOUT = 120.0
# A finished trial's result never changes: read each once per operator process.
_RESULTS: dict[str, dict[str, Any]] = {}


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
    if plain["spec"].get("search"):
        world = await observe_search(plain)
        versions, digest = [], None
        best = search.best_job(plain, world)
        if best is not None:
            versions = await kube.list_objects(API_VERSION, MODEL_VERSION.kind, namespace)
            digest = await trained_with(plain, best)
        return decide.TrainingWorld(
            dataset, model_versions=versions, search=world, image_digest=digest
        )
    outcome = await job_state(namespace, decide.train_job_name(plain))
    result, versions, digest = None, [], None
    if outcome.state in ("Succeeded", "Failed"):
        result = await read_result(decide.result_uri(CONFIG, plain))
    if outcome.state == "Succeeded":
        versions = await kube.list_objects(API_VERSION, MODEL_VERSION.kind, namespace)
        digest = await trained_with(plain, decide.train_job_name(plain))
    return decide.TrainingWorld(dataset, outcome, result, versions, image_digest=digest)


async def trained_with(plain: dict[str, Any], job_name: str) -> str | None:
    """The image digest the finished Job's pod ran (read only while registering: the
    TrainingJob is `finished` afterwards and its pods are not read again)."""
    job_pods = await kube.list_fresh(*POD, plain["metadata"]["namespace"], f"job-name={job_name}")
    return image_digest(job_pods, trainer_container(plain["spec"]))


async def reconcile(plain: dict[str, Any]) -> float | None:
    world = await observe(plain)
    decision = decide.decide(plain, world, _validate_hyperparameters, CONFIG)
    if decision.status.get("phase") == "Failed" and plain["status"].get("phase") != "Failed":
        TRAINING_FAILURES.labels(plain["metadata"]["namespace"]).inc()
    await carry_out(TRAINING_JOB, plain, decision)
    return decision.requeue_after


async def _trial_result(uri: str) -> dict[str, Any] | None:
    if uri in _RESULTS:
        return _RESULTS[uri]
    result = await read_result(uri)
    if result is not None and outage.unread(result) is None:  # an outage is read again
        _RESULTS[uri] = result
    return result


async def observe_search(plain: dict[str, Any]) -> search.SearchWorld:
    """The trials from their Jobs and result files; new trials' parameters from the sampler."""
    namespace = plain["metadata"]["namespace"]
    metric = plain["spec"]["search"]["objective"]["metric"]
    jobs = await kube.list_objects(*JOB, namespace, trial_set.trial_selector(plain))
    by_number = {trial_set.job_number(j): j for j in jobs}
    created = trial_set.created_count(plain, jobs)
    found = []
    for number in range(created):
        job = by_number.get(number)
        outcome = job_outcome(job)
        result = None
        if outcome.state in ("Succeeded", "Failed", "Missing"):
            uri = trial_set.trial_result_uri(CONFIG.store_uri, plain, number)
            result = await _trial_result(uri)
        name = trial_set.trial_job_name(plain, number)
        found.append(trial_set.trial_state(number, name, job, outcome, result, metric))
    world = search.SearchWorld(found, created)
    ask = search.to_start(plain, world)
    report = search.report_due(plain, world)
    if not ask and not report:
        return world
    report_uri = trial_set.report_uri(CONFIG.store_uri, plain) if report else None
    answer = await run_study(search.study_request(plain, world, ask, report_uri))
    suggestions = {int(k): v for k, v in (answer.get("suggestions") or {}).items()}
    return search.SearchWorld(found, created, suggestions, answer.get("report"))


async def run_study(request: dict[str, Any]) -> dict[str, Any]:
    """The sampler and the report, in a process of their own (Optuna stays out of ours)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mlops_operator.training.study_cli",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(
            process.communicate(json.dumps(request).encode()), STUDY_TIMEOUT
        )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    try:
        answer: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {"ok": False, "error": err.decode(errors="replace")[-500:]}
    if not answer.get("ok"):
        log.warning("search study helper failed: %s", answer.get("error"))
    return answer
