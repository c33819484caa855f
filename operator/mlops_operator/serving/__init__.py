"""The model server run by serving pods (`mlops-operator serve`).

Open Inference Protocol V2 and V1 endpoints over one verified model artifact, with
request validation against the ModelVersion signature, Prometheus metrics and
sampling of request features for drift checks. See docs/serving.md.
"""
