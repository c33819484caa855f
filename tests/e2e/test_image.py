"""The project image, run without a container engine daemon (buildah run, chroot isolation).

The session fixture builds the image with `hack/build-image.sh` (idempotent: a few seconds
when nothing changed); set MLOPS_IMAGE_BUILD=0 to require an already built image instead.
Needs root and buildah (`make packages`); skipped otherwise, failed under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.local_cluster import unavailable

from mlops_operator import GROUP
from mlops_operator.api.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"mlops-operator:{VERSION}"
VENV = "/opt/mlops/venv"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def buildah_available() -> None:
    if shutil.which("buildah") is None or os.geteuid() != 0:
        unavailable("needs root and buildah (make packages)")


def buildah(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def image() -> str:
    if os.environ.get("MLOPS_IMAGE_BUILD", "1") != "0":
        build = subprocess.run(
            ["bash", "hack/build-image.sh"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    elif buildah("inspect", "--type", "image", IMAGE).returncode != 0:
        pytest.fail(f"{IMAGE} is not built (make image) and MLOPS_IMAGE_BUILD=0")
    return IMAGE


@pytest.fixture(scope="session")
def config(image: str) -> dict[str, Any]:
    inspected = buildah("inspect", "--type", "image", image)
    assert inspected.returncode == 0, inspected.stderr
    result: dict[str, Any] = json.loads(inspected.stdout)["OCIv1"]["config"]
    return result


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    name = f"mlops-image-test-{os.getpid()}"
    buildah("rm", name)
    created = buildah("from", "--pull=never", "--name", name, image)
    assert created.returncode == 0, created.stderr
    yield name
    buildah("rm", name)


def run(
    container: str, *command: str, user: str | None = None, volume: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in the image's rootfs as the image's USER (unless `user` is given)."""
    options = ["--isolation", "chroot"]
    if user is not None:
        options += ["--user", user]
    if volume is not None:
        options += ["-v", f"{volume}:/data"]
    return buildah("run", *options, container, "--", *command, timeout=300)


def test_config_runs_the_cli_as_a_numeric_non_root_user(config: dict[str, Any]) -> None:
    assert config["User"] == "10001:10001"  # numeric: the kubelet can check runAsNonRoot
    assert config["Entrypoint"] == ["mlops-operator"]
    assert config["Cmd"] == ["run"]
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9090/tcp"}
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert config["Labels"]["org.opencontainers.image.title"] == "mlops-operator"
    assert f"{VENV}/bin" in next(e for e in config["Env"] if e.startswith("PATH="))


def test_processes_run_as_uid_10001_and_cannot_change_the_venv(container: str) -> None:
    ids = run(container, "sh", "-c", "id -u; id -g; echo $HOME")
    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.split() == ["10001", "10001", "/home/mlops"]
    write = run(container, "sh", "-c", f"touch {VENV}/x || touch {VENV}/bin/x")
    assert write.returncode != 0
    home = run(container, "sh", "-c", "touch $HOME/x && rm $HOME/x")
    assert home.returncode == 0, home.stderr


def test_entrypoint_lists_the_sub_commands_and_prints_the_crds(container: str) -> None:
    usage = run(container, "mlops-operator", "--help")
    assert usage.returncode == 0, usage.stderr
    for command in ("run", "crds", "profile", "train", "serve", "compare", "predict"):
        assert command in usage.stdout
    for command in ("train", "profile", "serve", "compare", "predict"):
        sub = run(container, "mlops-operator", command, "--help")
        assert sub.returncode == 0 and "usage: mlops-operator" in sub.stdout, sub.stderr
    crds = run(container, "mlops-operator", "crds")
    assert crds.returncode == 0, crds.stderr
    names = {doc["metadata"]["name"] for doc in yaml.safe_load_all(crds.stdout) if doc}
    checked_in = {
        yaml.safe_load(p.read_text())["metadata"]["name"] for p in (ROOT / "crds").glob("*.yaml")
    }
    assert names == checked_in == {f"{k.plural}.{GROUP}" for k in KINDS}


