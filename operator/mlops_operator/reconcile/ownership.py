"""Labels, annotations and owner references the operator puts on its children (pure: used to
build manifests). Every label and annotation key is named here."""

from __future__ import annotations

from typing import Any

from .. import GROUP
from ..api.kinds import kind_label

OPERATOR = "mlops-operator"
PART_OF = "mlops"
NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY = {MANAGED_BY_LABEL: OPERATOR, PART_OF_LABEL: PART_OF}

# The children of a ModelDeployment: which track a Deployment (and its pods) is, and which
# ModelVersion it serves.
TRACK_LABEL = f"{GROUP}/track"
VERSION_LABEL = f"{GROUP}/model-version"
# A ModelVersion's model.
MODEL_LABEL = f"{GROUP}/model"
# Annotations: the hash of a child's manifest as applied; the TrainingJob (uid/generation)
# that registered a ModelVersion.
SPEC_HASH = f"{GROUP}/spec-hash"
TRAINED_BY_UID = f"{GROUP}/trainingjob-uid"


def child_labels(kind: str, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**MANAGED_BY, kind_label(kind): name, **(extra or {})}


def owner_reference(owner: dict[str, Any], controller: bool = True) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }
