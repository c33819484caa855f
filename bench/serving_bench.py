"""Single-row serving benchmark: our model server vs `mlflow models serve` vs a bare endpoint.

Contenders, each one uvicorn worker process (the same for all), access log off for all:
  ours   `mlops-operator serve` (V1 :predict; validation, metrics, 10 % drift sampling on)
  bare   Starlette + onnxruntime, one route, no validation/metrics/sampling: the floor
  mlflow `mlflow models serve --env-manager local` of the scikit-learn flavor (its own venv,
         see requirements-mlflow.txt): the same fitted estimator, run by scikit-learn
  mlflow-onnx  the same command on MLflow's onnx flavor (mlflow.onnx) of the very ONNX file
         ours and bare run, with onnxruntime pinned to ours and one intra-op thread as ours:
         ours vs mlflow-onnx is the server alone, mlflow-onnx vs mlflow the runtime alone
on a RandomForest (50 trees, depth 8) and a LogisticRegression over 20 numeric features.

The HTTP stack and the access log are checked on the running servers, not assumed: the
compiled modules loaded in each server's processes (httptools, uvloop) and the request lines
its log gained while measured (bench/serving_report.py).

Load: wrk (-t2 -c8, loopback) when /usr/bin/wrk exists, else an asyncio client with 8
connections over httpx. Rounds are interleaved (every contender once per round, all
servers kept up) and the table gives medians over rounds and per-round ratios, plus the
server's CPU time per request (user+sys of the server process tree over the run).

Usage: python bench/serving_bench.py [--duration 10] [--rounds 3] [--skip-mlflow]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass
from pathlib import Path

from serving_report import Result, access_lines, http_stack_of, process_tree_cpu, report

HERE = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "mlops-operator" / "bench"
MLFLOW_VENV = CACHE / "mlflow-venv"
REQUIREMENTS = HERE / "requirements-mlflow.txt"
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
WORKERS = 1
CONNECTIONS = 8


# --- models ------------------------------------------------------------------------------------
def build_models(workdir: Path) -> dict[str, dict[str, object]]:
    """Fit both models once; write ONNX (per-column inputs, docs/artifacts.md) and a pickle."""
    import numpy as np
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X, y = make_classification(n_samples=4000, n_features=N_FEATURES, random_state=0)  # noqa: N806
    X = X.astype(np.float32)  # noqa: N806
    estimators = {
        "logistic": LogisticRegression(max_iter=1000),
        "forest": RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0),
    }
    out: dict[str, dict[str, object]] = {}
    for name, estimator in estimators.items():
        estimator.fit(X, y)
        # ONNX graph takes one [n,1] input per column and concatenates them (the contract).
        pipeline = Pipeline(
            [("columns", ColumnTransformer([("all", "passthrough", list(range(N_FEATURES)))])),
             ("model", estimator)]
        )  # fmt: skip
        pipeline.fit(X, y)
        onx = to_onnx(
            pipeline,
            initial_types=[(f, FloatTensorType([None, 1])) for f in FEATURES],
            options={id(pipeline.steps[-1][1]): {"zipmap": False}},
            target_opset=17,
        )
        onnx_path = workdir / f"{name}.onnx"
        onnx_path.write_bytes(onx.SerializeToString())
        pickle_path = workdir / f"{name}.pkl"
        pickle_path.write_bytes(pickle.dumps(estimator))  # read only by our own mlflow venv
        out[name] = {
            "onnx": onnx_path,
            "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
            "pickle": pickle_path,
            "row": [round(float(v), 6) for v in X[0]],
        }
    return out


# --- servers -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    model: str
    url: str
    body: bytes
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout}s: {log.read_text()[-2000:]}")


def row_body_instances(row: list[float]) -> bytes:
    return json.dumps({"instances": [row]}).encode()


def start_ours(model: str, info: dict[str, object], workdir: Path) -> Server:
    port = free_port()
    signature = {"inputs": [{"name": f, "datatype": "FP32", "shape": [-1]} for f in FEATURES]}
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "operator"))
    cmd = [
        sys.executable, "-m", "mlops_operator.cli", "serve",
        "--model-name", model, "--model-version", "1",
        "--artifact-uri", Path(str(info["onnx"])).as_uri(), "--format", "onnx",
        "--sha256", str(info["sha256"]), "--signature", json.dumps(signature),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
        "--sample-rate", "0.1", "--sample-uri", (workdir / "samples" / model).as_uri(),
        "--drain-seconds", "0", "--log-level", "warning",
    ]  # fmt: skip
    log = workdir / f"ours-{model}.log"
    process = _start(cmd, env, log)
    wait_http(f"http://127.0.0.1:{port}/v2/health/ready", process, log, 60)
    url = f"http://127.0.0.1:{port}/v1/models/{model}:predict"
    return Server("ours", model, url, row_body_instances(info["row"]), process, log)  # type: ignore[arg-type]


def start_bare(model: str, info: dict[str, object], workdir: Path) -> Server:
    port = free_port()
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--bare-server", str(info["onnx"]),
        "--port", str(port),
    ]  # fmt: skip
    log = workdir / f"bare-{model}.log"
    process = _start(cmd, dict(os.environ), log)
    wait_http(f"http://127.0.0.1:{port}/health", process, log, 60)
    url = f"http://127.0.0.1:{port}/predict"
    return Server("bare", model, url, row_body_instances(info["row"]), process, log)  # type: ignore[arg-type]


def ensure_mlflow_venv() -> Path:
    """Create the MLflow virtualenv once; reinstall only when the requirements change."""
    stamp = MLFLOW_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing MLflow into {MLFLOW_VENV} (once)...", flush=True)
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(MLFLOW_VENV)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def mlflow_env(workdir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PATH=f"{MLFLOW_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        MLFLOW_TRACKING_URI=(workdir / "mlruns").as_uri(),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        UVICORN_ACCESS_LOG="false",  # same as the other contenders
    )


def save_mlflow_model(
    python: Path, info: dict[str, object], target: Path, env: dict[str, str]
) -> None:
    if target.exists():
        shutil.rmtree(target)
    # Saved as an MLflow user would: with a column signature, so MLflow validates requests
    # as our server does, in MLflow's default skops format (which refuses tree internals
    # unless they are named as trusted).
    script = (
        "import json, pickle, sys, pandas as pd, mlflow.sklearn\n"
        "from mlflow.models import infer_signature\n"
        "est = pickle.load(open(sys.argv[1], 'rb'))\n"
        "x = pd.DataFrame([json.loads(sys.argv[3])], columns=json.loads(sys.argv[4]))\n"
        "sig = infer_signature(x, est.predict(x.to_numpy()))\n"
        "mlflow.sklearn.save_model(est, sys.argv[2], signature=sig,"
        " skops_trusted_types=['sklearn.tree._tree.Tree'])\n"
    )
    args = [str(info["pickle"]), str(target), json.dumps(info["row"]), json.dumps(FEATURES)]
    subprocess.run([str(python), "-c", script, *args], env=env, check=True)


def save_mlflow_onnx_model(
    python: Path, info: dict[str, object], target: Path, env: dict[str, str]
) -> None:
    """The very ONNX file ours serves, saved with MLflow's onnx flavor and a tensor signature
    (one float32 [n, 1] input per column, as the graph takes them), onnxruntime on one thread
    as ours."""
    if target.exists():
        shutil.rmtree(target)
    script = (
        "import json, sys, numpy as np, onnx, onnxruntime as ort, mlflow.onnx\n"
        "from mlflow.models import infer_signature\n"
        "row, names = json.loads(sys.argv[3]), json.loads(sys.argv[4])\n"
        "x = {n: np.array([[v]], dtype=np.float32) for n, v in zip(names, row)}\n"
        "session = ort.InferenceSession(sys.argv[1])\n"
        "y = dict(zip([o.name for o in session.get_outputs()], session.run(None, x)))\n"
        "mlflow.onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2],\n"
        "    signature=infer_signature(x, y),\n"
        "    onnx_session_options={'intra_op_num_threads': 1, 'inter_op_num_threads': 1})\n"
    )
    args = [str(info["onnx"]), str(target), json.dumps(info["row"]), json.dumps(FEATURES)]
    subprocess.run([str(python), "-c", script, *args], env=env, check=True)


def start_mlflow(
    model: str, info: dict[str, object], workdir: Path, python: Path, flavor: str = "sklearn"
) -> Server:
    env = mlflow_env(workdir)
    name = "mlflow" if flavor == "sklearn" else f"mlflow-{flavor}"
    target = workdir / f"{name}-{model}"
    if flavor == "sklearn":
        save_mlflow_model(python, info, target, env)
        body: dict[str, object] = {"dataframe_split": {"columns": FEATURES, "data": [info["row"]]}}
    else:
        save_mlflow_onnx_model(python, info, target, env)
        row: list[float] = info["row"]  # type: ignore[assignment]
        body = {"inputs": {f: [[v]] for f, v in zip(FEATURES, row, strict=True)}}
    port = free_port()
    cmd = [
        str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(target),
        "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "-w", str(WORKERS),
    ]  # fmt: skip
    log = workdir / f"{name}-{model}.log"
    process = _start(cmd, env, log)
    wait_http(f"http://127.0.0.1:{port}/ping", process, log, 120)
    url = f"http://127.0.0.1:{port}/invocations"
    return Server(name, model, url, json.dumps(body).encode(), process, log)


# --- load --------------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(server: Server, duration: float, workdir: Path) -> tuple[float, float, float, int, int]:
    script = workdir / f"{server.name}-{server.model}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(server.body.decode())}\n"
    )
    out = subprocess.run(
        ["/usr/bin/wrk", "-t2", f"-c{CONNECTIONS}", f"-d{int(duration)}s", "--latency",
         "-s", str(script), server.url],
        capture_output=True, text=True, check=True, timeout=duration + 30,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return rps, p50, p99, errors, requests


def run_async_client(server: Server, duration: float) -> tuple[float, float, float, int, int]:
    import httpx

    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(server.url, content=server.body,
                                         headers={"content-type": "application/json"})  # fmt: skip
            latencies.append((time.perf_counter() - started) * 1000)
            errors += response.status_code >= 300

    async def main() -> float:
        limits = httpx.Limits(max_connections=CONNECTIONS)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            started = time.perf_counter()
            deadline = started + duration
            await asyncio.gather(*(worker(client, deadline) for _ in range(CONNECTIONS)))
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()
    n = len(latencies)
    return n / elapsed, latencies[n // 2], latencies[min(n - 1, int(n * 0.99))], errors, n


def measure(server: Server, duration: float, workdir: Path, use_wrk: bool) -> Result:
    # A short warm-up so every contender is measured hot.
    if use_wrk:
        run_wrk(server, 1, workdir)
    else:
        run_async_client(server, 1)
    cpu_before = process_tree_cpu(server.process.pid)
    lines_before = access_lines(server.log)
    if use_wrk:
        rps, p50, p99, errors, requests = run_wrk(server, duration, workdir)
    else:
        rps, p50, p99, errors, requests = run_async_client(server, duration)
    cpu = process_tree_cpu(server.process.pid) - cpu_before
    logged = access_lines(server.log) - lines_before
    return Result(rps, p50, p99, errors, requests, cpu * 1000 / max(requests, 1), logged)


# --- bare floor server ---------------------------------------------------------------------------
def bare_server(onnx_path: str, port: int) -> None:
    """Starlette + onnxruntime with nothing else: parse, run, answer."""
    import numpy as np
    import onnxruntime as ort
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as in our server
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    async def predict(request: Request) -> JSONResponse:
        rows = np.asarray((await request.json())["instances"], dtype=np.float32)
        label, probabilities = session.run(
            None, {n: rows[:, i : i + 1] for i, n in enumerate(names)}
        )
        return JSONResponse(
            {"predictions": label.tolist(), "probabilities": probabilities.tolist()}
        )

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--bare-server", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        bare_server(args.bare_server, args.port)
        return 0

    use_wrk = args.client == "wrk" or (args.client == "auto" and Path("/usr/bin/wrk").exists())
    print(f"load generator: {'wrk -t2 -c8' if use_wrk else 'asyncio + httpx, 8 connections'}")
    workdir = Path(tempfile.mkdtemp(prefix="mlops-serving-bench-"))
    models = build_models(workdir)
    python = None if args.skip_mlflow else ensure_mlflow_venv()
    servers: list[Server] = []
    try:
        for model, info in models.items():
            servers.append(start_ours(model, info, workdir))
            servers.append(start_bare(model, info, workdir))
            if python is not None:
                servers.append(start_mlflow(model, info, workdir, python))
                servers.append(start_mlflow(model, info, workdir, python, flavor="onnx"))
        results: dict[tuple[str, str], list[Result]] = {}
        stacks: dict[str, str] = {}
        for round_no in range(args.rounds):
            order = servers if round_no % 2 == 0 else list(reversed(servers))
            for server in order:
                result = measure(server, args.duration, workdir, use_wrk)
                results.setdefault((server.name, server.model), []).append(result)
                in_process = server.name in ("ours", "bare")  # uvicorn.run, not a command
                stacks.setdefault(server.name, http_stack_of(server.process.pid, in_process))
                print(f"round {round_no + 1} {server.model:8} {server.name:6} "
                      f"{result.rps:8.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                      f"p99 {result.p99_ms:7.2f} ms  cpu {result.cpu_ms_per_request:.3f} ms/req",
                      flush=True)  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    samples = list((workdir / "samples").rglob("*.parquet"))
    print(f"\nour server wrote {len(samples)} drift-sample files during the run")
    return 0 if report(results, args.rounds, WORKERS, CONNECTIONS, stacks) else 1


if __name__ == "__main__":
    sys.exit(main())
