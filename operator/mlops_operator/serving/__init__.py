"""The model server run by serving pods (`mlops-operator serve`).

Open Inference Protocol V2 and V1 endpoints over one verified model artifact, with
request validation against the ModelVersion signature, a prediction id for every row,
Prometheus metrics, sampling of predictions (features, id, prediction, version, time) for
the monitors, and a feedback endpoint that stores ground truth. See docs/serving.md.
"""