def test_holds_no_build_tools_installers_or_caches(container: str) -> None:
    tools = "gcc cc c++ g++ clang make ld as cmake pip pip3 pip3.11 wheel"
    found = run(container, "sh", "-c", f"for t in {tools}; do command -v $t; done; true", user="0")
    assert found.stdout.strip() == "", f"build tools in the image: {found.stdout}"
    no_pip = run(container, "python", "-c", "import pip")
    assert no_pip.returncode != 0 and "No module named 'pip'" in no_pip.stderr
    leftovers = run(
        container,
        "sh",
        "-c",
        "find /var/lib/apt/lists /var/cache/apt /root/.cache /home/mlops/.cache /src /tmp -mindepth 1 2>/dev/null;"
        f" find {VENV} -name '*.whl' -o -name '*.h' -o -type d -name tests | head",
        user="0",
    )
    assert leftovers.stdout.strip() == "", leftovers.stdout


def test_runtime_packages_import(container: str) -> None:
    modules = "onnxruntime sklearn skl2onnx skops onnx pyarrow pandas scipy numpy kopf pydantic uvicorn uvloop httptools starlette prometheus_client fsspec yaml mlops_operator.cli mlops_operator.serving.app"
    code = f"import importlib; [importlib.import_module(m) for m in {modules.split()!r}]"
    result = run(container, "python", "-c", code)
    assert result.returncode == 0, result.stderr


def test_installed_version_matches_pyproject(container: str) -> None:
    code = "import importlib.metadata as m; print(m.version('mlops-operator'))"
    result = run(container, "python", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == VERSION


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_profile_train_and_serve_a_real_model(container: str, tmp_path: Path) -> None:
    """The three pod sub-commands end to end inside the image, as uid 10001."""
    tmp_path.chmod(0o777)
    store = "file:///data/store"
    profile = run(
        container,
        "mlops-operator", "profile", "--namespace", "ml", "--name", "iris",
        "--spec", json.dumps({"source": {"uri": "sklearn://iris"}}),
        "--store", store, "--termination-log", "/data/profile.json",
        volume=tmp_path,
    )  # fmt: skip
    assert profile.returncode == 0, profile.stderr
    dataset = json.loads((tmp_path / "profile.json").read_text())
    assert dataset["passed"] and dataset["rows"] == 150

    spec = {
        "datasetRef": {"name": "iris"},
        "model": "iris",
        "target": "target",
        "estimator": "LogisticRegression",
    }
    train = run(
        container,
        "mlops-operator", "train", "--namespace", "ml", "--name", "tj-iris", "--uid", "u1",
        "--spec", json.dumps(spec), "--dataset-name", "iris",
        "--dataset-version", dataset["version"], "--snapshot-uri", dataset["snapshotUri"],
        "--profile-uri", dataset["profileUri"], "--store", store,
        "--termination-log", "/data/train.json",
        volume=tmp_path,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    trained = json.loads((tmp_path / "train.json").read_text())
    assert trained["ok"] and trained["metrics"]["accuracy"] > 0.9
    result = json.loads((tmp_path / trained["resultUri"].removeprefix("file:///data/")).read_text())
    assert result["artifact"]["format"] == "onnx"

    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            "buildah", "run", "--isolation", "chroot", "--network", "host",
            "-v", f"{tmp_path}:/data", container, "--",
            "mlops-operator", "serve", "--model-name", "iris", "--model-version", "1",
            "--artifact-uri", result["artifact"]["uri"], "--format", "onnx",
            "--sha256", result["artifact"]["sha256"], "--signature", json.dumps(result["signature"]),
            "--host", "127.0.0.1", "--port", str(port), "--sample-rate", "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v2/health/ready", timeout=2
                ) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        names = [t["name"] for t in result["signature"]["inputs"]]
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        inputs = [
            {"name": n, "datatype": "FP32", "shape": [2], "data": [row[i] for row in rows]}
            for i, n in enumerate(names)
        ]
        answer = _post(f"http://127.0.0.1:{port}/v2/models/iris/infer", {"inputs": inputs})
        labels = next(o for o in answer["outputs"] if o["name"] == "label")["data"]
        assert labels == ["setosa", "virginica"]
        assert _server_uids(port) == {10001}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _server_uids(port: int) -> set[int]:
    """Real uids of the model server processes (not buildah itself) listening on `port`."""
    uids = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if b"serve" in argv and str(port).encode() in argv and b"buildah" not in argv[0]:
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            uids.add(int(uid_line.split()[1]))
    return uids
