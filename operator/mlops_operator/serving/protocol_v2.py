"""Open Inference Protocol V2 (KServe v2): tensor inference, health, server and model metadata."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.modelversion import LABEL, PROBABILITIES, VARIABLE
from .inference import InferenceEndpoint
from .model import Prediction
from .responses import json_response
from .state import ServerState


def infer(state: ServerState) -> InferenceEndpoint:
    paths = ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")
    return InferenceEndpoint(
        state, "v2_infer", paths, state.signature.from_v2, encode, body_id=True
    )


def routes() -> list[Route]:
    """Health and metadata; the inference routes come from `infer`."""
    return [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route("/v2/models/{name}", model_metadata),
        Route("/v2/models/{name}/ready", ready),
        Route("/v2/models/{name}/versions/{version}", model_metadata),
        Route("/v2/models/{name}/versions/{version}/ready", ready),
    ]


def encode(
    state: ServerState, body: Any, prediction: Prediction, n: int, request_id: str, ids: list[str]
) -> Any:
    # `id` is the request's own when it sent one (V2 asks for the echo), else the one given
    # to it; rows of a batch have ids of their own, listed in `parameters`.
    out: dict[str, Any] = {
        "id": request_id,
        "model_name": state.name,
        "model_version": state.version,
        "outputs": outputs(prediction, n),
    }
    if n > 1:
        out["parameters"] = {"prediction_ids": ids}
    return out


def outputs(prediction: Prediction, n: int) -> list[dict[str, Any]]:
    if prediction.labels is not None:
        labels = prediction.labels
        out = [
            {
                "name": LABEL,
                "datatype": "BYTES" if labels.dtype.kind in "OUS" else "INT64",
                "shape": [n],
                "data": labels.tolist(),
            }
        ]
        if prediction.probabilities is not None:
            p = prediction.probabilities
            out.append(
                {"name": PROBABILITIES, "datatype": "FP32", "shape": list(p.shape),
                 "data": p.ravel().tolist()}
            )  # fmt: skip
        return out
    assert prediction.values is not None
    return [
        {
            "name": VARIABLE,
            "datatype": "FP32",
            "shape": [n],
            "data": prediction.values.tolist(),
        }
    ]


# The handlers below are async although they never await: Starlette would otherwise run
# each in a worker thread, which costs more than the handler itself.
async def live(request: Request) -> Response:
    return json_response({"live": True})


async def ready(request: Request) -> Response:
    """Server readiness, or (when the path names a model) that model's readiness."""
    state: ServerState = request.app.state.server
    if "name" in request.path_params:
        state.check_model(request.path_params)
    if state.ready:
        return json_response({"ready": True})
    return json_response({"ready": False, "reason": state.not_ready_reason()}, 503)


async def server_metadata(request: Request) -> Response:
    return json_response({"name": "mlops-operator", "version": "v2", "extensions": []})


async def model_metadata(request: Request) -> Response:
    state: ServerState = request.app.state.server
    state.check_model(request.path_params)
    model = state.model
    signature = state.config.signature
    out: dict[str, Any] = {
        "name": state.name,
        "versions": [state.version],
        "platform": model.platform if model else None,
        "inputs": [
            {"name": t.name, "datatype": t.datatype, "shape": [-1, *t.shape[1:]]}
            for t in signature.inputs
        ],
        "outputs": [
            {"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in signature.outputs
        ],
    }
    if model is not None:
        out["parameters"] = {"task": model.task, "class_labels": model.class_labels}
    return json_response(out)
