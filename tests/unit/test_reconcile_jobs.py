"""Job manifests (golden) and what every Job condition means."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_operator.config import OperatorConfig, StoreVolume
from mlops_operator.reconcile.jobs import JobSettings, job_manifest, job_outcome

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
