"""The pydantic API models against the same manifest corpus the API server sees."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from tests.manifests.corpus import Manifest, load

from mlops_operator.api import (
    Dataset,
    DatasetSpec,
    ModelDeployment,
    TrainingJobSpec,
    by_kind,
)

VALID = load("valid")
INVALID = load("invalid")
BY_PYDANTIC = [m for m in INVALID if not (m.cel_only or m.server_only)]
CEL_ONLY = [m for m in INVALID if m.cel_only]


def _validate(manifest: Manifest) -> BaseModel:
    """Validate what the models own: everything but apiVersion, kind and metadata."""
    body = {k: v for k, v in manifest.body.items() if k not in ("apiVersion", "kind", "metadata")}
    return by_kind(manifest.kind).model.model_validate(body)


def _offending_field(manifest: Manifest) -> str:
    """The field the API server names first, e.g. `spec.strategy.canary.steps[0].weight`."""
    expected = manifest.expects[0]
    unknown = re.match(r'unknown field "([^"]+)"', expected)
    if unknown:
        return unknown.group(1)
    return re.split(r"[: ]", expected, maxsplit=1)[0]


def _dotted(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _contains(whole: Any, part: Any) -> bool:
    """Every key and value of `part` is in `whole` (defaults may add more keys)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and _contains(whole[k], v) for k, v in part.items()
        )
    if isinstance(part, list):
        return (
            isinstance(whole, list)
            and len(whole) == len(part)
            and all(_contains(w, p) for w, p in zip(whole, part, strict=True))
        )
    return bool(whole == part)


@pytest.mark.parametrize("manifest", VALID, ids=lambda m: m.name)
def test_valid_manifest_round_trips_through_the_wire_form(manifest: Manifest) -> None:
    spec = _validate(manifest).spec  # type: ignore[attr-defined]
    wire = spec.wire()
    assert _contains(wire, manifest.body["spec"]), f"{manifest.name}: {wire}"
    assert type(spec).model_validate(wire).wire() == wire
    assert not any("_" in key and key != "schema" for key in _keys(wire, skip=_FREE_FORM))


_FREE_FORM = {"hyperparameters", "params", "metrics", "nodeSelector", "requests", "limits"}


def _keys(node: Any, skip: set[str]) -> list[str]:
    """All field names of a wire object, not descending into user-keyed maps."""
    if isinstance(node, list):
        return [k for item in node for k in _keys(item, skip)]
    if not isinstance(node, dict):
        return []
    return [k for k, v in node.items() for k in [k, *([] if k in skip else _keys(v, skip))]]


@pytest.mark.parametrize("manifest", BY_PYDANTIC, ids=lambda m: m.name)
def test_invalid_manifest_is_rejected_at_the_same_field(manifest: Manifest) -> None:
    with pytest.raises(ValidationError) as caught:
        _validate(manifest)
    locations = [_dotted(tuple(error["loc"])) for error in caught.value.errors()]
    assert _offending_field(manifest) in locations


@pytest.mark.parametrize("manifest", CEL_ONLY, ids=lambda m: m.name)
def test_cel_only_marker_is_accurate(manifest: Manifest) -> None:
    """These rules live only in the CRD; when a model learns one, drop the `# cel-only` marker."""
    assert _validate(manifest) is not None


def test_the_split_between_models_and_cel_covers_the_corpus() -> None:
    assert len(BY_PYDANTIC) >= 45
    assert {m.path.stem.split("-")[0] for m in CEL_ONLY} >= {
        "dataset",
        "trainingjob",
        "modeldeployment",
        "driftmonitor",
    }


EXTRA_FIELD_SPOTS: list[tuple[str, list[str | int]]] = [
    ("dataset-iris", ["spec"]),
    ("dataset-iris", ["spec", "source"]),
    ("dataset-iris", ["spec", "validation", "rules", 0]),
    ("trainingjob-kfold-gpu", ["spec", "split"]),
    ("trainingjob-kfold-gpu", ["spec", "tolerations", 1]),
    ("modelversion-onnx-lineage", ["spec", "lineage", "dataset"]),
    ("modeldeployment-canary-latest", ["spec", "strategy", "canary", "steps", 0]),
    ("modeldeployment-canary-latest", ["spec", "strategy", "canary", "analysis", "prometheus"]),
    ("driftmonitor-deployment-retrain", ["spec", "action", "trainingJobTemplate"]),
    ("driftmonitor-deployment-retrain", []),
]


