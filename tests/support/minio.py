"""A real MinIO server for the tests: the binary `make tools` builds (bin/minio), listening on
loopback (or on a given address, so pods on the local cluster's bridge can reach it), its data
under a temporary directory, credentials generated per server, one bucket created.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.control_plane import ROOT

BINARY = ROOT / "bin" / "minio"


@dataclass(frozen=True)
class MinioServer:
    endpoint: str  # http://host:port
    access_key: str
    secret_key: str
    bucket: str
    data_dir: Path

    def storage_options(self) -> dict[str, Any]:
        """s3fs options reaching this server."""
        return {"key": self.access_key, "secret": self.secret_key, "endpoint_url": self.endpoint}

    def env(self) -> dict[str, str]:
        """The variables the operator and its pods read (the chart sets them from a Secret)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "MLOPS_S3_ENDPOINT": self.endpoint,
        }

    def secret_data(self) -> dict[str, str]:
        """The keys of the chart's store.s3.existingSecret."""
        return {
            "accessKeyId": self.access_key,
            "secretAccessKey": self.secret_key,
            "endpoint": self.endpoint,
        }


def available() -> bool:
    return os.access(BINARY, os.X_OK)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/minio/health/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def minio_server(
    workdir: Path, host: str = "127.0.0.1", bucket: str = "mlops", timeout: float = 120
) -> Iterator[MinioServer]:
    """Start MinIO on `host` at a free port, create `bucket`, yield it; stop it and remove its
    data afterwards. `host` may be the node's bridge address for pods to reach it."""
    if not available():
        raise RuntimeError(f"{BINARY} is missing: run `make tools`")
    data_dir = workdir / f"minio-{secrets.token_hex(4)}"
    data_dir.mkdir(parents=True)
    port = free_port(host)
    endpoint = f"http://{host}:{port}"
    access_key = f"mlops{secrets.token_hex(6)}"
    secret_key = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
        "MINIO_CI_CD": "1",
    }
    log_path = workdir / f"{data_dir.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BINARY), "server", "--quiet", "--address", f"{host}:{port}", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MinIO did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        server = MinioServer(endpoint, access_key, secret_key, bucket, data_dir)
        import s3fs

        fs = s3fs.S3FileSystem(**server.storage_options(), skip_instance_cache=True)
        fs.mkdir(bucket)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
