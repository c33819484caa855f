"""A real control plane on loopback: etcd + kube-apiserver + kube-controller-manager.

Started once per test session by tests/integration/conftest.py; also runnable by hand:
`python -m tests.support.control_plane up` prints a kubeconfig path and waits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .pki import Authority, KeyPair, service_account_keys

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MLOPS_BIN", ROOT / "bin"))
SERVICE_CIDR = "198.19.0.0/16"
SERVICE_IP = "198.19.0.1"
API_HOSTS = (
    "127.0.0.1",
    "localhost",
    SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make tools` first")
    return str(path)


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "mlops-test", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(client.cert), "client-key": str(client.key)},
            }
        ],
        "contexts": [{"name": "mlops-test", "context": {"cluster": "mlops-test", "user": user}}],
        "current-context": "mlops-test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class ControlPlane:
    workdir: Path
    with_controller_manager: bool = True
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_port: int = 0
    argv: dict[str, list[str]] = field(default_factory=dict)
    _ready_check: tuple[Path, KeyPair] | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def start(self, timeout: float = 120) -> ControlPlane:
        self.workdir = self.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        pki = self.workdir / "pki"
        ca = Authority(pki)
        serving = ca.issue("apiserver", "kube-apiserver", hosts=API_HOSTS, server=True)
        admin = ca.issue("admin", "mlops-test-admin", organization="system:masters")
        kcm = ca.issue("controller-manager", "system:kube-controller-manager")
        sa = service_account_keys(pki)

        etcd_port, peer_port = free_port(), free_port()
        self.api_port = free_port()
        self._spawn(
            "etcd",
            [
                binary("etcd"),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes",
                str(4 * 1024**3),
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                binary("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.pair.cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                f"--cert-dir={pki}",
                "--enable-priority-and-fairness=false",
                "--event-ttl=1h",
            ],
        )
        write_kubeconfig(self.kubeconfig, self.server, ca.pair.cert, admin, "admin")
        self._ready_check = (ca.pair.cert, admin)
        self._wait_ready(ca.pair.cert, admin, timeout)
        if self.with_controller_manager:
            kcm_config = write_kubeconfig(
                self.workdir / "controller-manager.kubeconfig",
                self.server,
                ca.pair.cert,
                kcm,
                "system:kube-controller-manager",
            )
            self._spawn(
                "kube-controller-manager",
                [
                    binary("kube-controller-manager"),
                    f"--kubeconfig={kcm_config}",
                    f"--authentication-kubeconfig={kcm_config}",
                    f"--authorization-kubeconfig={kcm_config}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    f"--service-account-private-key-file={sa.key}",
                    f"--root-ca-file={ca.pair.cert}",
                    f"--cluster-signing-cert-file={ca.pair.cert}",
                    f"--cluster-signing-key-file={ca.pair.key}",
                    "--use-service-account-credentials=true",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--leader-elect=false",
                    "--controllers=*",
                ],
            )
        return self

    def restart_apiserver(self, down_seconds: float = 0.0, timeout: float = 120) -> None:
        """Stop kube-apiserver (SIGTERM, as a rolling control-plane upgrade does), keep it down
        for `down_seconds`, start it again on the same port and wait until it is ready. Clients
        see their connections and watches break, then requests refused, then the server back."""
        assert self._ready_check is not None, "not started"
        process = self.processes["kube-apiserver"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        time.sleep(down_seconds)
        self._spawn("kube-apiserver", self.argv["kube-apiserver"])
        self._wait_ready(*self._ready_check, timeout)

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.argv[name] = argv
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_ready(self, ca: Path, client: KeyPair, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(str(client.cert), str(client.key))
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited early; see {self.logs / (name + '.log')}")
            try:
                with urllib.request.urlopen(
                    f"{self.server}/readyz", context=context, timeout=5
                ) as r:
                    if r.status == 200:
                        return
            except OSError as error:
                last = str(error)
            time.sleep(0.5)
        raise TimeoutError(f"kube-apiserver not ready after {timeout}s: {last}")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.processes.clear()

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] != ["up"]:
        print("usage: python -m tests.support.control_plane up [WORKDIR]", file=sys.stderr)
        return 2
    workdir = Path(argv[1] if len(argv) > 1 else ROOT / ".tmp" / "control-plane")
    shutil.rmtree(workdir, ignore_errors=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    plane = ControlPlane(workdir).start()
    print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
