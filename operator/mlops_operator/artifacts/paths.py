"""The content-addressed layout of docs/artifacts.md, as relative paths under the store root."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

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


def batch_output(namespace: str, batch_prediction: str, run: str) -> str:
    """A BatchPrediction run's predictions: `part-<index>.parquet` per partition (a Parquet
    directory any reader takes whole), and `_results/part-<index>.json` (what each partition
    reported; readers skip names starting with `_`)."""
    ns, bp = _seg(namespace, "namespace"), _seg(batch_prediction, "batch prediction")
    return f"predictions/{ns}/{bp}/{_seg(run, 'run')}"


def batch_partition(namespace: str, batch_prediction: str, run: str, index: int) -> str:
    return f"{batch_output(namespace, batch_prediction, run)}/part-{int(index):05d}.parquet"


def batch_partition_result(namespace: str, batch_prediction: str, run: str, index: int) -> str:
    return f"{batch_output(namespace, batch_prediction, run)}/_results/part-{int(index):05d}.json"


def dataset_part(namespace: str, dataset: str, part_sha256: str) -> str:
    """One part of a partitioned snapshot, content-addressed on its own: a part written twice
    (a retried partition) is the same file. A version's `manifest.json` lists its parts."""
    ns, ds = _seg(namespace, "namespace"), _seg(dataset, "dataset")
    return f"datasets/{ns}/{ds}/parts/{_sha(part_sha256)}.parquet"


def dataset_manifest(namespace: str, dataset: str, version: str) -> str:
    """A partitioned snapshot: its parts in order with their sha256 and rows."""
    return f"{dataset_dir(namespace, dataset, version)}/manifest.json"


def dataset_partial(namespace: str, dataset: str, run: str, index: int) -> str:
    """What one partition of a profile run found (its part, rule counts, partial profile),
    merged by the run's merge Job."""
    ns, ds = _seg(namespace, "namespace"), _seg(dataset, "dataset")
    return f"datasets/{ns}/{ds}/partials/{_seg(run, 'run')}/part-{int(index):05d}.json"


def under(root: str, path: str) -> str:
    """A relative path of this layout as a URI under the store root `root`."""
    return f"{root.rstrip('/')}/{path}"


# --- Time partitions of the records the model server appends (samples and labels) ----------
#
# `<base>/dt=YYYY-MM-DD/hour=HH/<UTC %Y%m%dT%H%M%S%fZ>-<hex>.parquet`, the partition being the
# UTC hour the file was written in (its name's timestamp). A reader lists only the partitions
# its window covers; compaction replaces the small files of a closed hour with one
# `compact-<UTC stamp>-<hex>.parquet` whose Parquet metadata names the files it holds
# (artifacts/lifecycle). Files written before partitions existed sit directly in `<base>`
# (the flat layout) and are read as members of their hour.

STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_RECORD_FILE = re.compile(r"^(\d{8}T\d{6})(\d{6})Z-[0-9a-f]+\.parquet$")
_COMPACTED_FILE = re.compile(r"^compact-(\d{8}T\d{6})(\d{6})Z-[0-9a-f]+\.parquet$")
_DAY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
_HOUR = re.compile(r"^hour=(\d{2})$")
HOUR = timedelta(hours=1)


def partition(moment: datetime) -> str:
    """The partition (relative to a records base) of a moment: `dt=YYYY-MM-DD/hour=HH`."""
    utc = moment.astimezone(UTC)
    return f"dt={utc:%Y-%m-%d}/hour={utc:%H}"


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def record_file(moment: datetime, token: str) -> str:
    """`<partition>/<stamp>-<token>.parquet`: where a writer puts a batch written at `moment`."""
    return f"{partition(moment)}/{moment.astimezone(UTC).strftime(STAMP_FORMAT)}-{token}.parquet"


def compacted_file(moment: datetime, token: str) -> str:
    """The name of a compacted file written at `moment` (within its hour's directory)."""
    return f"compact-{moment.astimezone(UTC).strftime(STAMP_FORMAT)}-{token}.parquet"


def _stamp(match: re.Match[str] | None) -> datetime | None:
    if not match:
        return None
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return moment.replace(microsecond=int(match.group(2)), tzinfo=UTC)


def record_time(name: str) -> datetime | None:
    """When a record file was written, from its name (a URI's last segment is used); None
    for anything that is not a record file (compacted files included)."""
    return _stamp(_RECORD_FILE.match(name.rstrip("/").rsplit("/", 1)[-1]))


def compacted_time(name: str) -> datetime | None:
    """When a compacted file was written, from its name; None for other files."""
    return _stamp(_COMPACTED_FILE.match(name.rstrip("/").rsplit("/", 1)[-1]))


def day_of(directory: str) -> date | None:
    """The day of a `dt=YYYY-MM-DD` directory name; None for other names."""
    match = _DAY.match(directory.rstrip("/").rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def hour_in(day: date, directory: str) -> datetime | None:
    """The start of the hour of an `hour=HH` directory of `day`; None for other names."""
    match = _HOUR.match(directory.rstrip("/").rsplit("/", 1)[-1])
    if not match or int(match.group(1)) > 23:
        return None
    return datetime(day.year, day.month, day.day, int(match.group(1)), tzinfo=UTC)


def covers(hour: datetime, since: datetime | None, until: datetime | None = None) -> bool:
    """Whether the partition of `hour` can hold files written in [since, until)."""
    return (since is None or hour + HOUR > since) and (until is None or hour < until)


def day_covers(day: date, since: datetime | None) -> bool:
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return since is None or end > since
