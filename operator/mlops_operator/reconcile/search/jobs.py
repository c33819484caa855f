"""A search trial's Job: the TrainingJob's training Job with the trial's hyperparameters on
top, its own name, labels and result path, and its parameters in an annotation."""

from __future__ import annotations

import json
from typing import Any, Protocol

from . import trials as tr


class TrainJobBuilder(Protocol):
    """reconcile.trainingjob.train_job with the Dataset version and settings bound."""

    def __call__(
        self, body: dict[str, Any], *, name: str, uid: str, result: str, extra: list[str]
    ) -> dict[str, Any]: ...


def trial_job(
    body: dict[str, Any],
    store_uri: str,
    number: int,
    params: dict[str, Any],
    extra: list[str],
    train_job: TrainJobBuilder,
) -> dict[str, Any]:
    """One search trial: the training Job with the trial's hyperparameters on top (a custom
    container gets them in MLOPS_HYPERPARAMETERS, a built-in estimator as its parameters)."""
    spec = dict(body["spec"])
    search = spec.pop("search", None) or {}
    if spec.get("container") and search.get("objective"):
        # A container is told which metrics are read (MLOPS_METRICS): the objective is one.
        spec["metrics"] = sorted({*(spec.get("metrics") or []), search["objective"]["metric"]})
    spec["hyperparameters"] = {**(spec.get("hyperparameters") or {}), **params}
    job = train_job(
        {**body, "spec": spec},
        name=tr.trial_job_name(body, number),
        uid=tr.trial_uid(body, number),
        result=tr.trial_result_uri(store_uri, body, number),
        extra=["--trial", str(number), *extra],
    )
    labels = {tr.TRIAL_LABEL: str(number), tr.GENERATION_LABEL: str(tr.generation(body))}
    job["metadata"]["labels"].update(labels)
    job["spec"]["template"]["metadata"]["labels"].update(labels)
    job["metadata"]["annotations"] = {
        tr.TRIAL_PARAMS: json.dumps(params, sort_keys=True, separators=(",", ":"))
    }
    return job
