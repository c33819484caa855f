"""The ModelDeployment's children: what to apply, and what to delete."""

from __future__ import annotations

from typing import Any

from ...api.kinds import DEPLOYMENT, HORIZONTAL_POD_AUTOSCALER
from ...api.modelversion import ModelVersionSpec
from ..decision import ObjectKey
from ..serving import (
    CANARY,
    STABLE,
    Track,
    Workload,
    autoscaler_manifest,
    canary_name,
    deployment_manifest,
    service_manifest,
    spec_hash,
    stable_name,
)
from .context import Rollout


def common(r: Rollout) -> None:
    """The Service, and the autoscaler while the spec asks for one."""
    _put(r, service_manifest(r.parent), r.world.service_hash)
    autoscaler = autoscaler_manifest(r.parent, r.spec)
    if autoscaler is not None:
        _put(r, autoscaler, r.world.autoscaler_hash)
    elif r.world.autoscaler_exists:
        r.decision.delete.append(ObjectKey(*HORIZONTAL_POD_AUTOSCALER, stable_name(r.parent.name)))


def stable(r: Rollout, version: str, replicas: int) -> None:
    manifest = _deployment(r, STABLE, version, replicas)
    if manifest is not None:
        _put(r, manifest, r.world.stable.spec_hash)


def canary(r: Rollout, version: str, replicas: int) -> None:
    manifest = _deployment(r, CANARY, version, replicas)
    if manifest is not None:
        _put(r, manifest, r.world.canary.spec_hash)


def remove_canary(r: Rollout) -> None:
    if r.world.canary.exists:
        r.decision.delete.append(ObjectKey(*DEPLOYMENT, canary_name(r.parent.name)))


def _deployment(r: Rollout, track: Track, version: str, replicas: int) -> dict[str, Any] | None:
    found = r.versions.get(version)
    if found is None:  # a deleted ModelVersion: leave its pods as they are
        return None
    managed = None if track == STABLE and r.spec.autoscaling else replicas
    workload = Workload(track, version, ModelVersionSpec.model_validate(found["spec"]), managed)
    return deployment_manifest(r.parent, r.spec, workload, r.config)


def _put(r: Rollout, manifest: dict[str, Any], observed_hash: str | None) -> None:
    if spec_hash(manifest) != observed_hash:
        r.decision.apply.append(manifest)
