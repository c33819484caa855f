"""ModelVersion: when to verify, how deep, and the decision on each outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_operator.artifacts import Store
from mlops_operator.reconcile import modelversion as mv

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def body(generation: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "iris-v1", "namespace": "ml", "generation": generation},
        "spec": {"model": "iris", "version": 1,
                 "artifact": {"uri": "file:///s/model.onnx", "format": "onnx", "sha256": "e" * 64}},
        "status": status,
    }  # fmt: skip


def test_a_new_generation_is_verified_now_with_a_load_check() -> None:
    assert mv.needs_verification(body(), NOW) and mv.needs_load_check(body())


def test_a_verified_version_waits_for_the_reverification_and_then_checks_only_the_sha() -> None:
    verified = body(observedGeneration=1, phase="Ready", verifiedAt="2026-01-01T11:50:00Z")
    assert not mv.needs_verification(verified, NOW)
    assert mv.next_verification_in(verified, NOW) == 20 * 60
    later = NOW + mv.REVERIFY_AFTER
    assert mv.needs_verification(verified, later) and not mv.needs_load_check(verified)
    # an Invalid version is loaded again: the store may have been repaired
    assert mv.needs_load_check(body(observedGeneration=1, phase="Invalid"))


def test_the_decision_schedules_the_next_verification() -> None:
    decision = mv.decide(body(), None, NOW)
    assert decision.status["phase"] == "Ready"
    assert decision.requeue_after == mv.REVERIFY_AFTER.total_seconds()
    failed = mv.decide(body(), ("ChecksumMismatch", "sha256 differs"), NOW)
    assert failed.status["phase"] == "Invalid" and failed.events[0].type == "Warning"


def verify_cli(store: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "MLOPS_STORE": f"file://{store}"}
    out = subprocess.run(
        [sys.executable, "-m", "mlops_operator.artifacts.verify_cli", *args],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_load_check_process_names_each_failure(tmp_path: Path) -> None:
    store = Store(f"file://{tmp_path}")
    uri, sha = store.write_bytes("models/ml/m/x/model.onnx", b"not a model")
    junk = verify_cli(tmp_path, "--uri", uri, "--format", "onnx", "--sha256", sha)
    assert junk["ok"] is False and junk["reason"] == "LoadFailed"
    tampered = verify_cli(tmp_path, "--uri", uri, "--format", "onnx", "--sha256", "0" * 64)
    assert tampered["reason"] == "ChecksumMismatch"
    gone = uri.replace("model.onnx", "gone.onnx")
    assert verify_cli(tmp_path, "--uri", gone, "--format", "onnx", "--sha256", sha)["reason"] == (
        "ArtifactMissing"
    )
