"""Dataset: observe the profile Job (and its result once finished), decide, carry out."""

from __future__ import annotations

from typing import Any

from .. import kube
from ..api.kinds import DATASET, JOB, POD
from ..config import OperatorConfig
from ..reconcile import dataset as decide
from ..reconcile import dataset_parts as parts
from ..reconcile.indexed import parse_indexes
from ..reconcile.jobs import JobOutcome, job_outcome
from .common import carry_out, now
from .results import read_result

CONFIG = OperatorConfig.from_env()


async def job_state(namespace: str, name: str) -> JobOutcome:
    """The observed outcome of a Job; its pods are read only to explain a failure."""
    job = await kube.get(*JOB, namespace, name)
    outcome = job_outcome(job)
    if outcome.state == "Failed":  # the Job may say so before it counts the failed pod
        pods = await kube.list_fresh(*POD, namespace, f"job-name={name}")
        outcome = job_outcome(job, pods)
    return outcome


async def observe_parts(plain: dict[str, Any]) -> parts.PartsWorld:
    """A partitioned run: the Indexed Job, then the merge Job and its result (or, when the
    Indexed Job failed, what its first failed partition reported)."""
    namespace = plain["metadata"]["namespace"]
    name = parts.parts_job_name(plain)
    job = await kube.get(*JOB, namespace, name)
    outcome = job_outcome(job)
    if outcome.state == "Failed":
        pods = await kube.list_fresh(*POD, namespace, f"job-name={name}")
        outcome = job_outcome(job, pods)
        failed = sorted(parse_indexes(((job or {}).get("status") or {}).get("failedIndexes")))
        report = await read_result(parts.partial_uri(CONFIG, plain, failed[0])) if failed else None
        return parts.PartsWorld(job, outcome, failed=report)
    if outcome.state != "Succeeded":
        return parts.PartsWorld(job, outcome)
    merge = await job_state(namespace, parts.merge_job_name(plain))
    result = None
    if merge.state in ("Succeeded", "Failed"):
        result = await read_result(parts.merge_result_uri(CONFIG, plain))
    return parts.PartsWorld(job, outcome, merge, result)


async def reconcile(plain: dict[str, Any]) -> float | None:
    namespace = plain["metadata"]["namespace"]
    outcome, result = JobOutcome("Missing"), None
    if parts.partitioned(plain):
        world = None if decide.run_completed(plain) else await observe_parts(plain)
        decision = decide.decide(plain, outcome, result, now(), CONFIG, world)
        await carry_out(DATASET, plain, decision)
        return decision.requeue_after
    if not decide.run_completed(plain):
        outcome = await job_state(namespace, decide.profile_job_name(plain))
        if outcome.state in ("Succeeded", "Failed"):
            result = await read_result(decide.result_uri(CONFIG, plain))
    decision = decide.decide(plain, outcome, result, now(), CONFIG)
    await carry_out(DATASET, plain, decision)
    return decision.requeue_after
