"""ModelDeployment: gather the world once (children, and the canary analysis when it is due),
decide once, carry the plan out."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import aiohttp

from .. import API_VERSION, kube
from ..api.kinds import (
    DEPLOYMENT,
    HORIZONTAL_POD_AUTOSCALER,
    JOB,
    MODEL_DEPLOYMENT,
    MODEL_VERSION,
    POD,
    SERVICE,
)
from ..api.modeldeployment import Analysis
from ..api.phases import FINISHED
from ..artifacts import paths
from ..config import OperatorConfig
from ..metrics import ROLLBACKS
from ..reconcile import analysis
from ..reconcile import modeldeployment as decide
from ..reconcile import serving as children
from ..reconcile.jobs import job_outcome
from ..reconcile.observed import ready_pod_ips, view_deployment
from ..reconcile.ownership import child_labels, owner_reference
from ..serving.analysis import TrafficSummary, combine, summarize
from .common import carry_out, now
from .results import read_result

CONFIG = OperatorConfig.from_env()
SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=3)
log = logging.getLogger(__name__)


async def reconcile(plain: dict[str, Any]) -> float | None:
    meta = plain["metadata"]
    parent = children.Parent(
        namespace=meta["namespace"],
        name=meta["name"],
        owner_reference=owner_reference(plain),
        labels=child_labels(MODEL_DEPLOYMENT.kind, meta["name"]),
    )
    world = await observe(parent)
    moment = now()
    due = decide.analysis_due(plain, world, moment)
    if due is not None:
        version, gates = due
        world = dataclasses.replace(world, judgement=await run_analysis(gates, world, version))
    challenger = decide.comparison_due(plain, world, moment)
    if challenger is not None:
        world = dataclasses.replace(world, comparison=await read_comparison(parent, challenger))
    plan = decide.decide(plain, world, CONFIG, moment, parent)
    await carry_out(MODEL_DEPLOYMENT, plain, plan.decision)
    if plan.version_status is not None:  # the verdict, on the challenger's own status
        version, patch = plan.version_status
        await kube.patch_status(API_VERSION, MODEL_VERSION.kind, meta["namespace"], version, patch)
    if plan.rolled_back:  # counted once the rollback is carried out
        ROLLBACKS.labels(meta["namespace"], meta["name"]).inc()
    return plan.decision.requeue_after


async def observe(parent: children.Parent) -> decide.World:
    ns, name = parent.namespace, parent.name
    versions, stable, canary, service, autoscaler, pods = await asyncio.gather(
        kube.list_objects(API_VERSION, MODEL_VERSION.kind, ns),
        kube.get(*DEPLOYMENT, ns, children.stable_name(name)),
        kube.get(*DEPLOYMENT, ns, children.canary_name(name)),
        kube.get(*SERVICE, ns, children.service_name(name)),
        kube.get(*HORIZONTAL_POD_AUTOSCALER, ns, children.stable_name(name)),
        kube.list_objects(*POD, ns, f"{children.KIND_LABEL}={name}"),
    )
    return decide.World(
        versions=versions,
        stable=view_deployment(stable),
        canary=view_deployment(canary),
        pods=pods,
        service_hash=children.spec_hash(service),
        autoscaler_hash=children.spec_hash(autoscaler),
        autoscaler_exists=autoscaler is not None,
    )


async def read_comparison(parent: children.Parent, challenger: str) -> decide.Comparison:
    """The compare Job of `challenger` and, once it finished, the result it left."""
    ns = parent.namespace
    job = await kube.get(*JOB, ns, decide.challenge.job_name(parent.name, challenger))
    result = None
    if job_outcome(job).state in FINISHED:
        uri = paths.under(CONFIG.store_uri, paths.evaluation_result(ns, parent.name, challenger))
        result = await read_result(uri)
    return decide.Comparison(challenger, job, result)


async def run_analysis(gates: Analysis, world: decide.World, version: str) -> analysis.Judgement:
    canary_pods = [
        p
        for p in world.pods
        if (p["metadata"].get("labels") or {}).get(children.TRACK_LABEL) == "canary"
    ]
    async with aiohttp.ClientSession(timeout=SCRAPE_TIMEOUT) as session:
        traffic = await scrape(session, ready_pod_ips(canary_pods, version))
        reading = None
        if gates.prometheus is not None:
            reading = await query_prometheus(
                session, gates.prometheus.address, gates.prometheus.query
            )
    return analysis.judge(gates, traffic, reading)


async def scrape(session: aiohttp.ClientSession, ips: list[str]) -> TrafficSummary | None:
    """The canary pods' own counters, added up; None when no pod answered."""

    async def one(ip: str) -> TrafficSummary | None:
        try:
            async with session.get(f"http://{ip}:{children.HTTP_PORT}/metrics") as answer:
                answer.raise_for_status()
                return summarize(await answer.text())
        except (aiohttp.ClientError, TimeoutError) as error:
            log.info("canary pod %s did not answer /metrics: %s", ip, error)
            return None

    found = [s for s in await asyncio.gather(*(one(ip) for ip in ips)) if s is not None]
    return combine(found) if found else None


async def query_prometheus(
    session: aiohttp.ClientSession, address: str, query: str
) -> analysis.PrometheusReading:
    try:
        async with session.get(
            f"{address.rstrip('/')}/api/v1/query", params={"query": query}
        ) as answer:
            return analysis.prometheus_reading(await answer.json(content_type=None))
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        return analysis.PrometheusReading(error=f"{address}: {error}")
