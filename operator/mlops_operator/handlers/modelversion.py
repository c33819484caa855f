"""Kopf glue for ModelVersion."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from .. import GROUP, VERSION
from ..api.kinds import MODEL_VERSION
from ..config import OperatorConfig
from ..metrics import reconcile_timer
from ..reconcile import modelversion as decide
from .common import as_dict, carry_out, forget, lock_for, now

CONFIG = OperatorConfig.from_env()


def _verify(artifact: dict[str, Any]) -> tuple[str, str] | None:
    from ..artifacts import verify_model

    try:
        verify_model(artifact["uri"], artifact["format"], artifact["sha256"])
    except Exception as error:
        return getattr(error, "reason", type(error).__name__), str(error)
    return None


@kopf.on.create(GROUP, VERSION, MODEL_VERSION.plural)
@kopf.on.resume(GROUP, VERSION, MODEL_VERSION.plural)
@kopf.timer(
    GROUP, VERSION, MODEL_VERSION.plural, interval=max(CONFIG.poll_seconds, 60), initial_delay=1
)
async def reconcile_model_version(body: kopf.Body, **_: Any) -> None:
    async with lock_for(body):
        plain = as_dict(body)
        with reconcile_timer(MODEL_VERSION.kind):
            if not decide.needs_verification(plain, now()):
                return
            failure = await asyncio.to_thread(_verify, plain["spec"]["artifact"])
            await carry_out(MODEL_VERSION, body, plain, decide.decide(plain, failure, now()))


@kopf.on.delete(GROUP, VERSION, MODEL_VERSION.plural, optional=True)
async def model_version_deleted(body: kopf.Body, **_: Any) -> None:
    forget(body)
