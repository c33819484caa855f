"""Builds the model server's ASGI app: protocol routes, health, /metrics, error handling, lifespan.

The endpoints live one module per protocol: protocol_v2 (Open Inference Protocol V2,
with health and metadata), protocol_v1 (`:predict` on instances) and protocol_records
(pandas-style JSON records); feedback takes ground truth for earlier predictions. Errors
become HTTP answers in errors, the model's state lives in state, and startup/shutdown in
lifecycle.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import feedback, protocol_records, protocol_v1, protocol_v2
from .config import ServeConfig
from .errors import EXCEPTION_HANDLERS
from .lifecycle import lifespan
from .state import ServerState


class ModelServerApp(Starlette):
    """Starlette, with the model's own inference paths dispatched before the router.

    Those few exact paths carry nearly all traffic; sending them straight to their raw
    ASGI handlers skips the router and middleware stack. Everything else (other names,
    metadata, health, errors) goes through the ordinary routes.
    """

    def __init__(self, *args: Any, fast_paths: dict[str, ASGIApp], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_paths = fast_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.state.server.draining:
            send = closing_connection(send)
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.fast_paths.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def closing_connection(send: Send) -> Send:
    """While draining, every answer says `Connection: close`.

    A keep-alive client would otherwise go on sending on its connection to this pod until the
    pod closes it, and a request racing that close fails. Told to close, the client reconnects
    through the Service, which by then routes to the pods that stay.
    """

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"connection"
            ]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return send_closing


def create_app(config: ServeConfig) -> Starlette:
    state = ServerState(config)
    inference = [
        protocol_v1.predict(state),
        protocol_v2.infer(state),
        protocol_records.predict(state),
    ]
    routes = [
        *(route for endpoint in inference for route in endpoint.routes()),
        *protocol_v2.routes(),
        *protocol_v1.routes(),
        *feedback.routes(),
        Route("/metrics", metrics),
    ]
    fast_paths: dict[str, ASGIApp] = {
        path: endpoint for endpoint in inference for path in endpoint.fast_paths()
    }
    app = ModelServerApp(
        routes=routes,
        lifespan=lifespan(state),
        exception_handlers=EXCEPTION_HANDLERS,
        fast_paths=fast_paths,
    )
    app.state.server = state  # how the non-inference handlers reach the state
    return app


def metrics(request: Request) -> Response:
    # Sync, so Starlette runs it in a worker thread: collecting (which reads every worker's
    # files in multiprocess mode) stays off the event loop.
    state: ServerState = request.app.state.server
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
