"""The content-addressed layout of docs/artifacts.md, as relative paths under the store root."""

from __future__ import annotations

import re

_SHA256 = re.compile(r"^[a-f0-9]{64}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _seg(value: str, what: str) -> str:
    if not _SEGMENT.match(value) or value in {".", ".."}:
        raise ValueError(f"{what} {value!r} is not a safe path segment")
    return value


def _sha(value: str) -> str:
    if not _SHA256.match(value):
        raise ValueError(f"{value!r} is not a sha256 hex digest")
    return value


def dataset_dir(namespace: str, dataset: str, version: str) -> str:
    return f"datasets/{_seg(namespace, 'namespace')}/{_seg(dataset, 'dataset')}/{_sha(version)}"


def dataset_snapshot(namespace: str, dataset: str, version: str) -> str:
    return f"{dataset_dir(namespace, dataset, version)}/data.parquet"


def dataset_profile(namespace: str, dataset: str, version: str) -> str:
    return f"{dataset_dir(namespace, dataset, version)}/profile.json"


def dataset_summary(namespace: str, dataset: str, version: str) -> str:
    return f"{dataset_dir(namespace, dataset, version)}/summary.json"


def rejected_summary(namespace: str, dataset: str, content_sha256: str) -> str:
    """Summary of data that failed validation: kept apart so it never looks like a version."""
    ns, ds = _seg(namespace, "namespace"), _seg(dataset, "dataset")
    return f"datasets/{ns}/{ds}/rejected/{_sha(content_sha256)}/summary.json"


def model_dir(namespace: str, model: str, artifact_sha256: str) -> str:
    return f"models/{_seg(namespace, 'namespace')}/{_seg(model, 'model')}/{_sha(artifact_sha256)}"


def model_file(namespace: str, model: str, artifact_sha256: str, fmt: str) -> str:
    if fmt not in {"onnx", "skops"}:
        raise ValueError(f"unknown model format {fmt!r}")
    return f"{model_dir(namespace, model, artifact_sha256)}/model.{fmt}"


def model_card(namespace: str, model: str, artifact_sha256: str) -> str:
    return f"{model_dir(namespace, model, artifact_sha256)}/card.json"


def job_result(namespace: str, plural: str, name: str, job: str) -> str:
    """Where a profile or training Job reports its outcome (`--result-uri`): one file per
    Job of the `plural` object `name` (datasets, trainingjobs)."""
    ns, owner = _seg(namespace, "namespace"), _seg(name, "name")
    return f"runs/{ns}/{_seg(plural, 'kind')}/{owner}/{_seg(job, 'job')}.json"


def run_result(namespace: str, training_job: str, uid: str) -> str:
    ns, tj = _seg(namespace, "namespace"), _seg(training_job, "training job")
    return f"runs/{ns}/{tj}/{_seg(uid, 'uid')}/result.json"


def samples_dir(namespace: str, deployment: str, version: str) -> str:
    ns, dep = _seg(namespace, "namespace"), _seg(deployment, "deployment")
    return f"samples/{ns}/{dep}/{_seg(version, 'version')}"


def labels_dir(namespace: str, deployment: str) -> str:
    """Ground truth sent to a deployment's model server (any version's predictions)."""
    return f"labels/{_seg(namespace, 'namespace')}/{_seg(deployment, 'deployment')}"


def production_window(namespace: str, monitor: str, window: str) -> str:
    """A labeled production window a monitor wrote for a retrain: `<dir>/train.parquet` and
    `<dir>/holdout.parquet` (see artifacts/records.is_holdout)."""
    ns, mon = _seg(namespace, "namespace"), _seg(monitor, "monitor")
    return f"production/{ns}/{mon}/{_seg(window, 'window')}"


def evaluation_result(namespace: str, deployment: str, challenger: str) -> str:
    """The champion/challenger comparison a deployment ran before rolling `challenger` out."""
    ns, dep = _seg(namespace, "namespace"), _seg(deployment, "deployment")
    return f"evaluations/{ns}/{dep}/{_seg(challenger, 'version')}.json"


def under(root: str, path: str) -> str:
    """A relative path of this layout as a URI under the store root `root`."""
    return f"{root.rstrip('/')}/{path}"