@pytest.mark.parametrize(
    ("name", "where"),
    [
        pytest.param(n, w, id=f"{n}:{'.'.join(map(str, w)) or '(root)'}")
        for n, w in EXTRA_FIELD_SPOTS
    ],
)
def test_extra_fields_are_forbidden_at_every_level(name: str, where: list[str | int]) -> None:
    manifest = next(m for m in VALID if m.name == name)
    body = copy.deepcopy(manifest.body)
    node: Any = body
    for step in where:
        node = node[step]
    node["surprise"] = True
    with pytest.raises(ValidationError) as caught:
        _validate(Manifest(manifest.path, body, "", (), None, False, False))
    [error] = caught.value.errors()
    assert error["type"] == "extra_forbidden"
    assert tuple(error["loc"]) == (*where, "surprise")


def test_python_names_are_snake_case_and_the_wire_is_camel_case() -> None:
    spec = TrainingJobSpec(
        dataset_ref={"name": "iris"},
        model="iris",
        estimator="SVC",
        target="target",
        backoff_limit=3,
        active_deadline_seconds=60,
    )
    wire = spec.wire()
    assert wire["datasetRef"] == {"name": "iris"}
    assert wire["backoffLimit"] == 3
    assert wire["activeDeadlineSeconds"] == 60
    assert "backoff_limit" not in wire
    assert "ttlSecondsAfterFinished" not in wire  # unset optional fields stay off the wire


def test_schema_alias_keeps_the_wire_name() -> None:
    spec = DatasetSpec.model_validate(
        {
            "source": {"uri": "sklearn://wine"},
            "schema": {"columns": [{"name": "a", "type": "numeric"}]},
        }
    )
    assert spec.schema_ is not None
    assert spec.wire()["schema"] == {"columns": [{"name": "a", "type": "numeric"}]}


def test_status_round_trips_with_conditions() -> None:
    wire = {
        "spec": {"modelVersionRef": {"name": "churn-v3"}},
        "status": {
            "observedGeneration": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "RolledBack",
                    "message": "error rate 0.2 > 0.05",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 2,
                }
            ],
            "phase": "RolledBack",
            "servingVersion": "churn-v2",
            "failedVersion": {"name": "churn-v3", "reason": "AnalysisFailed", "specGeneration": 2},
            "canary": {"step": 1, "weight": 10},
        },
    }
    status = ModelDeployment.model_validate(wire).status.wire()
    assert _contains(status, wire["status"])
    assert ModelDeployment.model_validate({**wire, "status": status}).status.wire() == status


def test_dataset_additional_sources_and_the_rows_each_gave() -> None:
    spec = DatasetSpec.model_validate({"source": {"uri": "sklearn://iris"}})
    assert spec.additional_sources == []
    wire = {
        "spec": {
            "source": {"uri": "sklearn://iris"},
            "additionalSources": [{"uri": "file:///w/train.parquet", "format": "parquet"}],
        },
        "status": {
            "sources": [
                {"uri": "sklearn://iris", "rows": 150},
                {"uri": "file:///w/train.parquet", "rows": 12},
            ]
        },
    }
    dataset = Dataset.model_validate(wire)
    assert dataset.spec.additional_sources[0].format == "parquet"
    assert dataset.status.wire()["sources"] == wire["status"]["sources"]
    too_many = {"uri": "sklearn://iris"}
    with pytest.raises(ValidationError, match="at most 20 items"):
        DatasetSpec.model_validate({"source": too_many, "additionalSources": [too_many] * 21})
    with pytest.raises(ValidationError, match=r"additionalSources\.0\.uri"):
        DatasetSpec.model_validate({"source": too_many, "additionalSources": [{"uri": "x"}]})
