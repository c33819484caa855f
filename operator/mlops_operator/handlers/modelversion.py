"""ModelVersion: verify the artifact when due (a new generation, then every REVERIFY_AFTER)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from ..api.kinds import MODEL_VERSION
from ..config import OperatorConfig
from ..reconcile import confinement, reasons
from ..reconcile import modelversion as decide
from .common import carry_out, now

LOAD_CHECK_TIMEOUT = 120.0
CONFIG = OperatorConfig.from_env()


def _checksum(artifact: dict[str, Any]) -> tuple[str, str] | None:
    from ..artifacts import ArtifactError, Store

    try:
        Store.from_env().read_verified(artifact["uri"], artifact["sha256"])
    except ArtifactError as error:
        return error.reason, str(error)
    return None


def _escape(plain: dict[str, Any]) -> confinement.Refusal | None:
    """The artifact (a file:// store's) is a symlink out of the namespace's part of it."""
    from ..artifacts.symlinks import escape

    namespace = plain["metadata"]["namespace"]
    roots = confinement.namespace_roots(CONFIG.store_uri, namespace)
    found = escape(plain["spec"]["artifact"]["uri"], roots)
    return None if found is None else confinement.escaped("spec.artifact.uri", found, namespace)


async def _load_check(artifact: dict[str, Any]) -> tuple[str, str] | None:
    """Exists, sha256 and loads, in a process of its own (the model runtimes stay out of ours)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mlops_operator.artifacts.verify_cli",
        "--uri", artifact["uri"], "--format", artifact["format"], "--sha256", artifact["sha256"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), LOAD_CHECK_TIMEOUT)
    except TimeoutError:
        return reasons.LOAD_FAILED, f"loading the model took longer than {LOAD_CHECK_TIMEOUT:.0f}s"
    finally:  # also when the operator stops mid-check: no orphan process, no dangling pipes
        if process.returncode is None:
            process.kill()
            await process.wait()
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = err.decode(errors="replace").strip()[-500:]
        return reasons.LOAD_FAILED, f"the load check exited with {process.returncode}: {tail}"
    return None if answer.get("ok") else (answer["reason"], answer["message"])


async def reconcile(plain: dict[str, Any]) -> float | None:
    moment = now()
    if not decide.needs_verification(plain, moment):
        return decide.next_verification_in(plain, moment)
    artifact = plain["spec"]["artifact"]
    refusal = decide.refusal_of(plain, CONFIG) or await asyncio.to_thread(_escape, plain)
    if refusal is not None:  # another namespace's part of the store: never read
        decision = decide.decide(plain, None, moment, refusal)
        await carry_out(MODEL_VERSION, plain, decision)
        return None
    if decide.needs_load_check(plain):
        failure = await _load_check(artifact)
    else:
        failure = await asyncio.to_thread(_checksum, artifact)
    decision = decide.decide(plain, failure, moment)
    await carry_out(MODEL_VERSION, plain, decision)
    return decision.requeue_after
