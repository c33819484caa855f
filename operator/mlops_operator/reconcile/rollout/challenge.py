"""Champion vs challenger: before a newer version replaces the serving one (policy latest),
both are scored on the same rows neither trained on, by a `mlops-operator compare` Job.

The rows: the holdout of the labeled production window the challenger learned from, when it
was a retrain on production data (`lineage.productionWindow`); else training's holdout of
the challenger's Dataset version. The challenger rolls out only when it is not worse than
the champion by more than `promotion.tolerance` (with `minImprovement`: only when it is
better by at least that). A challenger that loses, or cannot be compared, is listed in
`status.lostChallengers` and never rolled out; while the comparison runs, the champion keeps
serving. The verdict is also written to the challenger's own status (`kubectl get mv`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...api.conditions import FALSE, PROGRESSING, READY, TRUE
from ...api.kinds import JOB
from ...api.modeldeployment import LOST_CHALLENGERS_LIMIT, Promotion
from ...api.modelversion import CLASSIFICATION, ModelVersionSpec
from ...api.phases import Phase
from ...artifacts import paths
from .. import jobs, outage, reasons
from ..conditions import Cond, clip, replacing, rfc3339, without_nones
from ..decision import ObjectKey
from ..jobs import job_outcome
from ..names import child_name
from . import children, status
from .context import Rollout, Seen
from .target import Target, challenge_applies

LOWER_IS_BETTER = frozenset({"rmse", "mae"})
PRODUCTION_HOLDOUT: Literal["production-holdout"] = "production-holdout"
DATASET_HOLDOUT: Literal["dataset-holdout"] = "dataset-holdout"
DataKind = Literal["production-holdout", "dataset-holdout"]
HOLDOUT_FILE = "holdout.parquet"


# The comparison's message while the store cannot give the compare Job's result.
UNREADABLE = "the compare Job finished; its result cannot be read yet"


@dataclass(frozen=True)
class Comparison:
    """What the handler found of one challenger's comparison: its Job and its result."""

    challenger: str
    job: dict[str, Any] | None = None
    result: dict[str, Any] | None = None  # the Job's result document, once it finished


def job_name(deployment: str, challenger: str) -> str:
    return child_name(deployment, "compare", challenger)


def metric_of(promotion: Promotion, task: str) -> str:
    if promotion.metric:
        return str(promotion.metric)
    return "accuracy" if task == CLASSIFICATION else "rmse"


def comparison_due(seen: Seen, serving: str | None, target: Target | None) -> str | None:
    """The challenger whose comparison this pass looks at (the handler reads its Job)."""
    if target is None or not challenge_applies(seen, serving, target):
        return None
    return target.name


def judge(promotion: Promotion, metric: str, champion: float, challenger: float) -> bool:
    """Whether the challenger wins: not worse by more than the tolerance, or better by at
    least minImprovement."""
    gain = champion - challenger if metric in LOWER_IS_BETTER else challenger - champion
    if promotion.min_improvement is not None:
        return gain >= promotion.min_improvement
    return gain >= -promotion.tolerance


def data_for(
    r: Rollout, champion: ModelVersionSpec, challenger: ModelVersionSpec
) -> tuple[str, DataKind, str | None] | None:
    """(URI, kind, sha256) of the rows to compare on: the holdout of the production window
    the challenger learned from, else training's holdout of a Dataset version (the
    challenger's, else the champion's); None when neither lineage names any."""
    window = challenger.lineage.production_window
    if window is not None:
        return f"{window.uri.rstrip('/')}/{HOLDOUT_FILE}", PRODUCTION_HOLDOUT, None
    for spec in (challenger, champion):
        dataset = spec.lineage.dataset
        if dataset is not None:
            try:
                path = paths.dataset_snapshot(r.parent.namespace, dataset.name, dataset.version)
            except ValueError:
                continue
            return paths.under(r.config.store_uri, path), DATASET_HOLDOUT, None
    return None


def contender(t: Target) -> jobs.Contender:
    artifact = t.spec.artifact
    return jobs.Contender(t.name, artifact.uri, artifact.sha256, t.spec.signature.wire())


