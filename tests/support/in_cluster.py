"""Things e2e tests read or write on the local cluster's node: the operator's own /metrics,
the artifact store's volume, and what the real kubelet reported about a pod's containers."""

from __future__ import annotations

import hashlib
import re
import threading
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def operator_metrics(pod: Any, port: int = 9090) -> dict[tuple[str, str], float]:
    """The operator pod's /metrics as {(name, labels): value}, read from its pod IP."""
    url = f"http://{pod.status.pod_ip}:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    found: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            found[(match[1], match[2] or "")] = float(match[3])
    return found


def reconciles(pod: Any, kind: str) -> float:
    """Reconciles of `kind` the operator finished, whatever their outcome."""
    return sum(
        value
        for (name, labels), value in operator_metrics(pod).items()
        if name == "mlops_reconcile_total" and f'kind="{kind}"' in labels
    )


def settled(pod: Any) -> bool:
    """Nothing waits in the operator's work queue."""
    return operator_metrics(pod).get(("mlops_operator_workqueue_depth", ""), 1.0) == 0.0


def store_volume(core: kubernetes.client.CoreV1Api, namespace: str, claim: str) -> Path:
    """The host directory behind the store's PersistentVolumeClaim (a hostPath volume)."""
    pvc = core.read_namespaced_persistent_volume_claim(claim, namespace)
    volume = core.read_persistent_volume(pvc.spec.volume_name)
    return Path(volume.spec.host_path.path)


def oversized_copy(model: bytes, megabytes: int) -> bytes:
    """The same ONNX model with `megabytes` of unused float weights: it verifies and predicts
    like the original, but loading it needs several times that much memory."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(model)
    ballast = np.zeros(megabytes * 2**20 // 4, dtype=np.float32)
    proto.graph.initializer.append(numpy_helper.from_array(ballast, "ballast"))
    return bytes(proto.SerializeToString())


def write_model(volume: Path, store_uri_prefix: str, relative: str, data: bytes) -> tuple[str, str]:
    """Write `data` at `relative` under the store volume; returns (its URI in pods, sha256)."""
    path = volume / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)
    return f"{store_uri_prefix}/{relative}", hashlib.sha256(data).hexdigest()


class ContainerExits:
    """Every container termination the kubelet reports for pods matching `selector`,
    as (pod, reason, exit code), polled until stopped (the pods may be deleted soon after)."""

    def __init__(self, core: kubernetes.client.CoreV1Api, namespace: str, selector: str) -> None:
        self.core, self.namespace, self.selector = core, namespace, selector
        self.seen: set[tuple[str, str, int]] = set()
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ContainerExits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pods = self.core.list_namespaced_pod(
                    self.namespace, label_selector=self.selector
                ).items
            except kubernetes.client.ApiException:
                pods = []
            for pod in pods:
                for container in pod.status.container_statuses or []:
                    self.restarts = max(self.restarts, container.restart_count or 0)
                    for state in (container.state, container.last_state):
                        ended = state.terminated if state else None
                        if ended:
                            self.seen.add((pod.metadata.name, ended.reason, ended.exit_code))
            self._stop.wait(0.5)
