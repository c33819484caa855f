"""The run results the operator reads (written by profile, train, trial, compare and batch pods)
stay in their namespace's part of the store: a result that is a symlink out of it, or that names
a further document in another namespace's part, is refused with OutsideNamespace naming the
path, and the Dataset records it like any failed run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_operator.config import OperatorConfig
from mlops_operator.handlers import result_guard, results
from mlops_operator.reconcile import confinement, dataset
from mlops_operator.reconcile.jobs import JobOutcome

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setattr(result_guard, "STORE_ROOT", root.as_uri())
    secret = root / "runs" / "a" / "iris" / "u1" / "result.json"
    secret.parent.mkdir(parents=True)
    secret.write_text(json.dumps({"ok": True, "metrics": {"accuracy": 0.97}, "secret": "a's"}))
    return root


def _write(path: Path, document: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path.as_uri()


def test_the_namespace_of_a_store_uri() -> None:
    assert confinement.namespace_of("file:///s/runs/b/x/r.json", "file:///s") == "b"
    assert confinement.namespace_of("file:///s/runs/b/../a/r.json", "file:///s") == "a"
    assert confinement.namespace_of("s3://bk/p/predictions/b/n/_results/p.json", "s3://bk/p") == "b"
    assert confinement.namespace_of("file:///s/runs", "file:///s") is None
    assert confinement.namespace_of("file:///elsewhere/runs/b/r.json", "file:///s") is None
    assert confinement.namespace_of("s3://other/runs/b/r.json", "file:///s") is None


def test_a_result_in_its_own_part_is_read(store: Path) -> None:
    summary = _write(store / "datasets" / "b" / "iris" / "summary.json", {"rows": 150})
    uri = _write(store / "runs" / "b" / "iris" / "job" / "result.json",
                 {"ok": True, "summaryUri": summary})  # fmt: skip
    assert results._read(uri) == {"ok": True, "summaryUri": summary, "rows": 150}


def test_a_link_inside_its_own_part_is_read(store: Path) -> None:
    target = store / "runs" / "b" / "iris" / "job" / "result.json"
    _write(target, {"ok": True})
    link = store / "runs" / "b" / "iris" / "latest.json"
    link.symlink_to(target)
    assert results._read(link.as_uri()) == {"ok": True}


def test_a_result_that_links_into_another_namespace_is_refused(store: Path) -> None:
    link = store / "runs" / "b" / "iris" / "job" / "result.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(store / "runs" / "a" / "iris" / "u1" / "result.json")
    refused = results._read(link.as_uri())
    assert refused is not None and refused["ok"] is False
    assert refused["reason"] == "OutsideNamespace"
    assert refused["error"] == (
        f"the run result: {link} is a symlink that leads outside namespace b's part of the "
        "store; it is not read"
    )


def test_a_result_under_a_linked_directory_is_refused(store: Path) -> None:
    linked = store / "runs" / "b" / "iris"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(store / "runs" / "a" / "iris")  # runs/b/iris -> runs/a/iris
    refused = results._read((linked / "u1" / "result.json").as_uri())
    assert refused is not None and refused["reason"] == "OutsideNamespace"
    assert "secret" not in refused and "outside namespace b's part" in refused["error"]


def test_a_result_naming_another_namespace_s_document_is_refused(store: Path) -> None:
    other = (store / "runs" / "a" / "iris" / "u1" / "result.json").as_uri()
    uri = _write(store / "runs" / "b" / "iris" / "job" / "result.json",
                 {"ok": True, "resultUri": other})  # fmt: skip
    refused = results._read(uri)
    assert refused is not None and refused["reason"] == "OutsideNamespace"
    assert refused["error"].startswith(f"the run result's resultUri: {other} is outside ")
    assert "secret" not in refused


def test_a_result_naming_a_document_outside_the_store_is_refused(store: Path) -> None:
    uri = _write(store / "runs" / "b" / "iris" / "job" / "result.json",
                 {"ok": True, "summaryUri": "https://example.com/summary.json"})  # fmt: skip
    refused = results._read(uri)
    assert refused is not None and refused["reason"] == "PathNotAllowed"
    assert refused["error"].startswith("the run result's summaryUri: https://example.com/")


def test_a_refused_result_fails_the_dataset_run_naming_the_path(store: Path) -> None:
    link = store / "runs" / "b" / "iris" / "job" / "result.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(store / "runs" / "a" / "iris" / "u1" / "result.json")
    body = {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "iris", "namespace": "b", "uid": "u", "generation": 1},
        "spec": {"source": {"uri": "sklearn://iris"}}, "status": {},
    }  # fmt: skip
    config = OperatorConfig(store_uri=store.as_uri())
    decision = dataset.decide(body, JobOutcome("Succeeded"), results._read(link.as_uri()), NOW,
                              config)  # fmt: skip
    assert decision.status["phase"] == "Failed"
    assert decision.status["failureReason"] == "OutsideNamespace"
    ready = decision.conditions[-1]
    assert (ready.status, ready.reason) == ("False", "OutsideNamespace")
    assert str(link) in ready.message
    assert [(e.type, e.reason) for e in decision.events] == [("Warning", "OutsideNamespace")]