def compare_job(
    r: Rollout,
    champion: Target,
    challenger: Target,
    metric: str,
    data: tuple[str, DataKind, str | None],
    target: str,
) -> dict[str, Any]:
    uri, kind, sha256 = data
    result = paths.under(
        r.config.store_uri,
        paths.evaluation_result(r.parent.namespace, r.parent.name, challenger.name),
    )
    comparison = jobs.Comparison(
        champion=contender(champion),
        challenger=contender(challenger),
        data_uri=uri,
        data_kind=kind,
        target=target,
        task=challenger.spec.task,
        metric=metric,
        result_uri=result,
        data_sha256=sha256,
    )
    return jobs.compare_job(
        job_name(r.parent.name, challenger.name),
        r.parent.namespace,
        r.parent.labels,
        r.parent.owner_reference,
        comparison,
        r.config,
        image=r.spec.image,
    )


def compare(r: Rollout, serving: str, challenger: Target) -> None:
    """The champion keeps serving while the comparison runs; its verdict decides the rest."""
    children.stable(r, serving, r.total())
    children.remove_canary(r)
    status.clear_rollout(r)
    policy = r.spec.model
    assert policy is not None
    champion = Target(serving, ModelVersionSpec.model_validate(r.versions[serving]["spec"]))
    metric = metric_of(policy.promotion, challenger.spec.task)
    found = r.world.comparison
    if found is not None and found.challenger != challenger.name:
        found = None
    outcome = job_outcome(found.job if found else None)
    result = found.result if found else None
    if outcome.state == Phase.SUCCEEDED and result and result.get("ok"):
        _verdict(r, policy.promotion, champion, challenger, metric, result)
    elif (down := outage.unread(result)) is not None:  # no verdict yet, and no loss either
        _unreadable(r, champion, challenger, metric, down)
    elif outcome.state == Phase.FAILED or (result is not None and result.get("ok") is False):
        why = (result or {}).get("error") or outcome.message or "the compare Job failed"
        _lost(r, champion, challenger, metric, "Failed", reasons.COMPARISON_FAILED, str(why))
    elif outcome.state == Phase.SUCCEEDED:  # done, but its result is not readable yet
        _comparing(r, champion, challenger, metric, "waiting for the compare Job's result")
    else:
        if found is None or found.job is None:
            target = challenger.spec.lineage.target or champion.spec.lineage.target
            data = data_for(r, champion.spec, challenger.spec)
            if not target or data is None:
                missing = "target column" if not target else "data neither trained on"
                message = f"no {missing} in the lineage of {challenger.name} or {serving}"
                _lost(r, champion, challenger, metric, "Failed", reasons.COMPARISON_FAILED, message)
                return
            r.decision.create.append(compare_job(r, champion, challenger, metric, data, target))
            r.decision.note(
                reasons.COMPARING,
                f"comparing challenger {challenger.name} with champion {serving} on {metric}",
            )
        _comparing(r, champion, challenger, metric, "the compare Job runs")


