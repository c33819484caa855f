"""Champion vs challenger (reconcile/rollout/challenge.py): before a newer version replaces
the serving one under policy latest, a compare Job scores both on the same rows; the verdict
decides whether it rolls out. One row per situation."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.unit.test_reconcile_modeldeployment import CONFIG, NOW, PARENT, SERVING_V1, body, dep, mv

from mlops_operator.api.modeldeployment import Promotion
from mlops_operator.reconcile import reasons
from mlops_operator.reconcile.modeldeployment import (
    Comparison,
    World,
    comparison_due,
    decide,
)
from mlops_operator.reconcile.rollout.challenge import job_name, judge

WINDOW = "file:///store/production/ns/watch/20261122T115000Z"


def lineage(version: dict[str, Any], **extra: Any) -> dict[str, Any]:
    version = copy.deepcopy(version)
    version["spec"]["lineage"] = {
        "dataset": {"name": "iris", "version": "b" * 64},
        "target": "species",
        **extra,
    }
    return version


V1 = lineage(mv("iris-v1", 1))
V2 = lineage(mv("iris-v2", 2))
V2_RETRAINED = lineage(mv("iris-v2", 2), productionWindow={"monitor": "watch", "uri": WINDOW})
V2_NO_LINEAGE = mv("iris-v2", 2)
FOLLOW = {"modelVersionRef": None, "model": {"name": "iris"}}


def job(succeeded: bool | None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if succeeded is True:
        status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    elif succeeded is False:
        status = {"failed": 2, "conditions": [{"type": "Failed", "status": "True"}]}
    else:
        status = {"active": 1}
    return {"metadata": {"name": job_name("iris", "iris-v2")}, "status": status}


def result(champion: float, challenger: float, metric: str = "accuracy") -> dict[str, Any]:
    return {
        "ok": True,
        "metric": metric,
        "champion": {"name": "iris-v1", "value": champion},
        "challenger": {"name": "iris-v2", "value": challenger},
        "rows": 40,
        "data": {"uri": f"{WINDOW}/holdout.parquet", "kind": "production-holdout"},
    }


@dataclass
class Row:
    name: str
    versions: tuple[dict[str, Any], ...] = (V1, V2)
    status: dict[str, Any] = field(default_factory=lambda: dict(SERVING_V1))
    promotion: dict[str, Any] = field(default_factory=dict)
    comparison: Comparison | None = None
    # expectations
    due: str | None = "iris-v2"  # comparison_due: the challenger whose Job is read
    verdict: str | None = None  # status.challenge.verdict
    creates_job: bool = False
    stable: str = "iris-v1"  # the version the stable Deployment runs after this pass
    target: str | None = None  # status.targetVersion
    lost: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    data_args: tuple[str, ...] = ()  # in the compare Job's args


ROWS = [
    Row(
        "a newer version is compared first; the champion keeps serving",
        creates_job=True,
        verdict="Comparing",
        events=(reasons.COMPARING,),
        data_args=(
            "--data",
            "file:///store/datasets/ns/iris/" + "b" * 64 + "/data.parquet",
            "--holdout-of-snapshot",
        ),
    ),
    Row(
        "a retrain is compared on its production window's holdout",
        versions=(V1, V2_RETRAINED),
        creates_job=True,
        verdict="Comparing",
        events=(reasons.COMPARING,),
        data_args=("--data", f"{WINDOW}/holdout.parquet"),
    ),
    Row(
        "the compare Job runs: wait, nothing created",
        comparison=Comparison("iris-v2", job(None)),
        verdict="Comparing",
    ),
    Row(
        "the challenger wins: the verdict is recorded, the rollout follows",
        comparison=Comparison("iris-v2", job(True), result(0.90, 0.95)),
        verdict="Won",
        events=(reasons.CHALLENGER_WON,),
    ),
    Row(
        "after winning, the rollout of the challenger starts",
        status={
            **SERVING_V1,
            "challenge": {
                "champion": {"name": "iris-v1", "value": 0.9},
                "challenger": {"name": "iris-v2", "value": 0.95},
                "metric": "accuracy",
                "verdict": "Won",
            },
        },
        due=None,
        verdict="Won",
        stable="iris-v2",
        target="iris-v2",
        events=(reasons.ROLLOUT_STARTED,),
    ),
    Row(
        "the challenger loses: not rolled out, listed, a Warning",
        comparison=Comparison("iris-v2", job(True), result(0.95, 0.90)),
        verdict="Lost",
        lost=("iris-v2",),
        events=(reasons.CHALLENGER_LOST,),
    ),
    Row(
        "equal within the tolerance wins",
        promotion={"tolerance": 0.02},
        comparison=Comparison("iris-v2", job(True), result(0.95, 0.94)),
        verdict="Won",
        events=(reasons.CHALLENGER_WON,),
    ),
    Row(
        "minImprovement: better, but not by enough, loses",
        promotion={"minImprovement": 0.05},
        comparison=Comparison("iris-v2", job(True), result(0.90, 0.93)),
        verdict="Lost",
        lost=("iris-v2",),
        events=(reasons.CHALLENGER_LOST,),
    ),
    Row(
        "a failed compare Job: not rolled out, listed",
        comparison=Comparison("iris-v2", job(False), {"ok": False, "error": "bad model"}),
        verdict="Failed",
        lost=("iris-v2",),
        events=(reasons.COMPARISON_FAILED,),
    ),
    Row(
        "no data neither trained on: cannot be compared, not rolled out",
        versions=(mv("iris-v1", 1), V2_NO_LINEAGE),
        verdict="Failed",
        lost=("iris-v2",),
        events=(reasons.COMPARISON_FAILED,),
    ),
    Row(
        "a lost challenger is never the target again: the champion stays",
        status={**SERVING_V1, "lostChallengers": ["iris-v2"]},
        due=None,
        verdict=None,
    ),
    Row(
        "a newer version after a lost one is compared",
        versions=(V1, V2, lineage(mv("iris-v3", 3))),
        status={**SERVING_V1, "lostChallengers": ["iris-v2"]},
        due="iris-v3",
        creates_job=True,
        verdict="Comparing",
        events=(reasons.COMPARING,),
    ),
    Row(
        "compare: false rolls the newest out at once",
        promotion={"compare": False},
        due=None,
        stable="iris-v2",
        target="iris-v2",
        events=(reasons.ROLLOUT_STARTED,),
    ),
]


def observed(row: Row) -> tuple[dict[str, Any], World]:
    spec = {**FOLLOW, "model": {"name": "iris", "promotion": row.promotion}}
    resource = body(spec, copy.deepcopy(row.status))
    world = World(versions=list(row.versions), stable=dep("iris-v1"), comparison=row.comparison)
    return resource, world


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_challenge(row: Row) -> None:
    resource, world = observed(row)
    assert comparison_due(resource, world, NOW) == row.due
    plan = decide(resource, world, CONFIG, NOW, PARENT)
    decision = plan.decision
    challenge = decision.status.get("challenge")
    assert (challenge or {}).get("verdict") == row.verdict or (
        row.verdict == "Won" and challenge is None  # the recorded verdict stays as it was
    )
    jobs = [m for m in decision.create if m["kind"] == "Job"]
    assert bool(jobs) == row.creates_job
    if jobs:
        args = jobs[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[0] == "compare"
        if row.data_args:
            assert args[args.index("--data") + 1] == row.data_args[1]
            assert ("--holdout-of-snapshot" in args) == ("--holdout-of-snapshot" in row.data_args)
        assert args[args.index("--target") + 1] == "species"
        assert args[args.index("--metric") + 1] == "accuracy"
        assert json.loads(args[args.index("--champion-signature") + 1])["inputs"]
    stable = [
        m["spec"]["template"]["metadata"]["labels"]["mlops.dev/model-version"]
        for m in decision.apply
        if m["kind"] == "Deployment" and m["metadata"]["labels"]["mlops.dev/track"] == "stable"
    ]
    assert stable == [row.stable]
    assert decision.status.get("targetVersion") == row.target
    assert tuple(decision.status.get("lostChallengers") or ()) == row.lost
    assert tuple(e.reason for e in decision.events) == row.events
    if row.verdict in ("Won", "Lost", "Failed") and row.comparison is not None:
        # the verdict is on the challenger's own status too, and the compare Job is removed
        assert plan.version_status is not None
        name, patch = plan.version_status
        assert name == "iris-v2" and patch["challenge"]["verdict"] == row.verdict
        assert [k.name for k in decision.delete if k.kind == "Job"] == [job_name("iris", "iris-v2")]


@pytest.mark.parametrize(
    ("promotion", "metric", "champion", "challenger", "wins"),
    [
        ({}, "accuracy", 0.9, 0.9, True),  # not worse
        ({}, "accuracy", 0.9, 0.8999, False),
        ({"tolerance": 0.01}, "accuracy", 0.9, 0.891, True),
        ({}, "rmse", 1.0, 0.9, True),  # lower is better
        ({}, "rmse", 1.0, 1.1, False),
        ({"tolerance": 0.2}, "mae", 1.0, 1.1, True),
        ({"minImprovement": 0.1}, "rmse", 1.0, 0.95, False),
        ({"minImprovement": 0.1}, "rmse", 1.0, 0.85, True),
        ({"minImprovement": 0.0}, "f1", 0.5, 0.5, True),
    ],
)
def test_judge(
    promotion: dict[str, Any], metric: str, champion: float, challenger: float, wins: bool
) -> None:
    assert judge(Promotion.model_validate(promotion), metric, champion, challenger) == wins
