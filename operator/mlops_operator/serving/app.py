"""The ASGI application: Open Inference Protocol V2, V1 :predict, JSON records, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import model as model_module
from .config import ServeConfig
from .metrics import ServingMetrics
from .model import LoadedModel, Prediction
from .sampling import Sampler
from .signature import Columns, CompiledSignature, RequestError

log = logging.getLogger("mlops_operator.serving")

Encoder = Callable[[Any, Prediction, int], Any]

# Requests with more rows than this run in a thread so one big batch cannot stall the loop;
# smaller ones run inline, which is cheaper than a thread hand-off.
INLINE_ROWS = 64


def json_bytes(content: Any) -> bytes:
    try:
        body = json.dumps(content, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN/inf from the model: not valid JSON, sent as null
        body = json.dumps(_finite(content), separators=(",", ":"))
    return body.encode()


def json_response(content: Any, status: int = 200) -> Response:
    return Response(json_bytes(content), status, media_type="application/json")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


class ModelServerApp(Starlette):
    """Starlette, with the model's own inference paths dispatched before the router.

    Those few exact paths carry nearly all traffic; sending them straight to their raw
    ASGI handlers skips the router and middleware stack. Everything else (other names,
    metadata, health, errors) goes through the ordinary routes.
    """

    def __init__(self, *args: Any, fast_paths: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_paths = fast_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.fast_paths.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class ServerState:
    """What the endpoints share: the loaded model (or why it is not), readiness, sampling."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.signature = CompiledSignature(config.signature)
        self.metrics = ServingMetrics(config.model_name, config.model_version)
        self.model: LoadedModel | None = None
        self.load_error: str | None = None
        self.draining = False
        self.sampler: Sampler | None = None
        if config.sample_uri and config.sample_rate > 0:
            self.sampler = Sampler(
                config.sample_uri,
                self.signature.columns,
                rate=config.sample_rate,
                batch_size=config.sample_batch_size,
                flush_seconds=config.sample_flush_seconds,
                queue_size=config.sample_queue_size,
                metrics=self.metrics,
            )

    @property
    def ready(self) -> bool:
        return self.model is not None and not self.draining

    def load(self) -> None:
        config = self.config
        try:
            self.model = model_module.load(config)
        except Exception as exc:
            self.load_error = str(exc)
            log.error(
                "model %s version %s will not be served: %s",
                config.model_name, config.model_version, exc,
            )  # fmt: skip
            return
        # Everything loaded so far lives until exit: keep it out of the garbage collector's
        # full passes, which would otherwise walk it and stall requests (p99 spikes).
        gc.collect()
        gc.freeze()
        self.metrics.ready.set(1)
        log.info(
            "model %s version %s loaded (%s, %s)",
            config.model_name, config.model_version, self.model.platform, self.model.task,
        )  # fmt: skip

    def not_ready_reason(self) -> str:
        if self.draining:
            return "server is shutting down"
        if self.load_error:
            return f"model failed to load: {self.load_error}"
        return "model is still loading"


