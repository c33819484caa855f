"""The record of one training run (single or a search trial) in the store, and its copy in
MLflow when a tracking server is configured (MLFLOW_TRACKING_URI in the pod's environment).

The record is the run's result.json: parameters, per-fold metrics with mean and standard
deviation, the dataset version, the image reference, duration and outcome (accepted, rejected,
pruned). The pod cannot know its image's digest; the operator reads it from the finished pod's
status into the ModelVersion's lineage.

An accepted run's model also becomes a version of the MLflow registered model
`<namespace>.<model>` (MLflow names cannot hold '/'), its source the model in the store (or
`runs:/<run>/model` for a file:// store the server cannot reach), tagged with its sha256; the
record keeps `mlflowModelVersion` and the operator copies it into the ModelVersion's lineage.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ..api.trainingjob import TrainingJobSpec
from ..artifacts import paths
from ..artifacts.store import Store
from .common import now
from .pruning import Pruned

log = logging.getLogger(__name__)
TRACKING_ENV = "MLFLOW_TRACKING_URI"
TAG_PREFIX = "mlops.dev/"


def rounded(folds: dict[str, list[float]]) -> dict[str, list[float]]:
    return {name: [round(v, 6) for v in values] for name, values in folds.items()}


class RunRecord:
    def __init__(self, args: Any, spec: TrainingJobSpec, store: Store, task: str) -> None:
        self.args, self.spec, self.store, self.task = args, spec, store, task
        self.started = time.monotonic()
        self.started_at = now()

    def record(
        self,
        folds: dict[str, list[float]],
        stds: dict[str, float],
        outcome: str,
        fit_seconds: float,
    ) -> dict[str, Any]:
        """The run record's fields beside the training result's."""
        return {
            "folds": rounded(folds),
            "metricsStd": stds,
            "outcome": outcome,
            "image": self.args.image or None,
            "trainingJob": {"namespace": self.args.namespace, "name": self.args.name},
            "trial": self.args.trial,
            "startedAt": self.started_at,
            "durationSeconds": round(time.monotonic() - self.started, 3),
        }

    def pruned(self, pruned: Pruned, fit_seconds: float) -> dict[str, Any]:
        """A pruned trial: a result without a model."""
        from .evaluate import summarize

        metrics, stds = summarize(pruned.folds)
        failures = [f"pruned after fold {pruned.fold}"]
        result = {
            "metrics": metrics,
            "accepted": False,
            "failures": failures,
            "pruned": True,
            "prunedAtFold": pruned.fold,
            "params": self.params(),
            "task": self.task,
            "estimator": self.spec.estimator,
            "model": self.spec.model,
            "dataset": {"name": self.args.dataset_name, "version": self.args.dataset_version},
            "fitSeconds": fit_seconds,
            "createdAt": now(),
            **self.record(pruned.folds, stds, "pruned", fit_seconds),
        }
        self.track(result)
        uri, sha = self.store.write_json(
            paths.run_result(self.args.namespace, self.args.name, self.args.uid), result
        )
        return {
            "ok": True,
            "pruned": True,
            "resultUri": uri,
            "resultSha256": sha,
            "metrics": metrics,
            "accepted": False,
            "failures": failures,
            "fitSeconds": fit_seconds,
        }

    def params(self) -> dict[str, Any]:
        from .estimators import effective_params

        return {k: v if isinstance(v, int | float | str | bool) or v is None else str(v)
                for k, v in effective_params(self.spec).items()}  # fmt: skip

    def track(self, result: dict[str, Any]) -> None:
        """Log the run to MLflow when a tracking server is configured; never fail the run."""
        uri = os.environ.get(TRACKING_ENV)
        if not uri:
            return
        try:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=uri)
            result["mlflowRunId"] = log_to_mlflow(client, result)
            if result.get("outcome") == "accepted" and result.get("artifact"):
                result["mlflowModelVersion"] = register_in_mlflow(
                    client, result, result["mlflowRunId"]
                )
        except Exception as err:  # the run is recorded in the store whatever MLflow says
            log.warning("MLflow tracking failed: %s", err)
            result["trackingError"] = f"{type(err).__name__}: {err}"[:300]


def registered_model_name(namespace: str, model: str) -> str:
    return f"{namespace}.{model}"


def model_source(artifact_uri: str, run_id: str) -> str:
    """Where MLflow's model version points: the store's object, unless it is a local path
    (a PVC the server cannot see and refuses as a source): then the run."""
    return f"runs:/{run_id}/model" if artifact_uri.startswith("file:") else artifact_uri


def register_in_mlflow(client: Any, result: dict[str, Any], run_id: str) -> dict[str, str]:
    """A new version of the registered model `<namespace>.<model>` from this run."""
    from mlflow.exceptions import MlflowException

    job = result.get("trainingJob") or {}
    name = registered_model_name(str(job.get("namespace")), str(result.get("model")))
    try:
        client.create_registered_model(name, tags={f"{TAG_PREFIX}model": str(result["model"])})
    except MlflowException as err:
        if getattr(err, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    artifact = result["artifact"]
    tags = {
        f"{TAG_PREFIX}artifact-uri": str(artifact["uri"]),
        f"{TAG_PREFIX}artifact-sha256": str(artifact["sha256"]),
        f"{TAG_PREFIX}trainingjob": str(job.get("name")),
        f"{TAG_PREFIX}namespace": str(job.get("namespace")),
    }
    if result.get("trial") is not None:
        tags[f"{TAG_PREFIX}trial"] = str(result["trial"])
    version = client.create_model_version(
        name, model_source(str(artifact["uri"]), run_id), run_id=run_id, tags=tags
    )
    return {"registeredModel": name, "version": str(version.version), "runId": run_id}


def log_to_mlflow(client: Any, result: dict[str, Any]) -> str:
    from mlflow.entities import Metric, Param, RunTag

    job = result.get("trainingJob") or {}
    experiment_name = f"{job.get('namespace')}/{job.get('name')}"
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    )
    trial = result.get("trial")
    dataset = result.get("dataset") or {}
    tags = {
        f"{TAG_PREFIX}trainingjob": str(job.get("name")),
        f"{TAG_PREFIX}namespace": str(job.get("namespace")),
        f"{TAG_PREFIX}dataset": str(dataset.get("name")),
        f"{TAG_PREFIX}dataset-sha256": str(dataset.get("version")),
        f"{TAG_PREFIX}outcome": str(result.get("outcome")),
        f"{TAG_PREFIX}estimator": str(result.get("estimator")),
        f"{TAG_PREFIX}image": str(result.get("image") or ""),
    }
    if trial is not None:
        tags[f"{TAG_PREFIX}trial"] = str(trial)
    name = f"{job.get('name')}-trial-{trial}" if trial is not None else str(job.get("name"))
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    stamp = int(time.time() * 1000)
    metrics = [Metric(k, float(v), stamp, 0) for k, v in (result.get("metrics") or {}).items()]
    metrics += [Metric(f"{k}_std", float(v), stamp, 0)
                for k, v in (result.get("metricsStd") or {}).items()]  # fmt: skip
    for key, values in (result.get("folds") or {}).items():
        metrics += [Metric(f"{key}_fold", float(v), stamp, i) for i, v in enumerate(values)]
    metrics.append(Metric("duration_seconds", float(result.get("durationSeconds") or 0), stamp, 0))
    params = [Param(k, str(v)[:500]) for k, v in sorted((result.get("params") or {}).items())]
    artifact = result.get("artifact") or {}
    extra = [RunTag(f"{TAG_PREFIX}artifact-sha256", artifact["sha256"])] if artifact else []
    client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=extra)
    client.set_terminated(run.info.run_id, "FINISHED" if result.get("outcome") else "FAILED")
    return str(run.info.run_id)
