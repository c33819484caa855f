"""The image digest and the MLflow registered model version in a ModelVersion's lineage."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.test_reconcile_trainingjob import ACCEPTED, body, dataset, no_errors

from mlops_operator.api.modelversion import Lineage
from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import trainingjob as tj
from mlops_operator.reconcile.custom_trainer import trainer_container
from mlops_operator.reconcile.jobs import JobOutcome, image_digest
from mlops_operator.training.runs import model_source, registered_model_name

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def pod(phase: str, created: str, main: str = "", trainer: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "containerStatuses": [{"name": "main", "imageID": main}],
    }
    if trainer is not None:
        status["initContainerStatuses"] = [{"name": "trainer", "imageID": trainer}]
    return {"metadata": {"creationTimestamp": created}, "status": status}


@pytest.mark.parametrize(
    "image_id",
    [f"registry.example/team/trainer@{DIGEST}", f"docker-pullable://trainer@{DIGEST}", DIGEST],
)
def test_the_digest_is_read_from_the_image_id_the_kubelet_reports(image_id: str) -> None:
    assert image_digest([pod("Succeeded", "2024-01-01T00:00:00Z", image_id)], "main") == DIGEST


def test_the_digest_of_a_container_run_is_the_trainers_not_the_collectors() -> None:
    pods = [pod("Succeeded", "2024-01-01T00:00:00Z", main=f"project@{OTHER}", trainer=DIGEST)]
    assert image_digest(pods, trainer_container({"container": {"image": "t:1"}})) == DIGEST
    assert image_digest(pods, trainer_container({"estimator": "SVC"})) == OTHER


def test_only_the_newest_succeeded_pod_counts_and_a_missing_id_gives_none() -> None:
    pods = [
        pod("Succeeded", "2024-01-01T00:00:00Z", f"x@{OTHER}"),
        pod("Failed", "2024-01-01T00:02:00Z", f"x@{DIGEST}"),
        pod("Succeeded", "2024-01-01T00:01:00Z", f"x@{DIGEST}"),
    ]
    assert image_digest(pods, "main") == DIGEST
    assert image_digest([pod("Succeeded", "2024-01-01T00:00:00Z", "")], "main") is None
    assert image_digest([pod("Succeeded", "t", "trainer:1")], "main") is None
    assert image_digest([], "main") is None


def registered(world: tj.TrainingWorld, **spec: Any) -> dict[str, Any]:
    decision = tj.decide(body(**spec), world, no_errors, OperatorConfig())
    [mv] = [c for c in decision.create if c["kind"] == "ModelVersion"]
    return mv


def test_the_model_version_records_the_digest_and_the_mlflow_version() -> None:
    result = {**ACCEPTED, "mlflowModelVersion": {"registeredModel": "ns.iris", "version": "3",
                                                 "runId": "r1"}}  # fmt: skip
    world = tj.TrainingWorld(dataset(), JobOutcome("Succeeded"), result, image_digest=DIGEST)
    lineage = registered(world)["spec"]["lineage"]
    assert lineage["imageDigest"] == DIGEST
    assert lineage["mlflow"] == {"registeredModel": "ns.iris", "version": "3", "runId": "r1"}
    parsed = Lineage.model_validate(lineage)
    assert parsed.image_digest == DIGEST and parsed.mlflow is not None
    assert parsed.mlflow.version == "3"


def test_without_a_digest_or_mlflow_the_lineage_leaves_them_out() -> None:
    world = tj.TrainingWorld(dataset(), JobOutcome("Succeeded"), dict(ACCEPTED))
    decision = tj.decide(body(), world, no_errors, OperatorConfig())
    [mv] = decision.create
    assert "imageDigest" not in mv["spec"]["lineage"] and "mlflow" not in mv["spec"]["lineage"]
    assert not [e for e in decision.events if e.type == "Warning"]


def test_a_tracking_failure_is_a_warning_and_the_run_is_still_registered() -> None:
    result = {**ACCEPTED, "trackingError": "ConnectionError: refused"}
    world = tj.TrainingWorld(dataset(), JobOutcome("Succeeded"), result)
    decision = tj.decide(body(), world, no_errors, OperatorConfig())
    assert [c["kind"] for c in decision.create] == ["ModelVersion"]
    [warning] = [e for e in decision.events if e.type == "Warning"]
    assert warning.reason == "TrackingFailed" and "ConnectionError: refused" in warning.message


def test_a_digest_that_is_not_one_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError, match=r"image_?[dD]igest"):
        Lineage.model_validate({"imageDigest": "trainer:1"})


def test_the_mlflow_name_and_source() -> None:
    assert registered_model_name("team-a", "iris") == "team-a.iris"
    assert model_source("s3://bucket/models/iris/m.onnx", "r1") == "s3://bucket/models/iris/m.onnx"
    assert model_source("file:///var/store/models/iris/m.onnx", "r1") == "runs:/r1/model"
