"""Graceful shutdown of a real `mlops-operator serve` process: not-ready first, then drain,
then write what is pending."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
from test_serving_fixtures import iris_onnx, signature_json

V2_ROW = {
    "inputs": [
        {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
        for name, value in zip(
            ("sepal_length", "sepal_width", "petal_length", "petal_width"),
            (5.1, 3.5, 1.4, 0.2),
            strict=True,
        )
    ]
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_turns_unready_then_finishes_in_flight_and_flushes_samples(tmp_path: Path) -> None:
    served = iris_onnx("logistic")
    port = _free_port()
    samples, labels = tmp_path / "samples", tmp_path / "labels"
    env = dict(
        os.environ,
        MLOPS_SERVE_SAMPLE_RATE="1",
        MLOPS_SERVE_SAMPLE_URI=samples.as_uri(),
        MLOPS_SERVE_LABELS_URI=labels.as_uri(),
    )
    cmd = [
        sys.executable, "-m", "mlops_operator.cli", "serve",
        "--model-name", "iris", "--model-version", "3",
        "--artifact-uri", served.path.as_uri(), "--format", "onnx", "--sha256", served.sha256,
        "--signature", signature_json(served.signature),
        "--host", "127.0.0.1", "--port", str(port), "--drain-seconds", "1.5",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        row = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
        before = httpx.post(f"{base}/v1/models/iris:predict", json=row)
        assert before.status_code == 200 and "connection" not in before.headers

        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{base}/v2/health/ready", timeout=2)
        assert ready.status_code == 503 and "shutting down" in ready.json()["reason"]
        # Still serving while the endpoints controller takes the pod out.
        during = httpx.post(f"{base}/v1/models/iris:predict", json=row, timeout=5)
        assert during.status_code == 200
        # ...telling keep-alive clients to reconnect (through the Service, to another pod)
        assert during.headers["connection"] == "close"
        with httpx.Client(base_url=base, timeout=5) as client:
            answers = [client.post("/v2/models/iris/infer", json=V2_ROW) for _ in range(3)]
        assert [(a.status_code, a.headers["connection"]) for a in answers] == [(200, "close")] * 3
        # Ground truth sent while draining is accepted, and written before the exit.
        label = {"id": during.json()["ids"][0], "label": "setosa"}
        feedback = httpx.post(f"{base}/v2/models/iris/feedback", json=label, timeout=5)
        assert feedback.status_code == 202 and feedback.json() == {"accepted": 1}
        # uvicorn re-raises the signal after its graceful shutdown, so the exit is by SIGTERM.
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert b"Traceback" not in process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    files = list(samples.glob("dt=*/hour=*/*.parquet"))
    assert len(files) == 1  # both sampled rows flushed at shutdown
    (label_file,) = labels.glob("dt=*/hour=*/*.parquet")
    written = pq.read_table(label_file).to_pylist()
    assert [(r["mlops.id"], r["mlops.label"]) for r in written] == [(label["id"], '"setosa"')]
