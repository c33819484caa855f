"""batch/v1 Jobs for profiling, training and champion/challenger comparison: the manifest,
and what an observed Job means."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..api.conditions import TRUE
from ..api.kinds import JOB
from ..api.phases import Phase
from ..config import OperatorConfig
from . import pods, reasons

# What a Job's run is: the phases a TrainingJob takes from it, or no Job yet.
MISSING: Final = "Missing"
JobState = Literal["Missing", Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED]
# The Job controller's condition types.
JOB_COMPLETE = "Complete"
JOB_SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"
JOB_FAILED = "Failed"
JOB_FAILURE_TARGET = "FailureTarget"
# The main container of every Job the operator makes, and what an image digest looks like.
MAIN_CONTAINER: Final = "main"
DIGEST: Final = re.compile(r"^[a-z0-9]+:[0-9a-f]{32,}$")


@dataclass(frozen=True)
class JobSettings:
    image: str
    args: list[str]
    resources: dict[str, Any] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    backoff_limit: int = 1
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None
    # The areas of its namespace's part of the store the pod writes (pods.WRITES_*).
    writes: tuple[str, ...] = pods.WRITES_TRAIN


def job_manifest(
    name: str,
    namespace: str,
    labels: dict[str, str],
    owner: dict[str, Any],
    settings: JobSettings,
    config: OperatorConfig,
) -> dict[str, Any]:
    pod_volumes, mounts = pods.volumes(config, namespace, settings.writes)
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": settings.image,
        "imagePullPolicy": config.image_pull_policy,
        "args": settings.args,
        "env": pods.store_env(config),
        "volumeMounts": mounts,
        "securityContext": pods.container_security(),
        "terminationMessagePath": pods.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if settings.resources:
        container["resources"] = settings.resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": pods.pod_security(),
        "containers": [container],
        "volumes": pod_volumes,
        "automountServiceAccountToken": False,
    }
    if config.service_account:
        pod_spec["serviceAccountName"] = config.service_account
    if settings.node_selector:
        pod_spec["nodeSelector"] = settings.node_selector
    if settings.tolerations:
        pod_spec["tolerations"] = settings.tolerations
    spec: dict[str, Any] = {
        "backoffLimit": settings.backoff_limit,
        "ttlSecondsAfterFinished": (
            settings.ttl_seconds_after_finished
            if settings.ttl_seconds_after_finished is not None
            else config.job_ttl_seconds
        ),
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    if settings.active_deadline_seconds:
        spec["activeDeadlineSeconds"] = settings.active_deadline_seconds
    return {
        "apiVersion": JOB.api_version,
        "kind": JOB.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


# What `mlops-operator compare` scores on (its result's `data.kind`).
PRODUCTION_HOLDOUT: Final = "production-holdout"
DATASET_HOLDOUT: Final = "dataset-holdout"
COMPARE_DEADLINE_SECONDS = 900


@dataclass(frozen=True)
class Contender:
    """A ModelVersion in a comparison: its name, verified artifact and spec.signature (wire)."""

    name: str
    artifact_uri: str
    sha256: str
    signature: dict[str, Any]


@dataclass(frozen=True)
class Comparison:
    """Everything `mlops-operator compare` is told (docs/artifacts.md)."""

    champion: Contender
    challenger: Contender
    data_uri: str  # a production window's holdout.parquet, or a Dataset snapshot
    data_kind: Literal["production-holdout", "dataset-holdout"]
    target: str
    task: str
    metric: str
    result_uri: str
    data_sha256: str | None = None  # the Dataset version, for a snapshot
    split: dict[str, Any] | None = None  # the TrainingJob's spec.split (wire), for a snapshot


def compare_args(comparison: Comparison) -> list[str]:
    args = ["compare"]
    for role, contender in (("champion", comparison.champion),
                            ("challenger", comparison.challenger)):  # fmt: skip
        args += [
            f"--{role}", f"{contender.name}={contender.artifact_uri}@{contender.sha256}",
            f"--{role}-signature", _compact(contender.signature),
        ]  # fmt: skip
    args += [
        "--data", comparison.data_uri,
        "--target", comparison.target,
        "--task", comparison.task,
        "--metric", comparison.metric,
        "--result-uri", comparison.result_uri,
    ]  # fmt: skip
    if comparison.data_sha256:
        args += ["--data-sha256", comparison.data_sha256]
    if comparison.data_kind == DATASET_HOLDOUT:
        args += ["--holdout-of-snapshot", "--split-json", _compact(comparison.split or {})]
    return args


def compare_job(
    name: str,
    namespace: str,
    labels: dict[str, str],
    owner: dict[str, Any],
    comparison: Comparison,
    config: OperatorConfig,
    *,
    image: str | None = None,
    resources: dict[str, Any] | None = None,
    active_deadline_seconds: int = COMPARE_DEADLINE_SECONDS,
) -> dict[str, Any]:
    """The Job that runs `mlops-operator compare`: the training Job's pod (security, store
    volume and env), no retry (the same inputs give the same result), a deadline."""
    settings = JobSettings(
        image=image or config.image,
        args=compare_args(comparison),
        resources=resources,
        backoff_limit=0,
        active_deadline_seconds=active_deadline_seconds,
        writes=pods.WRITES_COMPARE,
    )
    return job_manifest(name, namespace, labels, owner, settings, config)


def _compact(document: dict[str, Any]) -> str:
    # Sorted keys: the same inputs give byte-identical args.
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class JobOutcome:
    state: JobState
    reason: str = ""
    message: str = ""
    attempts: int = 0
    start_time: str | None = None
    completion_time: str | None = None


def _condition(job: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == TRUE:
            return c
    return None


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    # A custom trainer runs as an init container: when it fails, the main one never starts.
    pod_status = pod.get("status") or {}
    statuses = [*(pod_status.get("containerStatuses") or []),
                *(pod_status.get("initContainerStatuses") or [])]  # fmt: skip
    for status in statuses:
        state = status.get("state", {}).get("terminated") or status.get("lastState", {}).get(
            "terminated"
        )
        if state:
            return state
    return None


def job_outcome(
    job: dict[str, Any] | None, job_pods: list[dict[str, Any]] | None = None
) -> JobOutcome:
    """What a Job (and its pods, when a kubelet ran them) says about the run."""
    if job is None:
        return JobOutcome(MISSING)
    status = job.get("status") or {}
    attempts = (
        int(status.get("failed") or 0)
        + int(status.get("succeeded") or 0)
        + int(status.get("active") or 0)
    )
    times = {"start_time": status.get("startTime"), "completion_time": status.get("completionTime")}
    if _condition(job, JOB_COMPLETE) or _condition(job, JOB_SUCCESS_CRITERIA_MET):
        return JobOutcome(Phase.SUCCEEDED, "Completed", "", attempts, **times)
    failed = _condition(job, JOB_FAILED) or _condition(job, JOB_FAILURE_TARGET)
    if failed:
        reason, message = _pod_failure(job_pods or [])
        job_reason = failed.get("reason") or JOB_FAILED
        if reason == reasons.OOM_KILLED:
            job_reason = reasons.OOM_KILLED
        detail = message or failed.get("message") or ""
        return JobOutcome(
            Phase.FAILED,
            job_reason,
            detail,
            attempts,
            times["start_time"],
            times["completion_time"] or failed.get("lastTransitionTime"),
        )
    if status.get("active"):
        return JobOutcome(Phase.RUNNING, Phase.RUNNING, "", attempts, **times)
    return JobOutcome(Phase.PENDING, Phase.PENDING, "", attempts, **times)


def image_digest(job_pods: list[dict[str, Any]], container: str) -> str | None:
    """The digest of the image a succeeded pod's container ran (its status' `imageID`, as the
    kubelet reports it: `registry/name@sha256:...`, `docker-pullable://...@sha256:...` or a bare
    `sha256:...`); None when no succeeded pod reports one."""
    newest = sorted(
        job_pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""
    )
    for pod in reversed(newest):
        pod_status = pod.get("status") or {}
        if pod_status.get("phase") != Phase.SUCCEEDED:
            continue
        for status in [*(pod_status.get("initContainerStatuses") or []),
                       *(pod_status.get("containerStatuses") or [])]:  # fmt: skip
            if status.get("name") == container:
                digest = str(status.get("imageID") or "").rpartition("@")[2]
                if DIGEST.match(digest):
                    return digest
    return None


def _pod_failure(job_pods: list[dict[str, Any]]) -> tuple[str, str]:
    """The reason and termination message of the newest failed pod, if any ran."""
    newest = sorted(
        job_pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""
    )
    for pod in reversed(newest):
        terminated = _terminated(pod)
        if terminated and terminated.get("exitCode", 0) != 0:
            return terminated.get("reason") or "Error", (terminated.get("message") or "").strip()
    return "", ""
