"""A real Prometheus (Debian's `prometheus` binary) on loopback, scraping given targets."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .control_plane import free_port

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"


class Prometheus:
    """Started with `start()`, stopped with `stop()`; scrapes every `interval` seconds."""

    def __init__(self, workdir: Path, targets: list[str], interval: str = "1s") -> None:
        self.workdir = workdir
        self.targets = targets
        self.interval = interval
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        if not Path(BINARY).exists():
            raise RuntimeError(f"{BINARY} not found: run hack/install-packages.sh")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "scrape_configs": [
                {
                    "job_name": "mlops-operator",
                    "scrape_interval": self.interval,
                    "scrape_timeout": self.interval,
                    # targets from a file: `set_targets` changes them while it runs
                    "file_sd_configs": [
                        {"files": [str(self.targets_file)], "refresh_interval": self.interval}
                    ],
                }
            ],
        }
        self.set_targets(self.targets)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        self.port = free_port()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    BINARY,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prometheus not ready after {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    @property
    def targets_file(self) -> Path:
        return self.workdir / "targets.json"

    def set_targets(self, targets: list[str]) -> None:
        """Scrape `targets` (host:port) from now on; Prometheus re-reads the file by itself."""
        self.targets = list(targets)
        staged = self.targets_file.with_suffix(".tmp")
        staged.write_text(json.dumps([{"targets": self.targets}]))
        staged.replace(self.targets_file)  # atomic: never a half-written file

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query: the `result` list of a vector answer."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        if answer.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {answer}")
        return list(answer["data"]["result"])

    def targets_up(self) -> bool:
        return any(float(r["value"][1]) == 1 for r in self.query('up{job="mlops-operator"}'))