def _challenge(
    r: Rollout,
    champion: Target,
    challenger: Target,
    metric: str,
    verdict: str,
    message: str,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    values = result or {}
    data = values.get("data") or {}
    champion_value = (values.get("champion") or {}).get("value")
    challenger_value = (values.get("challenger") or {}).get("value")
    record: dict[str, Any] = {
        "champion": {"name": champion.name, "value": champion_value},
        "challenger": {"name": challenger.name, "value": challenger_value},
        "metric": metric,
        "verdict": verdict,
        "message": clip(message),
        "at": rfc3339(r.now),
    }
    if data.get("uri") and data.get("kind") in (PRODUCTION_HOLDOUT, DATASET_HOLDOUT):
        record["data"] = {"uri": data["uri"], "kind": data["kind"], "rows": values.get("rows")}
    # The whole record: nothing of the last comparison's (its data, its values) may survive
    # the merge patch.
    old = r.old.challenge.wire() if r.old.challenge else None
    r.status["challenge"] = replacing(old, without_nones(record))
    if verdict != "Comparing":
        r.plan.version_status = (
            challenger.name,
            {
                "challenge": {
                    "deployment": r.parent.name,
                    "champion": champion.name,
                    "metric": metric,
                    "championValue": champion_value,
                    "challengerValue": challenger_value,
                    "verdict": verdict,
                    "data": data.get("kind"),
                    "at": record["at"],
                }
            },
        )
    return record


def _comparing(r: Rollout, champion: Target, challenger: Target, metric: str, why: str) -> None:
    message = f"comparing challenger {challenger.name} with champion {champion.name}: {why}"
    _challenge(r, champion, challenger, metric, "Comparing", message)
    _serving(r, champion.name, reasons.COMPARING, message)


def _unreadable(r: Rollout, champion: Target, challenger: Target, metric: str, down: str) -> None:
    """The compare Job finished but the store cannot give its result: the champion serves on,
    the comparison stays open, one Warning per outage, the result is read again soon."""
    old = r.old.challenge
    if not (old and old.verdict == "Comparing" and UNREADABLE in old.message):
        r.decision.warn(reasons.STORE_UNAVAILABLE, f"challenger {challenger.name}: {down}")
    message = f"comparing challenger {challenger.name} with champion {champion.name}: " \
              f"{UNREADABLE}: {down}"  # fmt: skip
    _challenge(r, champion, challenger, metric, "Comparing", message)
    _serving(r, champion.name, reasons.STORE_UNAVAILABLE, message)
    r.decision.look_again_in(outage.STORE_RETRY_SECONDS)


def _serving(r: Rollout, serving: str, reason: str, message: str) -> None:
    stable = r.world.stable
    if stable.complete(serving, r.total()):
        status.set_phase(
            r,
            Phase.HEALTHY,
            Cond(READY, TRUE, reasons.AVAILABLE, f"serving {serving}; {message}"),
            progressing=Cond(PROGRESSING, FALSE, reason, message),
        )
    else:
        status.progressing(r, reasons.WAITING_FOR_REPLICAS, status.waiting(stable, serving), True)


def _verdict(
    r: Rollout,
    promotion: Promotion,
    champion: Target,
    challenger: Target,
    metric: str,
    result: dict[str, Any],
) -> None:
    old = float((result.get("champion") or {}).get("value") or 0.0)
    new = float((result.get("challenger") or {}).get("value") or 0.0)
    data = result.get("data") or {}
    rule = (
        f"minImprovement {promotion.min_improvement:g}"
        if promotion.min_improvement is not None
        else f"tolerance {promotion.tolerance:g}"
    )
    scores = (
        f"{metric} {new:.4f} (challenger {challenger.name}) vs {old:.4f} (champion "
        f"{champion.name}) on {result.get('rows')} rows of {data.get('kind', 'data')}; {rule}"
    )
    key = ObjectKey(JOB.api_version, JOB.kind, job_name(r.parent.name, challenger.name))
    r.decision.delete.append(key)
    if judge(promotion, metric, old, new):
        _challenge(r, champion, challenger, metric, "Won", scores, result)
        r.decision.note(reasons.CHALLENGER_WON, f"{challenger.name} rolls out: {scores}")
        r.decision.look_again_in(0)  # the rollout starts on the next pass
        return
    _lost(r, champion, challenger, metric, "Lost", reasons.CHALLENGER_LOST, scores, result)


def _lost(
    r: Rollout,
    champion: Target,
    challenger: Target,
    metric: str,
    verdict: str,
    reason: str,
    message: str,
    result: dict[str, Any] | None = None,
) -> None:
    text = f"{challenger.name} is not rolled out: {message}"
    _challenge(r, champion, challenger, metric, verdict, text, result)
    lost = [name for name in r.old.lost_challengers if name != challenger.name]
    r.status["lostChallengers"] = [*lost, challenger.name][-LOST_CHALLENGERS_LIMIT:]
    r.decision.warn(reason, text)
    key = ObjectKey(JOB.api_version, JOB.kind, job_name(r.parent.name, challenger.name))
    if key not in r.decision.delete:
        r.decision.delete.append(key)
    _serving(r, champion.name, reason, text)
