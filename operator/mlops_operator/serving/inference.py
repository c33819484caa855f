"""One inference request, whatever its protocol: read the body, decode, predict, encode, count.

Each request gets an id and each of its rows a prediction id (ids.py); the answer carries
them and the `X-Request-Id` header, and the sampler records them with the predictions.

A protocol module supplies the decoder (request JSON -> feature columns) and the encoder
(prediction -> response JSON); InferenceEndpoint does the rest, once for all protocols.
It serves both as a Starlette route and as a raw ASGI app for the fast path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..api.modelversion import LABEL, PROBABILITIES, VARIABLE
from . import ids
from .errors import RequestError, error_payload, internal_error
from .model import Prediction
from .nonfinite import NonFiniteInput, first_nonfinite_row, output_refusal
from .responses import JSON, json_bytes
from .signature import Columns
from .state import ServerState

Decoder = Callable[[Any], tuple[Columns, int]]
# (state, request JSON, prediction, number of rows, request id, row ids) -> response JSON
Encoder = Callable[[ServerState, Any, Prediction, int, str, list[str]], Any]

# Requests with more rows than this run in a thread so one big batch cannot stall the loop;
# smaller ones run inline, which is cheaper than a thread hand-off.
INLINE_ROWS = 64

_JSON_HEADER = (b"content-type", JSON.encode())
_ID_HEADER = ids.HEADER.lower().encode()


class InferenceEndpoint:
    """One protocol's inference endpoint, at `paths` (templates over {name} and {version}).

    `body_id`: the protocol's request body may carry the request id (V2 `id`).
    """

    def __init__(
        self,
        state: ServerState,
        endpoint: str,
        paths: tuple[str, ...],
        decode: Decoder,
        encode: Encoder,
        *,
        body_id: bool = False,
    ) -> None:
        self.state = state
        self.endpoint = endpoint  # the `endpoint` label of the request metrics
        self.paths = paths
        self.decode = decode
        self.encode = encode
        self.body_id = body_id

    def routes(self) -> list[Route]:
        return [Route(path, self.route, methods=["POST"]) for path in self.paths]

    def fast_paths(self) -> dict[str, InferenceEndpoint]:
        """The exact paths of the model served here, for ModelServerApp to dispatch directly."""
        state = self.state
        return {path.format(name=state.name, version=state.version): self for path in self.paths}

    async def route(self, request: Request) -> Response:
        # The fast path takes the exact paths of the model served here, so this route mostly
        # sees paths naming another model or version: check_model answers those with a 404.
        status, payload, request_id = await self.answer(
            request.scope, request.receive, request.path_params
        )
        headers = {ids.HEADER: request_id} if request_id is not None else None
        return Response(payload, status, headers=headers, media_type=JSON)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, payload, request_id = await self.answer(scope, receive)
        headers = [_JSON_HEADER, (b"content-length", str(len(payload)).encode())]
        if request_id is not None:
            headers.append((_ID_HEADER, request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def answer(
        self, scope: Scope, receive: Receive, path_params: Mapping[str, Any] | None = None
    ) -> tuple[int, bytes, str | None]:
        """Status, body and request id (None while unknown, e.g. for a bad id header) for the
        request; every outcome, error or not, is counted."""
        started = time.perf_counter()
        request_id: str | None = None
        try:
            for key, value in scope["headers"]:
                if key == ids.HEADER_KEY:
                    request_id = ids.from_header(value)
                    break
            if path_params is not None:
                self.state.check_model(path_params)
            raw = await read_body(scope, receive, self.state.config.max_body_bytes)
            body = parse_json(raw)
            if self.body_id and isinstance(body, dict):
                given = body.get("id")
                if isinstance(given, str) and given:
                    request_id = ids.from_body(given)
            if request_id is None:
                request_id = ids.generate()
            status, payload = 200, await self.predict(body, request_id)
        except RequestError as exc:
            status, payload = error_payload(exc)
        self.state.metrics.request(self.endpoint, status, time.perf_counter() - started)
        return status, payload, request_id

    async def predict(self, body: Any, request_id: str) -> bytes:
        try:
            try:
                columns, n = self.decode(body)
            except NonFiniteInput:
                self.state.metrics.nonfinite_inputs.inc()
                raise
            row_ids = ids.row_ids(request_id, n)
            prediction = await run_model(self.state, columns, n, row_ids)
            return json_bytes(self.encode(self.state, body, prediction, n, request_id, row_ids))
        except RequestError:
            raise
        except Exception as exc:
            raise internal_error(exc) from exc


async def read_body(scope: Scope, receive: Receive, max_body: int) -> bytes:
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
    except RecursionError:  # arrays or objects nested deeper than the parser's stack
        raise RequestError("malformed JSON: nested too deeply") from None


async def run_model(state: ServerState, columns: Columns, n: int, row_ids: list[str]) -> Prediction:
    """Predict, then count the predictions and offer the rows to the sampler.

    A prediction with a NaN or infinite output is refused (422, naming the row and output),
    counted, and neither sampled nor counted as predicted rows.
    """
    model = state.model
    if model is None:
        raise RequestError(f"model is not ready: {state.not_ready_reason()}", 503)
    if n <= INLINE_ROWS and model.platform == "onnxruntime":
        prediction = model.predict(columns)
    else:
        prediction = await run_in_threadpool(model.predict, columns)
    metrics = state.metrics
    bad = first_nonfinite_row(
        {
            LABEL: prediction.labels,
            PROBABILITIES: prediction.probabilities,
            VARIABLE: prediction.values,
        }
    )
    if bad is not None:
        metrics.nonfinite_outputs.inc()
        raise output_refusal(bad[0], bad[1], n)
    if prediction.labels is not None:
        metrics.predicted_classes(prediction.labels)
    elif prediction.values is not None:
        metrics.predicted_values(prediction.values)
    sampler = state.sampler
    if sampler is not None:
        sampler.offer(columns, n, row_ids, prediction)
    return prediction
