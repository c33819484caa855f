"""The columns of the prediction and label records the model server writes to the store.

Sample files (`samples/<ns>/<deployment>/<version>/<UTC timestamp>-<hex>.parquet`) hold the
feature columns of the model's signature plus the reserved columns below; label files
(`labels/<ns>/<deployment>/<UTC timestamp>-<hex>.parquet`) hold ID, LABEL and TIME. The
reserved names start with `mlops.` so that no feature name a signature allows can take them.

Predictions and labels are joined by ID. Of every labeled production window, the rows whose
id falls in the holdout (`is_holdout`) are never trained on: they are the data on which a
retrained challenger and the serving champion are compared.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = "mlops."
ID = "mlops.id"  # string: the prediction id (a request id, or `<request id>/<row>`)
TIME = "mlops.time"  # timestamp[us, UTC]: when the prediction (or the label) was made
VERSION = "mlops.version"  # string: the ModelVersion that predicted
PREDICTION = "mlops.prediction"  # the label a classifier predicted (int64 or string), or a value
PROBABILITY_PREFIX = "mlops.proba."  # float64 per class: `mlops.proba.<class label>`
LABEL = "mlops.label"  # string: the ground truth, JSON-encoded so its type survives

# One row in HOLDOUT_MODULUS is held out of retraining (20 %).
HOLDOUT_MODULUS = 5


def probability_column(class_label: object) -> str:
    return f"{PROBABILITY_PREFIX}{class_label}"


def is_reserved(column: str) -> bool:
    return column.startswith(PREFIX)


def encode_label(value: Any) -> str:
    """A label as stored: JSON, so 1, 1.5, "setosa" and true keep their types."""
    return json.dumps(value, separators=(",", ":"))


def decode_label(text: str) -> Any:
    return json.loads(text)


def is_holdout(prediction_id: str) -> bool:
    """Whether a labeled production row belongs to the comparison holdout, never to training.

    A hash of the id, so every reader (the retrain's dataset, the champion/challenger
    evaluation) puts each row on the same side without sharing any state.
    """
    digest = hashlib.sha256(prediction_id.encode()).digest()
    return digest[0] % HOLDOUT_MODULUS == 0
