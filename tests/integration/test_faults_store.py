"""The artifact store failing under a running operator process: conditions and Events, not
crash loops (the DriftMonitor's unreadable samples are test_store_failing.py's).

- a profile Job that could not write to the store (its Dataset's directory is blocked by a
  file, which root cannot write through either): the pod fails and says why;
- a profile Job reported Succeeded whose result never reached the store (a lost volume);
- a training Job reported Succeeded whose result in the store is corrupt (a torn write);
- a ModelVersion whose artifact is not in the store.

Each object ends Ready=False with a reason and a message, and one Warning Event for it; the
operator process stays up (one start), no handler raises (Kopf's "failed with an exception"
never appears in its log), and the healthy objects beside them still become Ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.test_training_flow import IRIS, get_job, ready, training_job
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.kubelet import finish_pod
from tests.support.operator_process import OperatorProcess
from tests.unit.test_serving_fixtures import iris_onnx

from mlops_operator.artifacts import paths
from mlops_operator.cli import main as cli

pytestmark = pytest.mark.integration
TIMEOUT = 120


def _dataset(name: str) -> dict[str, Any]:
    return {**IRIS, "metadata": {"name": name}}


def _run(job: Any, tmp_path: Path) -> tuple[int, str]:
    """The Job's command here, as its pod would run it: exit code and termination message."""
    log = tmp_path / f"{job.metadata.name}.termination"
    args = list(job.spec.template.spec.containers[0].args)
    try:
        code = cli([*args, "--termination-log", str(log)])
    except Exception:  # the pod's process dies with a traceback: exit 1, as a container does
        code = 1
    return code, log.read_text() if log.exists() else ""


def _job(api: kubernetes.client.ApiClient, namespace: str, label: str) -> Any:
    return wait_for(lambda: get_job(api, namespace, label), TIMEOUT, what=f"Job {label}")


def _result_uri(job: Any) -> str:
    args = list(job.spec.template.spec.containers[0].args)
    return str(args[args.index("--result-uri") + 1])


def _warnings(api: kubernetes.client.ApiClient, namespace: str, kind: str, name: str) -> list[Any]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name},type=Warning"
    core = kubernetes.client.CoreV1Api(api)
    return list(core.list_namespaced_event(namespace, field_selector=selector).items)


def _failed(
    api: kubernetes.client.ApiClient, objects: Objects, kind: str, name: str
) -> tuple[dict[str, Any], list[Any]]:
    """Ready=False at the object's generation with a reason a Warning Event also gives (not
    the passing Ready=False of work still running), and those Warnings."""

    def check() -> tuple[dict[str, Any], list[Any]] | None:
        body = objects.get(kind, name)
        status = body.get("status") or {}
        found = objects.condition(kind, name, "Ready")
        if not found or found["status"] != "False":
            return None
        if status.get("observedGeneration") != body["metadata"]["generation"]:
            return None
        warnings = _warnings(api, objects.namespace, kind, name)
        return (found, warnings) if found["reason"] in {e.reason for e in warnings} else None

    try:
        return wait_for(check, TIMEOUT, what=f"{kind} {name} Ready=False with a Warning")
    except TimeoutError as error:
        seen = objects.condition(kind, name, "Ready")
        events = [(e.reason, e.message) for e in _warnings(api, objects.namespace, kind, name)]
        raise AssertionError(f"{error}: Ready {seen}, Warnings {events}") from None


def test_store_failures_become_conditions_and_events(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    root = Path(store.removeprefix("file://"))
    # Nothing can be written under datasets/<ns>/ds-blocked: a file stands where the
    # directory would be.
    blocked = root / "datasets" / namespace / "ds-blocked"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a directory")

    logs = control_plane.workdir / f"operator-{namespace}"  # kept when a test fails
    logs.mkdir()
    served = iris_onnx("logistic")
    missing = f"{store}/{paths.model_file(namespace, 'iris', served.sha256, 'onnx')}"
    outcomes: dict[tuple[str, str], tuple[dict[str, Any], list[Any]]] = {}
    with OperatorProcess(control_plane.kubeconfig, namespace, logs) as operator:
        for name in ("ds-ok", "ds-blocked", "ds-lost"):
            objects.create(_dataset(name))
        objects.create(training_job("tj-corrupt", datasetRef={"name": "ds-ok"}))
        objects.create(
            {
                "apiVersion": "mlops.dev/v1alpha1",
                "kind": "ModelVersion",
                "metadata": {"name": "iris-v1"},
                "spec": {
                    "model": "iris",
                    "version": 1,
                    "task": "classification",
                    "artifact": {"uri": missing, "format": "onnx", "sha256": served.sha256},
                    "signature": served.signature.wire(),
                },
            }
        )

        ok = _job(kube_api, namespace, "mlops.dev/dataset=ds-ok")
        assert _run(ok, tmp_path)[0] == 0
        finish_pod(kube_api, namespace, ok.metadata.name)
        wait_for(lambda: ready(objects, "Dataset", "ds-ok"), TIMEOUT, what="ds-ok Ready")

        job = _job(kube_api, namespace, "mlops.dev/dataset=ds-blocked")
        code, message = _run(job, tmp_path)
        assert code != 0 and message, (code, message)
        finish_pod(kube_api, namespace, job.metadata.name, exit_code=code, reason="Error",
                   message=message)  # fmt: skip
        outcomes[("Dataset", "ds-blocked")] = _failed(kube_api, objects, "Dataset", "ds-blocked")

        job = _job(kube_api, namespace, "mlops.dev/dataset=ds-lost")
        finish_pod(kube_api, namespace, job.metadata.name)  # Succeeded; nothing in the store
        outcomes[("Dataset", "ds-lost")] = _failed(kube_api, objects, "Dataset", "ds-lost")

        job = _job(kube_api, namespace, "mlops.dev/trainingjob=tj-corrupt")
        assert _run(job, tmp_path)[0] == 0
        result = root / _result_uri(job).removeprefix(store).lstrip("/")
        result.write_bytes(result.read_bytes()[:20])  # torn: the first bytes of the JSON
        finish_pod(kube_api, namespace, job.metadata.name)
        outcomes[("TrainingJob", "tj-corrupt")] = _failed(
            kube_api, objects, "TrainingJob", "tj-corrupt"
        )

        outcomes[("ModelVersion", "iris-v1")] = _failed(
            kube_api, objects, "ModelVersion", "iris-v1"
        )

        for (kind, name), (condition, warnings) in outcomes.items():
            print(f"{kind} {name}: Ready=False {condition['reason']}: {condition['message']}")
            assert condition["message"] and condition["message"] != "Completed", condition
            same = [e for e in warnings if e.reason == condition["reason"]]
            assert len(same) == 1 and (same[0].count or 1) == 1, [
                (e.reason, e.count, e.message) for e in warnings
            ]  # one Warning for the reason, not one per reconcile
        assert operator.process is not None and operator.process.poll() is None
        assert operator.starts == 1
    log = operator.log()
    assert "failed with an exception" not in log, log[-3000:]
