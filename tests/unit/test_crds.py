"""The checked-in CRDs: current with the models, structural, and what kubectl users expect."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_operator import GROUP, VERSION
from mlops_operator.api.crd import all_crds
from mlops_operator.api.kinds import KINDS, Kind
from mlops_operator.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
STALE = "crds/ is stale: run `make crds` and commit the result"
COLUMN_TYPES = {"string", "integer", "number", "boolean", "date"}


@functools.cache
def _generated() -> tuple[dict[str, Any], ...]:
    return tuple(all_crds())


def _crd(kind: Kind) -> dict[str, Any]:
    return next(c for c in _generated() if c["spec"]["names"]["kind"] == kind.kind)


def _version(crd: dict[str, Any]) -> dict[str, Any]:
    [version] = crd["spec"]["versions"]
    return version


def _schema(kind: Kind) -> dict[str, Any]:
    return _version(_crd(kind))["schema"]["openAPIV3Schema"]


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under `node` with its path (properties, items, additionalProperties)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


def test_checked_in_crds_are_the_generated_ones() -> None:
    files = sorted(p.name for p in CRDS.glob("*.yaml"))
    assert files == sorted(f"{k.plural}.yaml" for k in KINDS), STALE
    for kind, generated in zip(KINDS, all_crds(), strict=True):
        checked_in = yaml.safe_load((CRDS / f"{kind.plural}.yaml").read_text())
        assert checked_in == generated, f"{kind.plural}.yaml: {STALE}"


def test_the_crds_command_writes_exactly_the_checked_in_files(tmp_path: Path) -> None:
    assert cli_main(["crds", "--output-dir", str(tmp_path)]) == 0
    for kind in KINDS:
        written = (tmp_path / f"{kind.plural}.yaml").read_text()
        assert written == (CRDS / f"{kind.plural}.yaml").read_text(), f"{kind.plural}: {STALE}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: Kind) -> None:
    text = yaml.safe_dump(_schema(kind))
    assert "$ref" not in text and "$defs" not in text and "definitions" not in text
    for path, node in _nodes(_schema(kind)):
        where = f"{kind.kind}{path or ' (root)'}"
        typed = (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        )
        assert typed, f"{where} has no type"
        for junction in ("anyOf", "oneOf", "allOf", "not"):
            branches = node.get(junction, [])
            for branch in branches if isinstance(branches, list) else [branches]:
                assert "type" not in branch, f"{where}: {junction} with types is not structural"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, f"{where}: int-or-string carries no type"
        assert not ("properties" in node and "additionalProperties" in node), where
        assert node.get("nullable") is not False, where
        assert "default" not in node or node["default"] is not None, f"{where}: null default"
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(bound, False), bool), f"{where}: {bound} must be a bool"
        for key in node.get("x-kubernetes-list-map-keys", []):
            item = node["items"]
            assert key in item.get("required", []) or "default" in item["properties"][key], where


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_root_of_the_schema_is_what_the_api_server_allows(kind: Kind) -> None:
    schema = _schema(kind)
    assert schema["type"] == "object"
    assert schema["required"] == ["spec"]
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["spec"]["type"] == "object"
    assert schema["properties"]["status"]["type"] == "object"
    assert "default" not in schema["properties"]["status"]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_cel_rules_name_fields_that_exist(kind: Kind) -> None:
    """A rule written against a Python (snake_case) name would never match the wire object."""
    rules = 0
    for path, node in _nodes(_schema(kind)):
        for entry in node.get("x-kubernetes-validations", []):
            rules += 1
            assert entry["rule"] and entry["message"], f"{kind.kind}{path}"
            for name in re.findall(r"\bself\.(\w+)\b(?!\()", entry["rule"]):  # not methods
                assert name in node.get("properties", {}), f"{kind.kind}{path}: {name} unknown"
            if "oldSelf" in entry["rule"]:
                assert (kind.kind, path) == ("ModelVersion", ".spec"), "only ModelVersion is frozen"
    assert rules > 0


def test_model_version_spec_is_immutable() -> None:
    spec = _schema(next(k for k in KINDS if k.kind == "ModelVersion"))["properties"]["spec"]
    assert {"rule": "self == oldSelf"}.items() <= spec["x-kubernetes-validations"][0].items()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_names_short_names_and_category(kind: Kind) -> None:
    crd = _crd(kind)
    assert crd["metadata"]["name"] == f"{kind.plural}.{GROUP}"
    assert crd["spec"]["group"] == GROUP
    assert crd["spec"]["scope"] == "Namespaced"
    names = crd["spec"]["names"]
    assert names["kind"] == kind.kind
    assert names["plural"] == kind.plural
    assert names["singular"] == kind.kind.lower()
    assert names["shortNames"] == kind.short_names
    assert names["categories"] == ["mlops"]


def test_short_names_are_distinct() -> None:
    shorts = [name for k in KINDS for name in k.short_names]
    assert len(set(shorts)) == len(shorts)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_one_served_storage_version_with_status_subresource(kind: Kind) -> None:
    version = _version(_crd(kind))
    assert version["name"] == VERSION
    assert version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_printer_columns_start_with_ready_and_end_with_age(kind: Kind) -> None:
    columns = _version(_crd(kind))["additionalPrinterColumns"]
    assert columns[0] == {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    }
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert any(not c.get("priority") for c in columns[1:-1]), "no kind-specific column by default"
    names = [c["name"] for c in columns]
    assert len(set(names)) == len(names)
    for column in columns:
        assert column["type"] in COLUMN_TYPES
        assert column["jsonPath"].startswith(".")
