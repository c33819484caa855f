"""Kopf glue for ModelDeployment: observe children, decide, apply, and scrape canary pods."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import aiohttp
import kopf

from .. import API_VERSION, GROUP, VERSION, kube
from ..api.kinds import MODEL_DEPLOYMENT
from ..api.modeldeployment import Analysis
from ..config import OperatorConfig
from ..metrics import ROLLBACKS, reconcile_timer
from ..reconcile import analysis
from ..reconcile import modeldeployment as decide
from ..reconcile import serving as children
from ..reconcile.observed import ready_pod_ips, view_deployment
from ..serving.analysis import TrafficSummary, combine, summarize
from .common import as_dict, carry_out, forget, lock_for, now

CONFIG = OperatorConfig.from_env()
SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=3)
log = logging.getLogger(__name__)


@kopf.on.create(GROUP, VERSION, MODEL_DEPLOYMENT.plural)
@kopf.on.update(GROUP, VERSION, MODEL_DEPLOYMENT.plural, field="spec")
@kopf.on.resume(GROUP, VERSION, MODEL_DEPLOYMENT.plural)
@kopf.timer(GROUP, VERSION, MODEL_DEPLOYMENT.plural, interval=CONFIG.poll_seconds, initial_delay=1)
async def reconcile_model_deployment(body: kopf.Body, **_: Any) -> None:
    async with lock_for(body):
        plain = as_dict(body)
        with reconcile_timer(MODEL_DEPLOYMENT.kind):
            meta = plain["metadata"]
            parent = children.Parent(
                namespace=meta["namespace"],
                name=meta["name"],
                owner_reference=kube.owner_reference(plain),
                labels=kube.child_labels(MODEL_DEPLOYMENT.kind, meta["name"]),
            )
            world = await observe(parent)
            moment = now()
            plan = decide.decide(plain, world, CONFIG, moment, parent)
            if plan.analyse and plan.gates:
                judgement = await run_analysis(plan.gates, world, plan.analyse)
                world = dataclasses.replace(world, judgement=judgement)
                plan = decide.decide(plain, world, CONFIG, moment, parent)
            if plan.rolled_back:
                ROLLBACKS.labels(meta["namespace"], meta["name"]).inc()
            await carry_out(MODEL_DEPLOYMENT, body, plain, plan.decision)


async def observe(parent: children.Parent) -> decide.World:
    ns, name = parent.namespace, parent.name
    versions, stable, canary, service, autoscaler, pods = await asyncio.gather(
        kube.list_objects(API_VERSION, "ModelVersion", ns),
        kube.get("apps/v1", "Deployment", ns, children.stable_name(name)),
        kube.get("apps/v1", "Deployment", ns, children.canary_name(name)),
        kube.get("v1", "Service", ns, children.service_name(name)),
        kube.get("autoscaling/v2", "HorizontalPodAutoscaler", ns, children.stable_name(name)),
        kube.list_objects("v1", "Pod", ns, f"{children.KIND_LABEL}={name}"),
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


@kopf.on.delete(GROUP, VERSION, MODEL_DEPLOYMENT.plural, optional=True)
async def model_deployment_deleted(body: kopf.Body, **_: Any) -> None:
    forget(body)
