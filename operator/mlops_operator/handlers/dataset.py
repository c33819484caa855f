"""Kopf glue for Dataset."""

from __future__ import annotations

from typing import Any

import kopf

from .. import GROUP, VERSION, kube
from ..api.kinds import DATASET
from ..config import OperatorConfig
from ..metrics import reconcile_timer
from ..reconcile import dataset as decide
from ..reconcile.jobs import JobOutcome, job_outcome
from .common import as_dict, carry_out, forget, lock_for, now
from .results import read_result

CONFIG = OperatorConfig.from_env()


async def job_state(namespace: str, name: str) -> JobOutcome:
    """The observed outcome of a Job; its pods are read only to explain a failure."""
    job = await kube.get("batch/v1", "Job", namespace, name)
    pods: list[dict[str, Any]] = []
    if job and (job.get("status") or {}).get("failed"):
        pods = await kube.list_objects("v1", "Pod", namespace, f"job-name={name}")
    return job_outcome(job, pods)


@kopf.on.create(GROUP, VERSION, DATASET.plural)
@kopf.on.update(GROUP, VERSION, DATASET.plural, field="spec")
@kopf.on.resume(GROUP, VERSION, DATASET.plural)
@kopf.timer(GROUP, VERSION, DATASET.plural, interval=CONFIG.poll_seconds, initial_delay=1)
async def reconcile_dataset(body: kopf.Body, **_: Any) -> None:
    async with lock_for(body):
        plain = as_dict(body)
        with reconcile_timer(DATASET.kind):
            meta = plain["metadata"]
            status = plain["status"]
            generation, run = decide.run_key(plain)
            if status.get("completedRun") == f"{generation}/{run}" and not decide.refresh_due(
                plain, now()
            ):
                return
            job_name = decide.profile_job_name(plain)
            outcome = await job_state(meta["namespace"], job_name)
            result = None
            if outcome.state in ("Succeeded", "Failed"):
                result = await read_result(decide.result_uri(CONFIG, plain))
            manifest = None
            if outcome.state == "Missing":
                labels = kube.child_labels(DATASET.kind, meta["name"])
                manifest = decide.profile_job(plain, kube.owner_reference(plain), labels, CONFIG)
            decision = decide.decide(plain, outcome, result, manifest, now())
            await carry_out(DATASET, body, plain, decision)


@kopf.on.delete(GROUP, VERSION, DATASET.plural, optional=True)
async def dataset_deleted(body: kopf.Body, **_: Any) -> None:
    forget(body)
