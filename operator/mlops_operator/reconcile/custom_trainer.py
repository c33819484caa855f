"""The user's own training container (`spec.container`): the contract it is handed and the pod
that runs it.

The pod has two containers. The user's runs first, as an init container: it reads the Dataset
snapshot named by the MLOPS_* variables and writes a model, its signature and its metrics to
MLOPS_OUTPUT_DIR (an emptyDir). Then the project image's `mlops-operator train
--custom-output` checks what it left (model present and loadable, signature consistent with the
model and the Dataset, metrics numbers), applies acceptance and writes the same result and run
record as built-in training: the rest of the reconcile does not know the difference.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Final

from ..api.trainingjob import TrainingJobSpec
from ..config import OperatorConfig
from . import pods
from .jobs import MAIN_CONTAINER

# The contract's environment (docs/experiments.md). JSON where a value is structured.
ENV_DATASET_URI: Final = "MLOPS_DATASET_URI"  # the Parquet snapshot
ENV_DATASET_SHA256: Final = "MLOPS_DATASET_SHA256"  # its sha256 (the Dataset version)
ENV_DATASET_NAME: Final = "MLOPS_DATASET_NAME"
ENV_TARGET: Final = "MLOPS_TARGET"
ENV_FEATURES: Final = "MLOPS_FEATURES"  # JSON list; [] means every column but the target
ENV_TASK: Final = "MLOPS_TASK"  # classification | regression
ENV_HYPERPARAMETERS: Final = "MLOPS_HYPERPARAMETERS"  # JSON object, a trial's on top
ENV_TRIAL: Final = "MLOPS_TRIAL"  # the trial number in a search, else unset
ENV_SPLIT: Final = "MLOPS_SPLIT"  # JSON: spec.split (method, testSize, folds, seed, stratify)
ENV_METRICS: Final = "MLOPS_METRICS"  # JSON list: the metrics acceptance and search read
ENV_OUTPUT_DIR: Final = "MLOPS_OUTPUT_DIR"

OUTPUT_DIR: Final = "/mlops/output"
OUTPUT_VOLUME: Final = "trainer-output"
TRAINER_CONTAINER: Final = "trainer"
# What the trainer leaves in MLOPS_OUTPUT_DIR.
MODEL_FILES: Final = ("model.onnx", "model.skops")
SIGNATURE_FILE: Final = "signature.json"
METRICS_FILE: Final = "metrics.json"
TRAINER_FILE: Final = "trainer.json"  # optional: {"seconds": the trainer's own time}


def wanted_metrics(spec: TrainingJobSpec) -> list[str]:
    names = list(spec.metrics or [])
    names += [t.metric for t in spec.acceptance]
    if spec.search is not None:
        names.append(spec.search.objective.metric)
    return sorted(set(names))


def contract_env(
    spec: TrainingJobSpec, entry: dict[str, Any], trial: int | None
) -> list[dict[str, Any]]:
    """The MLOPS_* variables the trainer reads (the SDK reads them for it)."""
    values = {
        ENV_DATASET_URI: entry["snapshotUri"],
        ENV_DATASET_SHA256: entry["version"],
        ENV_DATASET_NAME: spec.dataset_ref.name,
        ENV_TARGET: spec.target,
        ENV_FEATURES: _compact(list(spec.features or [])),
        ENV_TASK: spec.container.task if spec.container else "",
        ENV_HYPERPARAMETERS: _compact(spec.hyperparameters),
        ENV_SPLIT: _compact(spec.split.wire()),
        ENV_METRICS: _compact(wanted_metrics(spec)),
        ENV_OUTPUT_DIR: OUTPUT_DIR,
    }
    if trial is not None:
        values[ENV_TRIAL] = str(trial)
    return [{"name": k, "value": v} for k, v in values.items()]


def trial_number(args: list[str]) -> int | None:
    for flag, value in itertools.pairwise(args):
        if flag == "--trial":
            return int(value)
    return None


def add_trainer(
    job: dict[str, Any], spec: TrainingJobSpec, entry: dict[str, Any], config: OperatorConfig
) -> dict[str, Any]:
    """Turn a training Job into a custom one: the user's container first (init), writing to an
    emptyDir that the collecting main container (`train --custom-output`) then reads."""
    assert spec.container is not None
    pod = job["spec"]["template"]["spec"]
    main = pod["containers"][0]
    output = {"name": OUTPUT_VOLUME, "mountPath": OUTPUT_DIR}
    pod["volumes"] = [*pod["volumes"], {"name": OUTPUT_VOLUME, "emptyDir": {}}]
    user = spec.container
    trainer: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": user.image,
        "imagePullPolicy": config.image_pull_policy,
        "env": [
            *pods.store_env(config),
            *contract_env(spec, entry, trial_number(main["args"])),
            *[e.wire() for e in user.env or []],
        ],
        "volumeMounts": [*main["volumeMounts"], output],
        "securityContext": pods.container_security(),
        "terminationMessagePath": pods.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if user.command:
        trainer["command"] = list(user.command)
    if user.args:
        trainer["args"] = list(user.args)
    if main.get("resources"):
        trainer["resources"] = main["resources"]
    pod["initContainers"] = [trainer]
    main["volumeMounts"] = [*main["volumeMounts"], {**output, "readOnly": True}]
    args = list(main["args"])
    if "--image" in args:  # the run record names the image that trained
        args[args.index("--image") + 1] = user.image
    main["args"] = [*args, "--custom-output", OUTPUT_DIR]
    return job


def trainer_image(job: dict[str, Any]) -> str:
    """The image that trained: the user's container, else the built-in trainer's."""
    pod = job["spec"]["template"]["spec"]
    for container in pod.get("initContainers") or []:
        if container.get("name") == TRAINER_CONTAINER:
            return str(container["image"])
    return str(pod["containers"][0]["image"])


def trainer_container(spec: dict[str, Any]) -> str:
    """The pod's container whose image trained: the user's (init) one, else the main one."""
    return TRAINER_CONTAINER if spec.get("container") else MAIN_CONTAINER


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