def create_app(config: ServeConfig) -> Starlette:
    state = ServerState(config)
    name, version = config.model_name, config.model_version
    signature = state.signature
    metrics = state.metrics
    max_body = config.max_body_bytes

    def check_model(request: Request) -> None:
        params = request.path_params
        if params["name"] != name:
            raise RequestError(
                f"model '{params['name']}' not found; this server serves '{name}'", 404
            )
        wanted = params.get("version")
        if wanted is not None and wanted != version:
            raise RequestError(
                f"model '{name}' has no version '{wanted}'; this server serves version '{version}'",
                404,
            )

    async def read_body(scope: Any, receive: Any) -> bytes:
        for key, value in scope["headers"]:
            if key == b"content-length":
                if value.isdigit() and int(value) > max_body:
                    raise RequestError(
                        f"request body of {value.decode()} bytes exceeds the {max_body}-byte limit",
                        413,
                    )
                break
        chunks = []
        size = 0
        while True:  # also counts a chunked body that has no content-length
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError("client closed the connection", 499)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                raise RequestError(f"request body exceeds the {max_body}-byte limit", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def parse_json(raw: bytes) -> Any:
        if not raw:
            raise RequestError("empty request body; send JSON")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RequestError(f"malformed JSON: {exc}") from None

    async def run_model(columns: Columns, n: int) -> Prediction:
        model = state.model
        if model is None:
            raise RequestError(f"model is not ready: {state.not_ready_reason()}", 503)
        if n <= INLINE_ROWS and model.platform == "onnxruntime":
            prediction = model.predict(columns)
        else:
            prediction = await run_in_threadpool(model.predict, columns)
        if prediction.labels is not None:
            metrics.predicted_classes(prediction.labels)
        elif prediction.values is not None:
            metrics.predicted_values(prediction.values)
        sampler = state.sampler
        if sampler is not None:
            sampler.offer(columns, n)
        return prediction

    async def predict(
        decode: Callable[[Any], tuple[Columns, int]], encode: Encoder, raw: bytes
    ) -> tuple[int, bytes]:
        try:
            body = parse_json(raw)
            columns, n = decode(body)
            prediction = await run_model(columns, n)
            return 200, json_bytes(encode(body, prediction, n))
        except RequestError as exc:
            return exc.status, json_bytes({"error": exc.message})
        except Exception:
            log.exception("inference failed")
            return 500, json_bytes({"error": "internal error while predicting; see the server log"})

    def inference(
        endpoint: str, decode: Callable[[Any], tuple[Columns, int]], encode: Encoder
    ) -> tuple[Callable[[Request], Any], Callable[[Any, Any, Any], Any]]:
        """The handler as a Starlette endpoint, and as a raw ASGI app for the fast path."""

        async def route(request: Request) -> Response:
            started = time.perf_counter()
            try:
                check_model(request)
                raw = await read_body(request.scope, request.receive)
                status, payload = await predict(decode, encode, raw)
            except RequestError as exc:
                status, payload = exc.status, json_bytes({"error": exc.message})
            metrics.request(endpoint, status, time.perf_counter() - started)
            return Response(payload, status, media_type="application/json")

        async def fast(scope: Any, receive: Any, send: Any) -> None:
            started = time.perf_counter()
            try:
                raw = await read_body(scope, receive)
                status, payload = await predict(decode, encode, raw)
            except RequestError as exc:
                status, payload = exc.status, json_bytes({"error": exc.message})
            metrics.request(endpoint, status, time.perf_counter() - started)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})

        return route, fast

    def v2_outputs(prediction: Prediction, n: int) -> list[dict[str, Any]]:
        if prediction.labels is not None:
            labels = prediction.labels
            out = [
                {
                    "name": "label",
                    "datatype": "BYTES" if labels.dtype.kind in "OUS" else "INT64",
                    "shape": [n],
                    "data": labels.tolist(),
                }
            ]
            if prediction.probabilities is not None:
                p = prediction.probabilities
                out.append(
                    {"name": "probabilities", "datatype": "FP32", "shape": list(p.shape),
                     "data": p.ravel().tolist()}
                )  # fmt: skip
            return out
        assert prediction.values is not None
        return [
            {
                "name": "variable",
                "datatype": "FP32",
                "shape": [n],
                "data": prediction.values.tolist(),
            }
        ]

    def encode_v2(body: Any, prediction: Prediction, n: int) -> Any:
        out: dict[str, Any] = {
            "model_name": name,
            "model_version": version,
            "outputs": v2_outputs(prediction, n),
        }
        if isinstance(body.get("id"), str):
            out["id"] = body["id"]
        return out

    def encode_v1(body: Any, prediction: Prediction, n: int) -> Any:
        if prediction.labels is not None:
            out: dict[str, Any] = {"predictions": prediction.labels.tolist()}
            if prediction.probabilities is not None:
                out["probabilities"] = prediction.probabilities.tolist()
            return out
        assert prediction.values is not None
        return {"predictions": prediction.values.tolist()}

    def encode_records(body: Any, prediction: Prediction, n: int) -> Any:
        model = state.model
        if prediction.labels is not None:
            labels = prediction.labels.tolist()
            if prediction.probabilities is None:
                return [{"label": label} for label in labels]
            classes = (model.class_labels if model else None) or [
                str(i) for i in range(prediction.probabilities.shape[1])
            ]
            return [
                {"label": label, "probabilities": dict(zip(classes, row, strict=True))}
                for label, row in zip(labels, prediction.probabilities.tolist(), strict=True)
            ]
        assert prediction.values is not None
        return [{"value": v} for v in prediction.values.tolist()]

    def simple(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                return handler(request)
            except RequestError as exc:
                return _error(exc.message, exc.status)

        return endpoint

    def live(request: Request) -> Response:
        return json_response({"live": True})

    def ready(request: Request) -> Response:
        if "name" in request.path_params:
            check_model(request)
        if state.ready:
            return json_response({"ready": True})
        return json_response({"ready": False, "reason": state.not_ready_reason()}, 503)

    def metadata(request: Request) -> Response:
        check_model(request)
        model = state.model
        out: dict[str, Any] = {
            "name": name,
            "versions": [version],
            "platform": model.platform if model else None,
            "inputs": [
                {"name": t.name, "datatype": t.datatype, "shape": [-1, *t.shape[1:]]}
                for t in config.signature.inputs
            ],
            "outputs": [
                {"name": t.name, "datatype": t.datatype, "shape": t.shape}
                for t in config.signature.outputs
            ],
        }
        if model is not None:
            out["parameters"] = {"task": model.task, "class_labels": model.class_labels}
        return json_response(out)

    def server_metadata(request: Request) -> Response:
        return json_response({"name": "mlops-operator", "version": "v2", "extensions": []})

    def v1_model(request: Request) -> Response:
        check_model(request)
        return json_response({"name": name, "version": version, "ready": state.ready})

    def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if state.sampler is not None:
            state.sampler.start()
        restore = _drain_on_sigterm(state, config.drain_seconds)
        loading = asyncio.get_running_loop().run_in_executor(None, state.load)
        try:
            yield
        finally:
            state.draining = True
            metrics.ready.set(0)
            restore()
            await loading
            if state.sampler is not None:
                await run_in_threadpool(state.sampler.close)

    post = ["POST"]
    v1_predict = inference("v1_predict", signature.from_instances, encode_v1)
    v2_infer = inference("v2_infer", signature.from_v2, encode_v2)
    v1_records = inference("v1_records", signature.from_records, encode_records)
    routes = [
        Route("/v1/models/{name}:predict", v1_predict[0], methods=post),
        Route("/v2/models/{name}/infer", v2_infer[0], methods=post),
        Route("/v1/models/{name}/records", v1_records[0], methods=post),
        Route("/v2/models/{name}/versions/{version}/infer", v2_infer[0], methods=post),
        Route("/v2/health/live", simple(live)),
        Route("/v2/health/ready", simple(ready)),
        Route("/v2", simple(server_metadata)),
        Route("/v2/models/{name}", simple(metadata)),
        Route("/v2/models/{name}/ready", simple(ready)),
        Route("/v2/models/{name}/versions/{version}", simple(metadata)),
        Route("/v2/models/{name}/versions/{version}/ready", simple(ready)),
        Route("/v1/models/{name}", simple(v1_model)),
        Route("/metrics", metrics_endpoint),
    ]
    fast_paths = {
        f"/v1/models/{name}:predict": v1_predict[1],
        f"/v2/models/{name}/infer": v2_infer[1],
        f"/v2/models/{name}/versions/{version}/infer": v2_infer[1],
        f"/v1/models/{name}/records": v1_records[1],
    }

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(f"{exc.detail}: {request.method} {request.url.path}", exc.status_code)

    app = ModelServerApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        fast_paths=fast_paths,
    )
    app.state.server = state
    return app


def _drain_on_sigterm(state: ServerState, drain_seconds: float) -> Callable[[], None]:
    """On SIGTERM report not-ready first, keep serving `drain_seconds`, then let uvicorn stop.

    uvicorn has installed its own handler by the time the app starts; it is chained, so
    its graceful shutdown (stop accepting, finish in-flight requests) still runs.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        if state.draining:
            previous(signum, frame)
            return
        state.draining = True
        state.metrics.ready.set(0)
        log.info("SIGTERM: readiness is false; closing in %.1f s", drain_seconds)
        timer = threading.Timer(drain_seconds, previous, (signum, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    return restore
