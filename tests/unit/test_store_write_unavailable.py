"""Writing to a store whose endpoint cannot be reached is StoreUnavailable naming the URI and
the endpoint, as reading is: the pod commands (profile, train, predict) fail with that reason
in their termination message, not ProfilerError / TrainerError with botocore's exception."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from mlops_operator.artifacts import Store, StoreUnavailable
from mlops_operator.artifacts.snapshots import publish_file
from mlops_operator.training import profile_cli, train_cli


@pytest.fixture
def closed_endpoint(monkeypatch: pytest.MonkeyPatch) -> str:
    """An endpoint nothing listens on (a port bound, never listened on): every connection
    is refused at once. The pod commands take it from the environment, as in a pod."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    endpoint = f"http://127.0.0.1:{holder.getsockname()[1]}"
    for name, value in {
        "MLOPS_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_MAX_ATTEMPTS": "1",  # botocore: no retries, so the test does not wait them out
    }.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    holder.close()


def _store(endpoint: str) -> Store:
    return Store(
        "s3://bucket/root",
        storage_options={"endpoint_url": endpoint, "skip_instance_cache": True},
    )


def test_a_write_to_an_unreachable_endpoint_is_store_unavailable(closed_endpoint: str) -> None:
    store = _store(closed_endpoint)
    with pytest.raises(StoreUnavailable, match=rf"s3://bucket/root/a/b\.json.*{closed_endpoint}"):
        store.write_json("a/b.json", {"x": 1})
    with pytest.raises(StoreUnavailable, match=rf"s3://bucket/root/a.*{closed_endpoint}"):
        store.delete("a")


def test_publishing_a_file_to_an_unreachable_endpoint_is_store_unavailable(
    closed_endpoint: str, tmp_path: Path
) -> None:
    local = tmp_path / "part.parquet"
    local.write_bytes(b"PAR1")
    with pytest.raises(
        StoreUnavailable, match=rf"s3://bucket/out/part\.parquet.*{closed_endpoint}"
    ):
        publish_file(str(local), "s3://bucket/out/part.parquet")


def test_a_local_write_error_is_not_store_unavailable(tmp_path: Path) -> None:
    """A file:// store that refuses a write (a file where a directory should be) keeps its
    OSError: the store answered, the write itself is wrong."""
    (tmp_path / "blocked").write_text("not a directory")
    with pytest.raises(OSError) as raised:
        Store(tmp_path.as_uri()).write_json("blocked/x.json", {})
    assert not isinstance(raised.value, StoreUnavailable)


def _message(log: Path) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(log.read_text())
    return message


def test_the_profile_command_reports_store_unavailable(
    closed_endpoint: str, tmp_path: Path
) -> None:
    log = tmp_path / "termination"
    code = profile_cli.main([
        "--namespace", "ml", "--name", "iris", "--spec", '{"source": {"uri": "sklearn://iris"}}',
        "--store", "s3://bucket/root", "--result-uri", "s3://bucket/root/results/iris.json",
        "--termination-log", str(log),
    ])  # fmt: skip
    message = _message(log)
    assert code == 1 and message["reason"] == "StoreUnavailable", message
    assert "s3://bucket/root/" in message["error"] and closed_endpoint in message["error"]


def test_the_train_command_reports_store_unavailable(closed_endpoint: str, tmp_path: Path) -> None:
    log = tmp_path / "termination"
    version = "a" * 64
    spec = {
        "datasetRef": {"name": "iris"},
        "model": "iris",
        "target": "target",
        "estimator": "LogisticRegression",
    }
    code = train_cli.main([
        "--namespace", "ml", "--name", "tj", "--uid", "u1", "--spec", json.dumps(spec),
        "--dataset-name", "iris", "--dataset-version", version,
        "--snapshot-uri", f"s3://bucket/root/datasets/ml/iris/{version}/data.parquet",
        "--profile-uri", f"s3://bucket/root/datasets/ml/iris/{version}/profile.json",
        "--store", "s3://bucket/root", "--termination-log", str(log),
    ])  # fmt: skip
    message = _message(log)
    assert code == 1 and message["reason"] == "StoreUnavailable", message
    assert closed_endpoint in message["error"], message


def test_a_result_the_store_cannot_take_fails_the_pod(closed_endpoint: str, tmp_path: Path) -> None:
    """The work itself succeeded on a local input, but its result cannot be stored: exit 1,
    and the termination message says StoreUnavailable (not ok: true)."""
    from mlops_operator.training.common import report

    log = tmp_path / "termination"
    argv = ["--result-uri", "s3://bucket/root/results/r.json", "--termination-log", str(log)]
    assert report(argv, {"ok": True, "rows": 3}) == 1
    message = _message(log)
    assert message["ok"] is False and message["reason"] == "StoreUnavailable", message
    assert "s3://bucket/root/results/r.json" in message["error"]
    assert closed_endpoint in message["error"]


def test_the_predict_command_reports_store_unavailable(
    closed_endpoint: str, tmp_path: Path
) -> None:
    """A partition scored from a local model and input whose output cannot be uploaded."""
    from sklearn.model_selection import train_test_split
    from tests.unit.test_batch_cli import input_files
    from tests.unit.test_compare_cli import Model, iris

    from mlops_operator import cli

    train, _ = train_test_split(iris(), test_size=0.3, random_state=0)
    model = Model(Store((tmp_path / "store").as_uri()), "iris", "LogisticRegression", train,
                  "target")  # fmt: skip
    source, _ = input_files(tmp_path)
    log = tmp_path / "termination"
    code = cli.main([
        "predict", "--name", "nightly", "--model", model.arg(),
        "--signature-json", json.dumps(model.signature), "--task", model.task,
        "--input", source, "--partitions", "1", "--index", "0",
        "--output-uri", "s3://bucket/root/predictions/ml/nightly/run",
        "--id-column", "customer", "--termination-log", str(log),
    ])  # fmt: skip
    message = _message(log)
    assert code == 1 and message["reason"] == "StoreUnavailable", message
    assert "s3://bucket/root/predictions/ml/nightly/run/part-00000.parquet" in message["error"]
    assert closed_endpoint in message["error"], message
