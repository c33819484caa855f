"""The artifact store: atomic writes, checksums, layout, and model verification."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlops_operator.api.modelversion import Signature, TensorSpec
from mlops_operator.artifacts import (
    ArtifactMissing,
    ChecksumMismatch,
    LoadFailed,
    ReadOnlySource,
    Store,
    StoreUnavailable,
    load_skops,
    paths,
    sha256_hex,
    verify_model,
)

SHA = "a" * 64


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path.as_uri())


def test_write_then_read_verified(store: Store, tmp_path: Path) -> None:
    uri, sha = store.write_bytes("datasets/ns/ds/x.bin", b"hello")
    assert uri == f"{tmp_path.as_uri()}/datasets/ns/ds/x.bin"
    assert (
        sha
        == sha256_hex(b"hello")
        == ("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    )
    assert (tmp_path / "datasets/ns/ds/x.bin").read_bytes() == b"hello"
    assert store.read_verified(uri, sha) == b"hello"
    assert store.read_verified("datasets/ns/ds/x.bin", sha.upper()) == b"hello"
    assert store.exists(uri) and not store.exists("datasets/ns/ds/nope")


def test_tampered_artifact_fails_its_checksum(store: Store, tmp_path: Path) -> None:
    uri, sha = store.write_bytes("models/ns/m/x/model.onnx", b"original bytes")
    (tmp_path / "models/ns/m/x/model.onnx").write_bytes(b"original bytez")
    with pytest.raises(ChecksumMismatch, match=r"expected " + sha) as err:
        store.read_verified(uri, sha)
    assert err.value.reason == "ChecksumMismatch"
    assert uri in str(err.value)


def test_missing_artifact_is_a_typed_error(store: Store) -> None:
    with pytest.raises(ArtifactMissing, match="does not exist"):
        store.read_verified("runs/ns/tj/uid/result.json", SHA)


def test_failed_write_leaves_no_partial_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_bytes("a/file.bin", b"version one")

    def crash(fd: int) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "fsync", crash)  # the crash happens after the bytes were written
    with pytest.raises(OSError, match="disk vanished"):
        store.write_bytes("a/file.bin", b"version two, never complete")
    with pytest.raises(OSError):
        store.write_bytes("a/new.bin", b"never visible")
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["file.bin"]
    assert (tmp_path / "a/file.bin").read_bytes() == b"version one"


def test_json_is_canonical(store: Store) -> None:
    _, first = store.write_json("x/a.json", {"b": 1, "a": [1, 2]})
    _, second = store.write_json("x/b.json", {"a": [1, 2], "b": 1})
    assert first == second
    assert store.read_json("x/a.json", first) == {"a": [1, 2], "b": 1}


def test_list_returns_file_uris(store: Store) -> None:
    store.write_bytes("samples/ns/d/1/b.parquet", b"2")
    store.write_bytes("samples/ns/d/1/a.parquet", b"1")
    listed = store.list("samples/ns/d/1")
    assert [u.rsplit("/", 1)[1] for u in listed] == ["a.parquet", "b.parquet"]
    assert store.list("samples/ns/none") == []


def test_paths_are_refused_outside_the_root(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        store.write_bytes("../escape", b"x")
    with pytest.raises(ReadOnlySource):
        store.write_bytes("https://example.com/x", b"x")
    with pytest.raises(ReadOnlySource):
        store.write_bytes((tmp_path.parent / "other").as_uri(), b"x")
    with pytest.raises(ReadOnlySource):
        Store("https://example.com/store")


def test_layout_helpers_match_the_documented_layout() -> None:
    assert paths.dataset_snapshot("ns", "iris", SHA) == f"datasets/ns/iris/{SHA}/data.parquet"
    assert paths.dataset_profile("ns", "iris", SHA).endswith(f"{SHA}/profile.json")
    assert paths.model_file("ns", "m", SHA, "onnx") == f"models/ns/m/{SHA}/model.onnx"
    assert paths.model_card("ns", "m", SHA) == f"models/ns/m/{SHA}/card.json"
    assert paths.run_result("ns", "tj", "u-1") == "runs/ns/tj/u-1/result.json"
    with pytest.raises(ValueError, match="sha256"):
        paths.dataset_snapshot("ns", "iris", "latest")
    with pytest.raises(ValueError, match="safe path"):
        paths.model_card("..", "m", SHA)


def test_from_env(tmp_path: Path) -> None:
    assert Store.from_env({}).root == "file:///var/lib/mlops/store"
    assert Store.from_env({"MLOPS_STORE": tmp_path.as_uri() + "/"}).root == tmp_path.as_uri()


def test_s3_without_s3fs_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_s3fs(name: str, *args: object, **kwargs: object) -> object:
        if name == "s3fs":
            raise ImportError("No module named 's3fs'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_s3fs)
    store = Store("s3://bucket/prefix")
    assert store.uri("a/b") == "s3://bucket/prefix/a/b"
    with pytest.raises(StoreUnavailable, match="s3fs"):
        store.exists("a/b")


# --- model verification --------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_model() -> tuple[LogisticRegression, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(x, y), x.astype(np.float32)


def test_verify_model_accepts_a_good_onnx_model(store: Store, iris_model) -> None:  # type: ignore[no-untyped-def]
    model, x = iris_model
    data = to_onnx(model, x[:1]).SerializeToString()
    uri, sha = store.write_bytes(f"models/ns/m/{sha256_hex(data)}/model.onnx", data)
    verify_model(uri, "onnx", sha, store=store)
    wrong = Signature(inputs=[TensorSpec(name="sepal_length", datatype="FP32")])
    with pytest.raises(LoadFailed, match="do not match the signature"):
        verify_model(uri, "onnx", sha, signature=wrong, store=store)


def test_verify_model_reasons(store: Store, tmp_path: Path, iris_model) -> None:  # type: ignore[no-untyped-def]
    model, _ = iris_model
    data = sio.dumps(model)
    uri, sha = store.write_bytes("models/ns/m/x/model.skops", data)
    verify_model(uri, "skops", sha, store=store)

    with pytest.raises(ArtifactMissing):
        verify_model(uri.replace("model.skops", "gone.skops"), "skops", sha, store=store)

    (tmp_path / "models/ns/m/x/model.skops").write_bytes(
        data[:10] + bytes([data[10] ^ 1]) + data[11:]
    )
    with pytest.raises(ChecksumMismatch):
        verify_model(uri, "skops", sha, store=store)

    junk_uri, junk_sha = store.write_bytes("models/ns/m/y/model.onnx", b"not a model")
    with pytest.raises(LoadFailed, match="onnxruntime") as err:
        verify_model(junk_uri, "onnx", junk_sha, store=store)
    assert err.value.reason == "LoadFailed"


def test_skops_refuses_types_outside_the_trust_list(store: Store) -> None:
    from collections import Counter

    data = sio.dumps({"weights": Counter({"a": 1})})
    assert "collections.Counter" in sio.get_untrusted_types(data=data)
    with pytest.raises(LoadFailed, match=r"untrusted types: collections\.Counter"):
        load_skops(data)


def test_summary_documents_are_json(store: Store) -> None:
    uri, sha = store.write_json("x/summary.json", {"ok": True})
    assert json.loads(store.read_verified(uri, sha)) == {"ok": True}
