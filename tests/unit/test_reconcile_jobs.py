"""Job manifests (golden) and what every Job condition means."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_operator.config import OperatorConfig, StoreVolume
from mlops_operator.reconcile.jobs import (
    Comparison,
    Contender,
    JobSettings,
    compare_args,
    compare_job,
    job_manifest,
    job_outcome,
)

GOLDEN = Path(__file__).parent / "golden"
OWNER = {"apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingJob", "name": "tj", "uid": "u-1",
         "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def test_training_job_manifest_matches_golden() -> None:
    config = OperatorConfig(
        store_uri="file:///var/lib/mlops/store",
        image="mlops-operator:0.1.0",
        volume=StoreVolume(claim_name="mlops-store"),
        s3_secret="s3-creds",
    )
    settings = JobSettings(
        image="mlops-operator:0.1.0",
        args=["train", "--name", "tj"],
        resources={"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1}},
        node_selector={"accelerator": "a100"},
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        backoff_limit=2,
        active_deadline_seconds=600,
        ttl_seconds_after_finished=3600,
    )
    manifest = job_manifest(
        "tj-train-1a2b3c4d", "ml", {"mlops.dev/trainingjob": "tj"}, OWNER, settings, config
    )
    golden = yaml.safe_load((GOLDEN / "training-job.yaml").read_text())
    assert manifest == golden


def _job(conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {"status": {"conditions": conditions or [], **status}}


def _pod(
    reason: str, exit_code: int, message: str = "", created: str = "2026-01-01T00:00:00Z"
) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "reason": reason, "message": message}
    return {"metadata": {"creationTimestamp": created},
            "status": {"containerStatuses": [{"state": {"terminated": terminated}}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("job", "pods", "state", "reason"),
    [
        (None, [], "Missing", ""),
        (_job(), [], "Pending", "Pending"),
        (_job(active=1), [], "Running", "Running"),
        (_job([{"type": "Complete", "status": "True"}], succeeded=1), [], "Succeeded", "Completed"),
        (_job([{"type": "SuccessCriteriaMet", "status": "True"}], succeeded=1), [], "Succeeded", "Completed"),
        (_job([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]), [], "Failed", "DeadlineExceeded"),
        (_job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], failed=2),
         [_pod("Error", 1, '{"ok":false}')], "Failed", "BackoffLimitExceeded"),
        (_job([{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}], failed=1),
         [_pod("OOMKilled", 137)], "Failed", "OOMKilled"),
        (_job([{"type": "Failed", "status": "False"}], active=1), [], "Running", "Running"),
    ],
)  # fmt: skip
def test_job_outcome_table(job: Any, pods: list[Any], state: str, reason: str) -> None:
    outcome = job_outcome(job, pods)
    assert (outcome.state, outcome.reason) == (state, reason)


def test_failure_message_comes_from_the_newest_failed_pod() -> None:
    job = _job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], failed=2)
    pods = [
        _pod("Error", 1, "old", "2026-01-01T00:00:00Z"),
        _pod("Error", 1, "new", "2026-01-01T00:01:00Z"),
    ]
    outcome = job_outcome(job, pods)
    assert outcome.message == "new" and outcome.attempts == 2


# --- the champion/challenger comparison Job ------------------------------------------------------
SIGNATURE = {
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
    "classLabels": ["a", "b"],
}
CHAMPION = Contender("iris-v1", "file:///s/models/ml/iris/" + "1" * 64 + "/model.onnx", "1" * 64,
                     SIGNATURE)  # fmt: skip
CHALLENGER = Contender("iris-v2", "file:///s/models/ml/iris/" + "2" * 64 + "/model.skops",
                       "2" * 64, SIGNATURE)  # fmt: skip
RESULT = "file:///s/evaluations/ml/iris/iris-v2.json"
COMPARE_CONFIG = OperatorConfig(
    image="mlops-operator:0.1.0", volume=StoreVolume(claim_name="mlops-store"), s3_secret="s3"
)
MD_OWNER = {**OWNER, "kind": "ModelDeployment", "name": "iris"}


def _comparison(**changes: Any) -> Comparison:
    base = Comparison(
        champion=CHAMPION, challenger=CHALLENGER,
        data_uri="file:///s/production/ml/mon/w1/holdout.parquet", data_kind="production-holdout",
        target="species", task="classification", metric="accuracy", result_uri=RESULT,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def test_compare_job_runs_the_compare_command_in_the_training_jobs_pod() -> None:
    labels = {"mlops.dev/modeldeployment": "iris"}
    job = compare_job(
        "iris-compare-1a2b3c4d", "ml", labels, MD_OWNER, _comparison(), COMPARE_CONFIG
    )
    assert job["metadata"] == {"name": "iris-compare-1a2b3c4d", "namespace": "ml",
                               "labels": labels, "ownerReferences": [MD_OWNER]}  # fmt: skip
    assert job["spec"]["backoffLimit"] == 0  # same inputs, same result: no retry
    assert job["spec"]["activeDeadlineSeconds"] == 900
    [container] = job["spec"]["template"]["spec"]["containers"]
    signature = json.dumps(SIGNATURE, separators=(",", ":"), sort_keys=True)
    assert container["args"] == [
        "compare",
        "--champion", f"iris-v1={CHAMPION.artifact_uri}@{'1' * 64}",
        "--champion-signature", signature,
        "--challenger", f"iris-v2={CHALLENGER.artifact_uri}@{'2' * 64}",
        "--challenger-signature", signature,
        "--data", "file:///s/production/ml/mon/w1/holdout.parquet",
        "--target", "species", "--task", "classification", "--metric", "accuracy",
        "--result-uri", RESULT,
    ]  # fmt: skip
    # The pod is the training Job's: same security, store volume and env, only the args differ.
    training = job_manifest("t", "ml", labels, MD_OWNER, JobSettings("mlops-operator:0.1.0", []),
                            COMPARE_CONFIG)  # fmt: skip
    pod, training_pod = job["spec"]["template"]["spec"], training["spec"]["template"]["spec"]
    assert {**pod, "containers": []} == {**training_pod, "containers": []}
    same = {"args": [], "volumeMounts": []}
    assert {**container, **same} == {**training_pod["containers"][0], **same}
    # The compare pod writes only its namespace's evaluations; it reads the rest of its part.
    mounts = container["volumeMounts"]
    assert [m["subPath"] for m in mounts if "subPath" in m and "readOnly" not in m] == [
        "evaluations/ml"
    ]
    assert job == compare_job("iris-compare-1a2b3c4d", "ml", labels, MD_OWNER, _comparison(),
                              COMPARE_CONFIG)  # fmt: skip


def test_compare_job_on_a_dataset_holdout_passes_the_split_and_the_version() -> None:
    comparison = _comparison(
        data_uri="file:///s/datasets/ml/iris/" + "3" * 64 + "/data.parquet",
        data_kind="dataset-holdout", data_sha256="3" * 64,
        split={"method": "kfold", "folds": 5, "seed": 7},
    )  # fmt: skip
    job = compare_job("c", "ml", {}, MD_OWNER, comparison, COMPARE_CONFIG, image="img:2",
                      active_deadline_seconds=60)  # fmt: skip
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "img:2" and job["spec"]["activeDeadlineSeconds"] == 60
    assert container["args"][-5:] == [
        "--data-sha256", "3" * 64,
        "--holdout-of-snapshot", "--split-json", '{"folds":5,"method":"kfold","seed":7}',
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["production-holdout", "dataset-holdout"])
def test_the_compare_commands_parser_takes_the_jobs_args(kind: str) -> None:
    from mlops_operator.training import compare_cli

    comparison = _comparison(
        data_kind=kind, split={"seed": 3} if kind == "dataset-holdout" else None
    )
    args = compare_cli.build_parser().parse_args(compare_args(comparison)[1:])
    assert args.champion == f"iris-v1={CHAMPION.artifact_uri}@{'1' * 64}"
    assert json.loads(args.challenger_signature) == SIGNATURE
    assert args.holdout_of_snapshot is (kind == "dataset-holdout")
    assert compare_cli.parse_candidate("challenger", args.challenger).sha256 == "2" * 64
