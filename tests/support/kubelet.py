"""Play the kubelet's part for Job pods in a cluster without nodes.

The Job controller from kube-controller-manager still does its real work: it creates the
pods, counts their outcomes and writes the Job's conditions from what we report here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import kubernetes

from .cluster import wait_for


def now() -> str:
    """A timestamp as the kubelet writes it into pod status."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_pods(api: kubernetes.client.ApiClient, namespace: str, job: str) -> list[Any]:
    core = kubernetes.client.CoreV1Api(api)
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items)


def finish_pod(
    api: kubernetes.client.ApiClient,
    namespace: str,
    job: str,
    exit_code: int = 0,
    reason: str = "Completed",
    message: str = "",
    image_id: str = "",
) -> str:
    """Report the Job's newest running pod as terminated, the way a kubelet does (with the
    image's `imageID` when given)."""
    core = kubernetes.client.CoreV1Api(api)
    pods = wait_for(
        lambda: [p for p in job_pods(api, namespace, job) if p.status.phase in (None, "Pending")],
        timeout=60,
        what=f"a pod of Job {job}",
    )
    pod = pods[-1]
    started = now()
    status = {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "startTime": started,
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
        "containerStatuses": [
            {
                "name": "main",
                "image": pod.spec.containers[0].image,
                "imageID": image_id,
                "ready": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "message": message,
                        "startedAt": started,
                        "finishedAt": now(),
                    }
                },
            }
        ],
    }
    core.patch_namespaced_pod_status(pod.metadata.name, namespace, {"status": status})
    return str(pod.metadata.name)
