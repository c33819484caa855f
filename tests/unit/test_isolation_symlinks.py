"""Symlinks out of a namespace's part of a file:// store are found before the operator reads."""

from __future__ import annotations

from pathlib import Path

from mlops_operator.artifacts.symlinks import escape
from mlops_operator.reconcile import confinement, reasons


def _store(tmp_path: Path) -> tuple[str, list[str]]:
    root = tmp_path / "store"
    for relative in ("models/a/m/x", "models/b/m/x", "samples/b/dep/v1/dt=2026-01-01/hour=00"):
        (root / relative).mkdir(parents=True)
    (root / "models/a/m/x/model.onnx").write_bytes(b"a's model")
    return f"file://{root}", confinement.namespace_roots(f"file://{root}", "b")


def test_a_symlink_to_another_namespace_is_found(tmp_path: Path) -> None:
    store, roots = _store(tmp_path)
    root = Path(store.removeprefix("file://"))
    link = root / "models/b/m/x/model.onnx"
    link.symlink_to(root / "models/a/m/x/model.onnx")
    assert escape(f"file://{link}", roots) == str(link)


def test_a_symlink_deep_in_a_directory_is_found(tmp_path: Path) -> None:
    store, roots = _store(tmp_path)
    root = Path(store.removeprefix("file://"))
    hour = root / "samples/b/dep/v1/dt=2026-01-01/hour=00"
    (hour / "ok.parquet").write_bytes(b"b's rows")
    assert escape(f"{store}/samples/b/dep/v1", roots) is None
    (hour / "x.parquet").symlink_to(root / "models/a/m/x/model.onnx")
    assert escape(f"{store}/samples/b/dep/v1", roots) == str(hour / "x.parquet")


def test_links_inside_the_namespace_and_missing_paths_are_fine(tmp_path: Path) -> None:
    store, roots = _store(tmp_path)
    root = Path(store.removeprefix("file://"))
    (root / "models/b/m/x/model.onnx").write_bytes(b"b's model")
    (root / "models/b/m/x/latest.onnx").symlink_to(root / "models/b/m/x/model.onnx")
    assert escape(f"{store}/models/b/m/x/latest.onnx", roots) is None
    assert escape(f"{store}/models/b/m/missing.onnx", roots) is None
    assert escape("s3://bucket/models/a/m/x/model.onnx", roots) is None
    assert confinement.namespace_roots("s3://bucket/store", "b") == []


def test_escaped_names_the_field() -> None:
    refusal = confinement.escaped("spec.artifact.uri", "/s/models/b/m", "b")
    assert refusal.reason == reasons.OUTSIDE_NAMESPACE
    assert refusal.message.startswith("spec.artifact.uri: /s/models/b/m is a symlink")
