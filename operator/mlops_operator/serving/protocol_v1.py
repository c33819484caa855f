"""V1 protocol (TensorFlow Serving style): `:predict` on `{"instances": [...]}`, model status."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .inference import InferenceEndpoint
from .model import Prediction
from .responses import json_response
from .state import ServerState


def predict(state: ServerState) -> InferenceEndpoint:
    paths = ("/v1/models/{name}:predict",)
    return InferenceEndpoint(state, "v1_predict", paths, state.signature.from_instances, encode)


def routes() -> list[Route]:
    """Model status; the inference route comes from `predict`."""
    return [Route("/v1/models/{name}", model_status)]


def encode(
    state: ServerState, body: Any, prediction: Prediction, n: int, request_id: str, ids: list[str]
) -> Any:
    if prediction.labels is not None:
        out: dict[str, Any] = {"predictions": prediction.labels.tolist()}
        if prediction.probabilities is not None:
            out["probabilities"] = prediction.probabilities.tolist()
    else:
        assert prediction.values is not None
        out = {"predictions": prediction.values.tolist()}
    out["ids"] = ids  # row i's prediction id, for the feedback endpoint
    return out


async def model_status(request: Request) -> Response:
    state: ServerState = request.app.state.server
    state.check_model(request.path_params)
    return json_response({"name": state.name, "version": state.version, "ready": state.ready})
