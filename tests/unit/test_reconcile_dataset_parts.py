"""A partitioned Dataset's decisions: the Indexed Job it plans, the merge Job after it, the
progress it reports and how a run ends, as tables."""

from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.config import OperatorConfig
from mlops_operator.reconcile import dataset, dataset_parts
from mlops_operator.reconcile.dataset_parts import PartsWorld
from mlops_operator.reconcile.jobs import JobOutcome

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SHA = "b" * 64
CONFIG = OperatorConfig()
MISSING = JobOutcome("Missing")


def body(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "big", "namespace": "ml", "uid": "u", "generation": 3},
        "spec": {"source": {"uri": "s3://b/day=*/part-*.parquet", "format": "parquet"},
                 "partitions": 4, **spec},
        "status": status or {},
    }  # fmt: skip


def indexed(completed: str = "", failed: str = "", failures: int = 0) -> dict[str, Any]:
    return {"status": {"completedIndexes": completed, "failedIndexes": failed,
                       "failed": failures}}  # fmt: skip


def decide(world: PartsWorld, b: dict[str, Any] | None = None) -> Any:
    return dataset.decide(b or body(), MISSING, None, NOW, CONFIG, world)


def ready(decision: Any) -> tuple[str, str]:
    cond = next(c for c in decision.conditions if c.type == "Ready")
    return cond.status, cond.reason


def arg(job: dict[str, Any], flag: str) -> str:
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    return str(args[args.index(flag) + 1])


@pytest.mark.parametrize(
    ("spec", "parallelism", "backoff", "batch"),
    [({}, 4, 2, "262144"),
     ({"parallelism": 2, "backoffLimitPerIndex": 0, "batchRows": 50000}, 2, 0, "50000")],
)  # fmt: skip
def test_the_indexed_job_has_one_index_per_partition(
    spec: dict[str, Any], parallelism: int, backoff: int, batch: str
) -> None:
    b = body(**spec)
    decision = decide(PartsWorld(), b)
    [job] = decision.create
    assert job["metadata"]["name"] == dataset_parts.parts_job_name(b) == "big-parts-0038eff7"
    assert job["spec"]["completionMode"] == "Indexed"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (4, parallelism)
    assert job["spec"]["backoffLimitPerIndex"] == backoff and "backoffLimit" not in job["spec"]
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert job["metadata"]["labels"]["mlops.dev/dataset"] == "big"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "profile-part" and arg(job, "--partitions") == "4"
    assert (
        arg(job, "--run") == dataset_parts.parts_job_name(b) and arg(job, "--batch-rows") == batch
    )
    assert "--index" not in args  # each pod takes $JOB_COMPLETION_INDEX
    assert ready(decision) == ("False", "Profiling")
    assert decision.status["progress"] == "0/4" and decision.status["partitions"] == 4


def test_progress_while_partitions_run_and_a_retry_is_reported() -> None:
    b = body({"podFailures": 0})
    decision = decide(PartsWorld(indexed("0,2", failures=1), JobOutcome("Running")), b)
    assert not decision.create and not decision.done
    assert (decision.status["partitionsDone"], decision.status["progress"]) == (2, "2/4")
    assert decision.status["podFailures"] == 1
    assert [e.reason for e in decision.events] == ["PartitionRetried"]
    assert ready(decision) == ("False", "Profiling")
    assert "2/4 partitions profiled" in decision.conditions[0].message


def test_the_merge_job_follows_the_last_partition_once() -> None:
    world = PartsWorld(indexed("0-3"), JobOutcome("Succeeded"))
    decision = decide(world)
    [job] = decision.create
    assert job["metadata"]["name"] == dataset_parts.merge_job_name(body())
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "profile-merge" and arg(job, "--run") == "big-parts-0038eff7"
    merge = dataset_parts.merge_job_name(body())
    assert arg(job, "--result-uri").endswith(f"/runs/ml/datasets/big/{merge}.json")
    assert decision.status["progress"] == "4/4" and decision.status["jobName"] == merge
    running = decide(PartsWorld(indexed("0-3"), JobOutcome("Succeeded"), JobOutcome("Running")))
    assert not running.create and ready(running) == ("False", "Profiling")


def test_a_merged_run_records_the_version_like_a_single_pass() -> None:
    result = {"ok": True, "version": SHA, "rows": 20_000_000, "columns": 21, "passed": True,
              "snapshotUri": f"file:///s/datasets/ml/big/{SHA}/manifest.json",
              "profileUri": f"file:///s/datasets/ml/big/{SHA}/profile.json",
              "validation": [{"name": "minRows", "passed": True}]}  # fmt: skip
    world = PartsWorld(indexed("0-3"), JobOutcome("Succeeded"), JobOutcome("Succeeded"), result)
    decision = decide(world)
    assert ready(decision) == ("True", "Profiled") and decision.done
    assert decision.status["version"] == SHA and decision.status["rows"] == 20_000_000
    assert decision.status["snapshotUri"].endswith("/manifest.json")
    assert decision.status["history"][0]["snapshotUri"].endswith("/manifest.json")
    assert decision.status["completedRun"] == "3/0" and decision.status["progress"] == "4/4"
    finished = body({**decision.status})
    assert dataset.decide(finished, MISSING, None, NOW, CONFIG, None).done


@pytest.mark.parametrize(
    ("world", "reason", "words"),
    [
        (PartsWorld(indexed("0,1,3", "2", 3), JobOutcome("Failed", "BackoffLimitExceeded"),
                    failed={"ok": False, "reason": "SourceUnreadable", "error": "no such file"}),
         "SourceUnreadable", "partition(s) 2 of 4 failed: no such file"),
        (PartsWorld(indexed("0-2", "3", 3), JobOutcome("Failed", "OOMKilled", "exit 137")),
         "OOMKilled", "partition(s) 3 of 4 failed: exit 137"),
        (PartsWorld(indexed("0-3"), JobOutcome("Succeeded"), JobOutcome("Failed", "x"),
                    {"ok": False, "reason": "SchemaMismatch", "error": "partition 1 read"}),
         "SchemaMismatch", "partition 1 read"),
        (PartsWorld(indexed("0-3"), JobOutcome("Succeeded"), JobOutcome("Succeeded"), None),
         "ResultMissing", ""),
    ],
)  # fmt: skip
def test_a_failed_run_names_its_reason(world: PartsWorld, reason: str, words: str) -> None:
    decision = decide(world)
    assert decision.status["phase"] == "Failed" and decision.status["failureReason"] == reason
    assert ready(decision) == ("False", reason)
    assert words in decision.conditions[0].message
    assert reason in [e.reason for e in decision.events]
