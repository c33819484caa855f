"""The one place where an error becomes an HTTP answer.

Every error a client sees is a RequestError: a status and a message, answered as
`{"error": message}` with that status. Starlette routes raise it and EXCEPTION_HANDLERS
answer; the inference endpoints, whose fast path bypasses Starlette and which count the
status in their metrics, turn it into bytes with `error_payload` themselves.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .responses import JSON, json_bytes

log = logging.getLogger("mlops_operator.serving")


class RequestError(Exception):
    """A client error: answered with `status` and `{"error": message}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_payload(exc: RequestError) -> tuple[int, bytes]:
    """The status and JSON body that answer `exc`."""
    return exc.status, json_bytes({"error": exc.message})


def internal_error(exc: Exception) -> RequestError:
    """A 500 for an unexpected failure while predicting: a bug of ours or the model's.

    The traceback goes to the server log only; it means nothing to the client and could
    reveal internals.
    """
    log.error("inference failed", exc_info=exc)
    return RequestError("internal error while predicting; see the server log", 500)


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    status, payload = error_payload(exc)
    return Response(payload, status, media_type=JSON)


async def _router_error(request: Request, exc: Exception) -> Response:
    """The router's own 404 (no such path) and 405 (wrong method), in the same JSON shape."""
    assert isinstance(exc, HTTPException)
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return await _request_error(request, RequestError(message, exc.status_code))


EXCEPTION_HANDLERS = {RequestError: _request_error, HTTPException: _router_error}
