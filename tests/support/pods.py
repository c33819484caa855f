"""Play the kubelet for model-server pods in a cluster without nodes.

The Deployment, ReplicaSet and EndpointSlice controllers of kube-controller-manager do their
real work: they create and delete pods, count readiness and pick endpoints from what we report
here. Per ModelVersion a behaviour says what its pods do:

  ready  report Running and Ready (no process)
  serve  start a real `mlops-operator serve` with the pod's own environment on a loopback
         address (the pod IP), report Ready once /v2/health/ready answers 200, and stop it
         with SIGTERM when the pod is deleted
  crash  report the container in CrashLoopBackOff
  hang   report Running but never Ready

`held` names (version, track) pairs whose new pods are left unreported (Pending, as if the
image were still pulling) until the pair is removed: a test holds a rollout at a step that way.

With `node` set, pods are bound to that Node first, as the scheduler would; the EndpointSlice
controller only lists pods on a known Node, and refuses loopback addresses, so such pods report
an address in 198.18.250.0/24 that exists only in the API: `listen_address()` maps it to the
loopback address the pod's server listens on, the part kube-proxy's DNAT plays in a cluster. Deleting such a pod is then graceful, as with a
real kubelet: the driver sends SIGTERM, waits for the server to drain and exit, and only
then removes the pod.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes

from .kubelet import now

_addresses = itertools.count(10)


def next_addresses(api_only: bool) -> tuple[str, str]:
    """(pod IP reported to the API, loopback address the server listens on)."""
    n = next(_addresses)
    listen = f"127.0.{n // 250}.{n % 250 + 2}"
    return (f"198.18.250.{n % 250 + 2}" if api_only else listen), listen


@dataclass
class _Pod:
    name: str
    version: str
    ip: str
    listen: str
    process: subprocess.Popen[bytes] | None = None
    reported: bool = False
    terminating: bool = False


@dataclass
class PodDriver:
    api: kubernetes.client.ApiClient
    namespace: str
    deployment: str
    behaviour: dict[str, str] = field(default_factory=dict)  # ModelVersion name -> behaviour
    logs: Path | None = None
    serve_env: dict[str, str] = field(default_factory=dict)
    node: str | None = None
    held: set[tuple[str, str]] = field(default_factory=set)  # (ModelVersion, track)
    _pods: dict[str, _Pod] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    def __enter__(self) -> PodDriver:
        self._thread = threading.Thread(target=self._run, name="pod-driver", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        for pod in self._pods.values():
            self._terminate(pod)
        for pod in self._pods.values():
            if pod.process:
                try:
                    pod.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pod.process.kill()
        if self.node:  # nothing plays the kubelet any more: remove bound pods at once
            core = kubernetes.client.CoreV1Api(self.api)
            for pod in core.list_namespaced_pod(
                self.namespace, label_selector=f"mlops.dev/modeldeployment={self.deployment}"
            ).items:
                core.delete_namespaced_pod(
                    pod.metadata.name, self.namespace, grace_period_seconds=0
                )

    def listen_address(self, pod_ip: str) -> str:
        return next((p.listen for p in list(self._pods.values()) if p.ip == pod_ip), pod_ip)

    def servers(self, version: str | None = None) -> list[str]:
        """Addresses of ready serving processes (of one version)."""
        return [
            p.listen
            for p in list(self._pods.values())
            if p.process and p.reported and p.process.poll() is None
            if version is None or p.version == version
        ]

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        core = kubernetes.client.CoreV1Api(self.api)
        while not self._stop.is_set():
            try:
                self._tick(core)
            except kubernetes.client.ApiException as error:
                if error.status != 404:  # a pod deleted since it was listed is no error
                    self.errors.append(repr(error))
            except Exception as error:  # keep playing the kubelet through API hiccups
                self.errors.append(repr(error))
            self._stop.wait(0.2)

    def _tick(self, core: kubernetes.client.CoreV1Api) -> None:
        pods = core.list_namespaced_pod(
            self.namespace, label_selector=f"mlops.dev/modeldeployment={self.deployment}"
        ).items
        seen = set()
        for pod in pods:
            uid = pod.metadata.uid
            seen.add(uid)
            state = self._pods.get(uid)
            if pod.metadata.deletion_timestamp:
                self._finish_deletion(core, pod, state)
                continue
            if state is None:
                if self.node and not pod.spec.node_name:
                    self._bind(core, pod)
                version = (pod.metadata.labels or {}).get("mlops.dev/model-version", "")
                state = self._pods[uid] = _Pod(
                    pod.metadata.name, version, *next_addresses(self.node is not None)
                )
                self._start(pod, state)
            if not state.reported and not self._held(pod):
                self._report(core, pod, state)
        for uid in list(self._pods):
            if uid not in seen:
                self._terminate(self._pods.pop(uid))

    def _held(self, pod: Any) -> bool:
        labels = pod.metadata.labels or {}
        key = (labels.get("mlops.dev/model-version", ""), labels.get("mlops.dev/track", ""))
        return key in set(self.held)

    def _behaviour(self, pod: Any) -> str:
        version = (pod.metadata.labels or {}).get("mlops.dev/model-version", "")
        return self.behaviour.get(version, "ready")

    def _start(self, pod: Any, state: _Pod) -> None:
        if self._behaviour(pod) != "serve":
            return
        container = pod.spec.containers[0]
        env = {**os.environ, **{e.name: e.value for e in container.env if e.value is not None}}
        env.update(self.serve_env)
        env["MLOPS_SERVE_HOST"] = state.listen
        command = [str(Path(sys.executable).parent / "mlops-operator"), *container.args]
        if self.logs is None:
            state.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            return
        with open(self.logs / f"{pod.metadata.name}.log", "wb") as log:
            state.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def _report(self, core: kubernetes.client.CoreV1Api, pod: Any, state: _Pod) -> None:
        behaviour = self._behaviour(pod)
        container: dict[str, Any] = {
            "name": pod.spec.containers[0].name,
            "image": pod.spec.containers[0].image,
            "imageID": "",
            "restartCount": 0,
            "ready": False,
            "started": True,
            "state": {"running": {"startedAt": now()}},
        }
        ready = "False"
        if behaviour == "serve":
            if not _healthy(state.listen):
                return
            ready = "True"
        elif behaviour == "ready":
            ready = "True"
        elif behaviour == "crash":
            container.update(
                restartCount=4,
                started=False,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s"}},
                lastState={"terminated": {"exitCode": 1, "reason": "Error"}},
            )
        container["ready"] = ready == "True"
        status = {
            "phase": "Running",
            "podIP": state.ip,
            "podIPs": [{"ip": state.ip}],
            "hostIP": "127.0.0.1",
            "startTime": now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": ready},
                {"type": "Ready", "status": ready, "lastTransitionTime": now()},
            ],
            "containerStatuses": [container],
        }
        core.patch_namespaced_pod_status(pod.metadata.name, self.namespace, {"status": status})
        state.reported = True

    def _bind(self, core: kubernetes.client.CoreV1Api, pod: Any) -> None:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.metadata.name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
        }
        # The client cannot read the Status the API answers with; check it by hand.
        answer = core.create_namespaced_pod_binding(
            pod.metadata.name, self.namespace, binding, _preload_content=False
        )
        if answer.status >= 300:
            raise RuntimeError(
                f"binding {pod.metadata.name}: {answer.status} {answer.data[:300]!r}"
            )

    def _finish_deletion(
        self, core: kubernetes.client.CoreV1Api, pod: Any, state: _Pod | None
    ) -> None:
        """A pod being deleted: stop its server, and remove the pod once the server exited."""
        if state is not None:
            self._terminate(state)
            if state.process and state.process.poll() is None:
                return
        core.delete_namespaced_pod(pod.metadata.name, self.namespace, grace_period_seconds=0)

    @staticmethod
    def _terminate(state: _Pod) -> None:
        """SIGTERM once, as the kubelet does; a second one would make uvicorn quit at once."""
        if state.process and state.process.poll() is None and not state.terminating:
            state.process.send_signal(signal.SIGTERM)
        state.terminating = True


def _healthy(ip: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}:8080/v2/health/ready", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
