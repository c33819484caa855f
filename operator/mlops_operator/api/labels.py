"""Label and annotation keys on everything the operator creates: part of the API, since users
and tools select by them (`kubectl get pods -l mlops.dev/modeldeployment=iris`)."""

from __future__ import annotations

from .. import GROUP

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
# On a retrain TrainingJob: the labeled production window (JSON, api.modelversion.
# ProductionWindow) it learns from; its ModelVersion's lineage copies it.
PRODUCTION_WINDOW = f"{GROUP}/production-window"
