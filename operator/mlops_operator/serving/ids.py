"""Prediction ids: how a request gets its id, and each of its rows one.

A request's id is the V2 body's `id` when it is a non-empty string, else the `X-Request-Id`
header, else a generated uuid4 hex. A one-row request's row id is the request id itself;
row i of an n-row request is `<request id>/<i>`. Ground truth sent to the feedback endpoint
names these row ids, and the sampled records carry them (artifacts/records.ID), so a label
can be joined with its prediction.
"""

from __future__ import annotations

import os
import re

from .errors import RequestError

HEADER = "X-Request-Id"
HEADER_KEY = b"x-request-id"  # ASGI gives header names in lower case
MAX_REQUEST_ID = 128
# A row id adds `/<row>` to a request id: room for any row number a request body can hold.
MAX_PREDICTION_ID = MAX_REQUEST_ID + 32

# Printable ASCII without whitespace: safe to echo in a header and to write in a file name
# or a log line without quoting.
_ID_CHARS = re.compile(r"[!-~]+")
_ID_BYTES = re.compile(rb"[!-~]{1,%d}" % MAX_REQUEST_ID)
ID_RULE = f"at most {MAX_REQUEST_ID} printable ASCII characters without whitespace"


def from_header(value: bytes) -> str:
    """The request id an `X-Request-Id` header gives, or a 400 naming the header."""
    if _ID_BYTES.fullmatch(value) is None:
        raise RequestError(f"header {HEADER} must be {ID_RULE}")
    return value.decode("ascii")


def from_body(value: str) -> str:
    """A V2 body `id` (a non-empty string): echoed in a header, so held to the same rule."""
    if len(value) > MAX_REQUEST_ID or _ID_CHARS.fullmatch(value) is None:
        raise RequestError(f"'id' must be {ID_RULE}")
    return value


def generate() -> str:
    """A random (version 4) UUID as 32 hex digits, what `uuid.uuid4().hex` gives.

    Built from the bytes directly: the UUID object's validation costs several times the
    random bytes themselves, and this runs for every request that brings no id.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def row_ids(request_id: str, n: int) -> list[str]:
    if n == 1:
        return [request_id]
    return [f"{request_id}/{i}" for i in range(n)]


def is_prediction_id(value: str) -> bool:
    """Whether `value` can be an id this server gave a prediction (for the feedback checks)."""
    return len(value) <= MAX_PREDICTION_ID and _ID_CHARS.fullmatch(value) is not None


PREDICTION_ID_RULE = f"at most {MAX_PREDICTION_ID} printable ASCII characters without whitespace"
