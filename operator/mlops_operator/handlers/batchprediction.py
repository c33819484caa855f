"""BatchPrediction: observe the model, the input, the Indexed Job and (once it finished) each
partition's result; decide; carry out."""

from __future__ import annotations

from typing import Any

from .. import API_VERSION, kube
from ..api.kinds import BATCH_PREDICTION, DATASET, JOB, MODEL_DEPLOYMENT, MODEL_VERSION, POD
from ..config import OperatorConfig
from ..reconcile import batchprediction as decide
from ..reconcile import outage
from ..reconcile.jobs import job_outcome
from .common import carry_out, now
from .results import read_result

CONFIG = OperatorConfig.from_env()


async def observe(plain: dict[str, Any]) -> decide.BatchWorld:
    namespace, spec = plain["metadata"]["namespace"], plain["spec"]
    deployment = None
    ref = (spec.get("model") or {}).get("deploymentRef")
    if ref and decide.pinned(plain) is None:
        deployment = await kube.get(API_VERSION, MODEL_DEPLOYMENT.kind, namespace, ref["name"])
    wanted = decide.wanted_model_version(plain, deployment)
    model_version = (
        await kube.get(API_VERSION, MODEL_VERSION.kind, namespace, wanted) if wanted else None
    )
    dataset = None
    dataset_ref = (spec.get("input") or {}).get("datasetRef")
    if dataset_ref:
        dataset = await kube.get(API_VERSION, DATASET.kind, namespace, dataset_ref["name"])
    job = await kube.get(*JOB, namespace, decide.job_name(plain))
    outcome = job_outcome(job)
    if outcome.state == "Failed":  # explain it from the pods (an OOM kill) when they say
        pods = await kube.list_fresh(*POD, namespace, f"job-name={decide.job_name(plain)}")
        outcome = job_outcome(job, pods)
    results: list[dict[str, Any] | None] | None = None
    output = (plain.get("status") or {}).get("outputUri")
    if outcome.state in ("Succeeded", "Failed") and output:
        results = []
        for index in range(int(spec.get("partitions") or 1)):
            results.append(await read_result(f"{output}/_results/part-{index:05d}.json"))
            if outage.unread(results[-1]):
                break  # the store cannot be reached: the rest are read again with this one
    return decide.BatchWorld(model_version, deployment, dataset, job, outcome, results)


async def reconcile(plain: dict[str, Any]) -> float | None:
    if decide.finished(plain):  # only the Job's late count of failed attempts can change
        job = await kube.get(*JOB, plain["metadata"]["namespace"], decide.job_name(plain))
        world = decide.BatchWorld(job=job)
    else:
        world = await observe(plain)
    decision = decide.decide(plain, world, now(), CONFIG)
    await carry_out(BATCH_PREDICTION, plain, decision)
    return decision.requeue_after
