"""JSON response bodies: compact, and still valid JSON when a model predicts NaN or infinity."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from starlette.responses import Response

JSON = "application/json"


def json_bytes(content: Any) -> bytes:
    try:
        body = json.dumps(content, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN/inf are not JSON: sent as null (an inference answer never holds
        # one: non-finite model outputs are refused before encoding, see nonfinite.py)
        body = json.dumps(_finite(content), separators=(",", ":"))
    return body.encode()


def json_response(content: Any, status: int = 200) -> Response:
    return Response(json_bytes(content), status, media_type=JSON)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
