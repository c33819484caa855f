"""JSON records, as pandas `to_dict(orient="records")` writes them: one object per row.

POST /v1/models/{name}/records takes `[{feature: value, ...}, ...]` (or that list under
"records") and answers one object per row: `{"id", "label", "probabilities"}` from a
classifier, `{"id", "value"}` from a regressor; `id` is the row's prediction id.
"""

from __future__ import annotations

from typing import Any

from .inference import InferenceEndpoint
from .model import Prediction
from .state import ServerState


def predict(state: ServerState) -> InferenceEndpoint:
    paths = ("/v1/models/{name}/records",)
    return InferenceEndpoint(state, "v1_records", paths, state.signature.from_records, encode)


def encode(
    state: ServerState, body: Any, prediction: Prediction, n: int, request_id: str, ids: list[str]
) -> Any:
    model = state.model
    if prediction.labels is not None:
        labels = prediction.labels.tolist()
        if prediction.probabilities is None:
            return [{"id": i, "label": label} for i, label in zip(ids, labels, strict=True)]
        # Probabilities keyed by class name; by column index when the model names none.
        classes = (model.class_labels if model else None) or [
            str(i) for i in range(prediction.probabilities.shape[1])
        ]
        return [
            {"id": i, "label": label, "probabilities": dict(zip(classes, row, strict=True))}
            for i, label, row in zip(ids, labels, prediction.probabilities.tolist(), strict=True)
        ]
    assert prediction.values is not None
    return [{"id": i, "value": v} for i, v in zip(ids, prediction.values.tolist(), strict=True)]
