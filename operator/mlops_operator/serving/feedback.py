"""POST /v2/models/{name}/feedback: ground truth for earlier predictions, by prediction id.

The body is `{"id": "<prediction id>", "label": <scalar>}` or `{"labels": [{"id": ...,
"label": ...}, ...]}`; the answer is 202 `{"accepted": n}` once the labels are queued for
the store (labels.py). Anything else is a 400 naming the field, so a client's bug shows up
at once instead of as labels that never join. The whole body is checked before anything
is queued: a request is accepted or refused as a whole.

The path may name a version (`/versions/{v}/feedback`) for symmetry with `infer`, but
labels belong to the deployment: a label for a prediction of the previous version must be
accepted by whichever pod the Service picks, so only the model name is checked.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .config import env_name
from .errors import RequestError
from .ids import PREDICTION_ID_RULE, is_prediction_id
from .inference import parse_json, read_body
from .responses import json_response
from .state import ServerState

MAX_LABELS = 10_000  # per request; a bigger backfill is several requests (or a bulk source)
_FORMS = 'send {"id": ..., "label": ...} or {"labels": [{"id": ..., "label": ...}]}'
_ITEM_KEYS = frozenset({"id", "label"})
_BODY_KEYS = frozenset({"id", "label", "labels"})


def routes() -> list[Route]:
    paths = ("/v2/models/{name}/feedback", "/v2/models/{name}/versions/{version}/feedback")
    return [Route(path, feedback, methods=["POST"]) for path in paths]


async def feedback(request: Request) -> Response:
    state: ServerState = request.app.state.server
    metrics = state.metrics
    try:
        state.check_model(request.path_params, any_version=True)
    except RequestError:
        metrics.feedback_rejected("unknown_model")
        raise
    writer = state.labels
    if writer is None:
        metrics.feedback_rejected("no_store")
        raise RequestError(
            "this server stores no labels: it was started without --labels-uri "
            f"({env_name('labels-uri')}), which a ModelDeployment's pods are given",
            503,
        )
    try:
        raw = await read_body(request.scope, request.receive, state.config.max_body_bytes)
        if not raw.strip():
            raise RequestError(f"request body is empty; {_FORMS}")
        ids, values = parse(parse_json(raw))
    except RequestError:
        metrics.feedback_rejected("invalid")
        raise
    if not writer.add(ids, values):
        metrics.feedback_rejected("full")
        raise RequestError(
            "too many labels are waiting to be written to the store; retry later", 503
        )
    return json_response({"accepted": len(ids)}, 202)


def parse(body: Any) -> tuple[list[str], list[Any]]:
    """The (ids, labels) of a feedback body, or a RequestError naming what is wrong."""
    if not isinstance(body, dict):
        raise RequestError(f"request body must be a JSON object; {_FORMS}")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r}; {_FORMS}")
    if "labels" not in body:
        if not body:
            raise RequestError(f"the body has neither labels nor id and label; {_FORMS}")
        return [_id(body, "")], [_label(body, "")]
    if "id" in body or "label" in body:
        raise RequestError("send either id and label, or labels, not both")
    items = body["labels"]
    if not isinstance(items, list):
        raise RequestError('labels must be a list of {"id": ..., "label": ...} objects')
    if not items:
        raise RequestError("labels must not be empty")
    if len(items) > MAX_LABELS:
        raise RequestError(
            f"labels has {len(items)} entries; at most {MAX_LABELS} are accepted per request"
        )
    ids: list[str] = []
    values: list[Any] = []
    for i, item in enumerate(items):
        where = f"labels[{i}]"
        if not isinstance(item, dict):
            raise RequestError(f'{where} must be an object {{"id": ..., "label": ...}}')
        extra = sorted(set(item) - _ITEM_KEYS)
        if extra:
            raise RequestError(f"{where} has an unknown field {extra[0]!r}; only id and label")
        ids.append(_id(item, f"{where}."))
        values.append(_label(item, f"{where}."))
    return ids, values


def _id(item: dict[str, Any], prefix: str) -> str:
    if "id" not in item:
        raise RequestError(f"{prefix}id is missing (the id of the prediction)")
    value = item["id"]
    if not isinstance(value, str) or not value:
        raise RequestError(f"{prefix}id must be a non-empty string")
    if not is_prediction_id(value):
        raise RequestError(f"{prefix}id must be {PREDICTION_ID_RULE}")
    return value


def _label(item: dict[str, Any], prefix: str) -> Any:
    if "label" not in item:
        raise RequestError(f"{prefix}label is missing (the true class or value)")
    value = item["label"]
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):  # Python's JSON parser reads NaN and Infinity
            raise RequestError(f"{prefix}label must be a finite number, not {value}")
        return value
    if isinstance(value, str):
        if not value:
            raise RequestError(f"{prefix}label must not be an empty string")
        return value
    raise RequestError(f"{prefix}label must be a string, number or boolean")
