"""What the ModelDeployment controller sees of its children, reduced to what it decides on.

Small pure predicates over apps/v1 Deployment and Pod objects, the way the Deployment
controller itself writes them (Argo Rollouts decides health the same way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..api.conditions import FALSE, PROGRESSING, READY, TRUE
from ..api.labels import VERSION_LABEL
from ..api.phases import Phase
from . import reasons
from .serving import spec_hash

# A container restarting this often is crash-looping even before the kubelet says so.
MAX_RESTARTS = 3
# Waiting reasons that never resolve by waiting longer.
FATAL_WAITING = {
    "CrashLoopBackOff": reasons.CRASH_LOOP,
    "ErrImagePull": reasons.POD_FAILED,
    "ImagePullBackOff": reasons.POD_FAILED,
    "ErrImageNeverPull": reasons.POD_FAILED,
    "InvalidImageName": reasons.POD_FAILED,
    "CreateContainerConfigError": reasons.POD_FAILED,
    "CreateContainerError": reasons.POD_FAILED,
}


@dataclass(frozen=True)
class DeploymentView:
    exists: bool = False
    version: str | None = None  # ModelVersion name in the pod template
    replicas: int = 0  # spec.replicas
    updated: int = 0
    ready: int = 0
    available: int = 0
    total: int = 0
    current: bool = False  # the controller has seen the latest spec
    deadline_exceeded: bool = False
    message: str = ""
    spec_hash: str | None = None

    def complete(self, version: str, replicas: int | None = None) -> bool:
        """Every replica runs `version` and is available; no old replica is left.
        `replicas`: the count just asked for, which the observed spec may not show yet."""
        wanted = self.replicas if replicas is None else replicas
        return (
            self.exists
            and self.current
            and self.version == version
            and self.replicas == wanted
            and self.updated >= wanted
            and self.available >= wanted
            and self.total == self.updated
        )


def view_deployment(obj: dict[str, Any] | None) -> DeploymentView:
    if not obj:
        return DeploymentView()
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    progressing: dict[str, Any] = next(
        (c for c in status.get("conditions") or () if c.get("type") == PROGRESSING), {}
    )
    exceeded = (
        progressing.get("status") == FALSE
        and progressing.get("reason") == reasons.PROGRESS_DEADLINE_EXCEEDED
    )
    return DeploymentView(
        exists=True,
        version=labels.get(VERSION_LABEL),
        replicas=int(spec.get("replicas", 1)),
        updated=int(status.get("updatedReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        total=int(status.get("replicas") or 0),
        current=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0),
        deadline_exceeded=exceeded,
        message=str(progressing.get("message") or ""),
        spec_hash=spec_hash(obj),
    )


@dataclass(frozen=True)
class Trouble:
    reason: str
    message: str


def pod_trouble(pods: Iterable[dict[str, Any]], version: str) -> Trouble | None:
    """The first pod of `version` that will not become ready by waiting."""
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if labels.get(VERSION_LABEL) != version or pod["metadata"].get("deletionTimestamp"):
            continue
        name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        if status.get("phase") == Phase.FAILED:
            return Trouble(reasons.POD_FAILED, f"pod {name} failed: {status.get('reason', '')}")
        for container in status.get("containerStatuses") or ():
            waiting = (container.get("state") or {}).get("waiting") or {}
            why = waiting.get("reason")
            if why in FATAL_WAITING:
                detail = waiting.get("message") or why
                return Trouble(FATAL_WAITING[why], f"pod {name}: {why}: {detail}")
            restarts = int(container.get("restartCount") or 0)
            if restarts >= MAX_RESTARTS:
                last = (container.get("lastState") or {}).get("terminated") or {}
                exit_info = f" (last exit code {last['exitCode']})" if "exitCode" in last else ""
                return Trouble(
                    reasons.CRASH_LOOP, f"pod {name} restarted {restarts} times{exit_info}"
                )
    return None


def ready_pod_ips(pods: Iterable[dict[str, Any]], version: str) -> list[str]:
    """IPs of the ready pods of `version`: where the canary analysis reads /metrics."""
    ips = []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == READY and c.get("status") == TRUE
            for c in status.get("conditions") or ()
        )
        if labels.get(VERSION_LABEL) == version and ready and status.get("podIP"):
            ips.append(str(status["podIP"]))
    return ips
