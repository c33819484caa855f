"""The operator as its own process (`mlops-operator run`), so a test can SIGKILL it.

In-process runners stop politely; a crash does not. A killed process leaves whatever it was
doing half done (a status not yet patched, an Event not posted), which is what a restart
has to survive.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .cluster import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """`mlops-operator run --namespace <ns>` against a kubeconfig; start, kill -9, start again."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        logs: Path,
        env: Mapping[str, str] | None = None,
        name: str = "operator",
    ) -> None:
        self.kubeconfig, self.namespace, self.logs = kubeconfig, namespace, logs
        self.env = dict(env or {})  # on top of the defaults (e.g. a metrics port, leader election)
        self.name = name  # log files are <name>-<start>.log: two processes can share `logs`
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.health_port = 0

    def start(self, timeout: float = 120) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        port = self.health_port = _free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MLOPS_METRICS_PORT": "0",
            **self.env,
        }
        command = [
            str(Path(sys.executable).parent / "mlops-operator"),
            "run",
            "--namespace",
            self.namespace,
            "--health-port",
            str(port),
        ]
        self.starts += 1
        with open(self.logs / f"{self.name}-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(
            lambda: self._live(port),
            timeout=timeout,
            interval=0.2,
            what=f"operator process {self.starts} live on :{port}",
        )

    def _live(self, port: int) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited: {self.log()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status patch."""
        assert self.process is not None and self.process.poll() is None, "not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.logs.glob(f"{self.name}-*.log"))
        )

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
