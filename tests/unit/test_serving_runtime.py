"""Drift sampling, metrics and canary analysis of the model server, and its configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient
from test_serving_fixtures import IRIS_FEATURES, iris_onnx, mixed_onnx, wait_ready

from mlops_operator.serving.analysis import delta, summarize
from mlops_operator.serving.app import create_app
from mlops_operator.serving.config import ConfigError, parse_config, to_environ


def _predict(client: TestClient, rows: np.ndarray) -> Any:
    return client.post("/v1/models/iris:predict", json={"instances": rows.tolist()})


def test_sampling_writes_parquet_batches_with_feature_columns(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    sink = tmp_path / "samples" / "ns" / "iris" / "3"
    config = served.config(sample_rate=1.0, sample_uri=sink.as_uri(), sample_batch_size=50)
    rows = served.X.to_numpy()
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        for start in range(0, 60, 10):
            assert _predict(client, rows[start : start + 10]).status_code == 200
        deadline = time.monotonic() + 5
        # a full batch is written without waiting
        while not list(sink.glob("dt=*/hour=*/*.parquet")):
            assert time.monotonic() < deadline, "no sample file after a full batch"
            time.sleep(0.05)
        for start in range(60, 120, 10):
            assert _predict(client, rows[start : start + 10]).status_code == 200
        records = served.X.iloc[120:121].to_dict("records")
        assert client.post("/v1/models/iris/records", json=records).status_code == 200
    files = sorted(sink.glob("dt=*/hour=*/*.parquet"))
    assert len(files) >= 2  # the remainder is flushed at shutdown
    assert all(f.name.endswith(".parquet") and "-" in f.name for f in files)
    frames = [pq.read_table(f).to_pandas() for f in files]
    # The features in signature order, then the reserved record columns.
    assert all(list(f.columns)[:4] == IRIS_FEATURES for f in frames)
    assert all(all(c.startswith("mlops.") for c in list(f.columns)[4:]) for f in frames)
    written = np.concatenate([f[IRIS_FEATURES].to_numpy() for f in frames])
    assert written.shape == (121, 4)
    np.testing.assert_allclose(np.sort(written, axis=0), np.sort(rows[:121], axis=0), rtol=1e-6)


def test_sampling_rate_is_a_share_of_rows(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    config = served.config(sample_rate=0.25, sample_uri=tmp_path.as_uri(), sample_batch_size=10_000)
    rows = np.tile(served.X.to_numpy(), (20, 1))  # 3000 rows
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        for chunk in np.array_split(rows, 30):
            assert _predict(client, chunk).status_code == 200
    written = sum(pq.read_metadata(f).num_rows for f in tmp_path.glob("dt=*/hour=*/*.parquet"))
    assert 600 < written < 900  # 25 % of 3000 = 750, binomial sd ~24


def test_categorical_samples_keep_strings(tmp_path: Path) -> None:
    served = mixed_onnx()
    config = served.config(sample_rate=1.0, sample_uri=tmp_path.as_uri())
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        records = served.X.iloc[:5].to_dict("records")
        assert client.post("/v1/models/iris/records", json=records).status_code == 200
    (file,) = tmp_path.glob("dt=*/hour=*/*.parquet")
    frame = pq.read_table(file).to_pandas()
    assert frame["city"].tolist() == served.X["city"].iloc[:5].tolist()


def test_broken_sample_sink_never_fails_a_request(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the sample directory should be")
    served = iris_onnx("logistic")
    config = served.config(
        sample_rate=1.0, sample_uri=(blocker / "samples").as_uri(), sample_batch_size=5
    )
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        for _ in range(6):
            assert _predict(client, served.X.to_numpy()[:5]).status_code == 200
        deadline = time.monotonic() + 5
        while "mlops_serving_sample_write_errors_total" not in _nonzero(client):
            assert time.monotonic() < deadline, "write errors never counted"
            time.sleep(0.05)
    assert not list(tmp_path.rglob("*.parquet"))


def test_full_sample_queue_drops_and_counts(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    config = served.config(
        sample_rate=1.0, sample_uri=tmp_path.as_uri(), sample_queue_size=1, sample_batch_size=10**6
    )
    app = create_app(config)
    # Not entering the client context: no lifespan, so the writer thread never drains the
    # queue and the second request finds it full.
    state = app.state.server
    state.load()
    client = TestClient(app)
    assert _predict(client, served.X.to_numpy()[:3]).status_code == 200
    assert _predict(client, served.X.to_numpy()[:4]).status_code == 200
    text = client.get("/metrics").text
    assert 'mlops_serving_sampled_rows_total{model="iris",version="3"} 3.0' in text
    assert 'mlops_serving_sample_dropped_rows_total{model="iris",version="3"} 4.0' in text


def _nonzero(client: TestClient) -> str:
    return "\n".join(
        line for line in client.get("/metrics").text.splitlines()
        if not line.startswith("#") and not line.endswith(" 0.0")
    )  # fmt: skip


def test_metrics_series_and_canary_summary() -> None:
    served = iris_onnx("logistic")
    rows = served.X.to_numpy()
    with TestClient(create_app(served.config())) as client:
        wait_ready(client)
        before = summarize(client.get("/metrics").text, model_version="3")
        for i in range(10):
            assert _predict(client, rows[i * 15 : i * 15 + 1]).status_code == 200
        assert client.post("/v2/models/iris/infer", json={"inputs": []}).status_code == 400
        assert client.post("/v1/models/iris:predict", content=b"{").status_code == 400
        text = client.get("/metrics").text
    expected = served.estimator.predict(served.X.iloc[[i * 15 for i in range(10)]])
    for label in set(expected):
        count = int((expected == label).sum())
        assert (
            f'mlops_serving_predictions_total{{class="{label}",model="iris",version="3"}} {count}.0'
            in text
        )
    assert (
        'mlops_serving_requests_total{code="200",endpoint="v1_predict",model="iris",version="3"} 10.0'
        in text
    )
    assert (
        'mlops_serving_requests_total{code="400",endpoint="v2_infer",model="iris",version="3"} 1.0'
        in text
    )
    assert (
        'mlops_serving_request_duration_seconds_count{endpoint="v1_predict",model="iris",version="3"} 11.0'
        in text
    )
    assert 'mlops_serving_model_ready{model="iris",version="3"} 1.0' in text

    after = summarize(text, model_version="3")
    assert (after.requests, after.errors, after.client_errors) == (12, 0, 2)
    assert after.error_rate == 0.0
    assert after.p99_ms is not None and 0 < after.p99_ms < 10_000
    assert summarize(text, model_version="2").requests == 0
    assert summarize(text, model_version="2").p99_ms is None
    window = delta(before, after)
    assert window.requests == 12 and window.p99_ms == after.p99_ms


def test_summary_counts_5xx_as_errors_and_quantile_interpolates() -> None:
    def exposition(ok: int, failed: int, fast: int, slow: int) -> str:
        lines = [
            "# TYPE mlops_serving_requests_total counter",
            f'mlops_serving_requests_total{{model="m",version="2",endpoint="v2_infer",code="200"}} {ok}',
            f'mlops_serving_requests_total{{model="m",version="2",endpoint="v2_infer",code="500"}} {failed}',
            'mlops_serving_requests_total{model="m",version="1",endpoint="v2_infer",code="500"} 99',
            'mlops_serving_requests_total{model="m",version="2",endpoint="metrics",code="200"} 50',
            "# TYPE mlops_serving_request_duration_seconds histogram",
        ]
        for bound, count in (("0.001", fast), ("0.01", fast + slow), ("+Inf", fast + slow)):
            lines.append(
                f'mlops_serving_request_duration_seconds_bucket{{model="m",version="2",endpoint="v2_infer",le="{bound}"}} {count}'
            )
        return "\n".join(lines) + "\n"

    first = summarize(exposition(90, 10, 100, 0), model_version="2")
    assert (first.requests, first.errors, first.error_rate) == (100, 10, 0.1)
    assert first.p99_ms == pytest.approx(0.99)  # rank 99 of 100 in [0, 1 ms]
    second = summarize(exposition(190, 10, 100, 100), model_version="2")
    window = delta(first, second)
    assert (window.requests, window.errors, window.error_rate) == (100, 0, 0.0)
    assert window.p99_ms == pytest.approx(1 + 9 * 0.99)  # all window traffic in (1, 10] ms
    restarted = summarize(exposition(5, 5, 10, 0), model_version="2")
    assert delta(second, restarted).requests == 10
    both = summarize(exposition(90, 10, 100, 0))
    assert both.errors == 109


def test_config_from_flags_and_environment() -> None:
    served = iris_onnx("logistic")
    signature = json.dumps(served.signature.wire())
    flags = ["--model-name", "iris", "--model-version", "3", "--artifact-uri", "file:///m.onnx",
             "--format", "onnx", "--sha256", served.sha256, "--signature", signature]  # fmt: skip
    config = parse_config([*flags, "--port", "9000"], environ={"MLOPS_SERVE_PORT": "7000"})
    assert config.port == 9000 and config.workers == 1 and config.access_log is False
    assert config.signature == served.signature
    from_env = parse_config([], environ=to_environ(config))
    assert from_env == config
    env = {**to_environ(config), "MLOPS_SERVE_SAMPLE_RATE": "0.5", "MLOPS_SERVE_PORT": "7000"}
    assert parse_config([], environ=env).sample_rate == 0.5
    assert parse_config([], environ=env).port == 7000
    with pytest.raises(ConfigError, match="--sha256"):
        parse_config(flags[:8] + flags[10:], environ={})
    with pytest.raises(ConfigError, match="sample-rate"):
        parse_config([*flags, "--sample-rate", "2"], environ={})
    with pytest.raises(ConfigError, match="MLOPS_SERVE_PORT"):
        parse_config(flags, environ={"MLOPS_SERVE_PORT": "eighty"})
    with pytest.raises(ConfigError, match="not a valid Signature"):
        parse_config([*flags[:-1], '{"inputs": []}'], environ={})


def test_cli_rejects_bad_flags_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_operator.serving.cli import main

    assert main(["--model-name", "iris"]) == 2
    assert "--model-version" in capsys.readouterr().err
