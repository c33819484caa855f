"""Play the kubelet for every pod of one namespace, from a background thread.

Job pods (label `job-name`) run their container's command in-process on the same artifact
store, then are reported terminated as a kubelet would (kubelet.finish_pod's shape); the Job
controller turns that into the Job's status. Model-server pods (label
`mlops.dev/modeldeployment`) are reported Running and Ready without a process, as PodDriver's
`ready` behaviour does. Each pod is handled once; `progress` counts the pods handled, so a
test can act (kill the operator, restart the API server) at a point of the run.

Unlike PodDriver (one deployment, real servers) this drives hundreds of objects at once.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from pathlib import Path
from typing import Any

import kubernetes

from .kubelet import now


class NamespaceKubelet:
    def __init__(self, api: kubernetes.client.ApiClient, namespace: str, workdir: Path) -> None:
        self.api, self.namespace, self.workdir = api, namespace, workdir
        self.core = kubernetes.client.CoreV1Api(api)
        self.handled: set[str] = set()  # pod uids
        self.jobs_run = 0
        self.servers_ready = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="namespace-kubelet", daemon=True)

    @property
    def progress(self) -> int:
        with self._lock:
            return self.jobs_run + self.servers_ready

    def __enter__(self) -> NamespaceKubelet:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # keep playing the kubelet through API hiccups and restarts
                self.errors.append(traceback.format_exc(limit=3))
            self._stop.wait(0.3)

    def _tick(self) -> None:
        pods = self.core.list_namespaced_pod(self.namespace).items
        for pod in pods:
            if self._stop.is_set():
                return
            uid = pod.metadata.uid
            if uid in self.handled or pod.metadata.deletion_timestamp:
                continue
            if pod.status.phase not in (None, "Pending"):
                self.handled.add(uid)
                continue
            labels = pod.metadata.labels or {}
            if "job-name" in labels:
                self._run_job_pod(pod)
                with self._lock:
                    self.jobs_run += 1
            elif "mlops.dev/modeldeployment" in labels:
                self._report_ready(pod)
                with self._lock:
                    self.servers_ready += 1
            self.handled.add(uid)

    def _run_job_pod(self, pod: Any) -> None:
        from mlops_operator.cli import main as cli

        container = pod.spec.containers[0]
        log = self.workdir / f"{pod.metadata.name}.log"
        # The command's own output (one JSON line per run) goes to the pod's log file.
        with (self.workdir / f"{pod.metadata.name}.out").open("w") as out:
            try:
                with contextlib.redirect_stdout(out):
                    code = cli([*container.args, "--termination-log", str(log)])
            except SystemExit as exit_:  # argparse and friends
                code = int(exit_.code or 0)
        message = log.read_text() if log.exists() else ""
        started = now()
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "startTime": started,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
            "containerStatuses": [
                {
                    "name": container.name,
                    "image": container.image,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": code,
                            "reason": "Completed" if code == 0 else "Error",
                            "message": message[-4000:],
                            "startedAt": started,
                            "finishedAt": now(),
                        }
                    },
                }
            ],
        }
        self._patch_status(pod, status)

    def _report_ready(self, pod: Any) -> None:
        container = pod.spec.containers[0]
        status = {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "hostIP": "127.0.0.1",
            "startTime": now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
                {"type": "Ready", "status": "True", "lastTransitionTime": now()},
            ],
            "containerStatuses": [
                {
                    "name": container.name,
                    "image": container.image,
                    "imageID": "",
                    "restartCount": 0,
                    "ready": True,
                    "started": True,
                    "state": {"running": {"startedAt": now()}},
                }
            ],
        }
        self._patch_status(pod, status)

    def _patch_status(self, pod: Any, status: dict[str, Any]) -> None:
        try:
            self.core.patch_namespaced_pod_status(
                pod.metadata.name, self.namespace, {"status": status}
            )
        except kubernetes.client.ApiException as error:
            if error.status != 404:  # a pod deleted meanwhile (its Job was) is no error
                raise
