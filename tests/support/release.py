"""The Helm chart on the local cluster, for the e2e tier: install, clean up, run kubectl/helm.

The e2e tier owns the local cluster while it runs: before installing, it removes every
mlops.dev object and every release of the chart (a `make demo` leaves one in `mlops`), since
two cluster-wide operators would reconcile the same objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .cluster import ROOT, wait_for

BIN = ROOT / "bin"
CHART = ROOT / "charts" / "mlops-operator"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"mlops-operator:{VERSION}"
KINDS = ",".join(
    f"{plural}.mlops.dev"
    for plural in (
        "driftmonitors",
        "modeldeployments",
        "trainingjobs",
        "datasets",
        "modelversions",
    )
)
RESTRICTED_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def run(
    command: Sequence[str | Path],
    kubeconfig: Path,
    timeout: float = 300,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(c) for c in command],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def kubectl(kubeconfig: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run([BIN / "kubectl", *args], kubeconfig, **kwargs)


def helm(kubeconfig: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run([BIN / "helm", *args], kubeconfig, **kwargs)


def build_image() -> None:
    """`make image` (a few seconds when nothing changed); MLOPS_IMAGE_BUILD=0 skips it."""
    if os.environ.get("MLOPS_IMAGE_BUILD", "1") == "0":
        return
    build = subprocess.run(
        ["bash", "hack/build-image.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]


def remove_everything(kubeconfig: Path, namespaces: Sequence[str] = ()) -> None:
    """Every mlops.dev object, every release of the chart, their namespaces and `namespaces`."""
    crds = kubectl(kubeconfig, "get", "crd", "datasets.mlops.dev", check=False)
    if crds.returncode == 0:
        running = kubectl(
            kubeconfig, "get", "pods", "-A", "-l", "app.kubernetes.io/name=mlops-operator",
            "--field-selector=status.phase=Running", "-o", "name",
        ).stdout.strip()  # fmt: skip
        if not running:  # nobody left to remove the operator's finalizers
            drop_finalizers(kubeconfig)
        deleted = kubectl(
            kubeconfig, "delete", KINDS, "--all", "-A", "--wait=true", "--timeout=120s",
            check=False, timeout=180,
        )  # fmt: skip
        if deleted.returncode != 0:
            drop_finalizers(kubeconfig)
    releases = json.loads(helm(kubeconfig, "list", "-A", "-o", "json").stdout or "[]")
    owned = [r for r in releases if str(r.get("chart", "")).startswith("mlops-operator-")]
    for release in owned:
        helm(kubeconfig, "uninstall", release["name"], "-n", release["namespace"], "--wait")
    to_delete = sorted({r["namespace"] for r in owned} | set(namespaces))
    for namespace in to_delete:
        kubectl(
            kubeconfig, "delete", "namespace", namespace, "--ignore-not-found",
            "--wait=true", "--timeout=240s", timeout=300,
        )  # fmt: skip


def drop_finalizers(kubeconfig: Path, namespace: str | None = None) -> None:
    where = ["-n", namespace] if namespace else ["-A"]
    left = json.loads(kubectl(kubeconfig, "get", KINDS, *where, "-o", "json").stdout)
    for item in left["items"]:
        meta = item["metadata"]
        if meta.get("finalizers"):
            kubectl(
                kubeconfig, "patch", "-n", meta["namespace"],
                f"{item['kind'].lower()}.mlops.dev/{meta['name']}", "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}', check=False,
            )  # fmt: skip


@dataclass(frozen=True)
class Release:
    """A released version rebuilt from its git tag: its chart as it was, its image on the node."""

    tag: str
    version: str
    chart: Path

    @property
    def image(self) -> str:
        return f"mlops-operator:{self.version}"


def build_release(tag: str = "previous") -> Release:
    """`hack/build-release.sh <tag>`: the chart from the tag's tree and, unless
    MLOPS_IMAGE_BUILD=0, its image built by that tree's own build script (imported into the
    local cluster's containerd). `previous`: the newest release tag before this version."""
    out = ROOT / ".tmp" / "releases"
    env = dict(os.environ)
    if os.environ.get("MLOPS_IMAGE_BUILD", "1") == "0":
        env["SKIP_IMAGE"] = "1"
    done = subprocess.run(
        ["bash", "hack/build-release.sh", tag, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tree = Path(done.stdout.strip().splitlines()[-1])
    tree = tree if tree.is_absolute() else ROOT / tree
    chart = tree / "charts" / "mlops-operator"
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert meta["version"] == meta["appVersion"], meta
    return Release(tag=tree.name, version=str(meta["version"]), chart=chart)


def remove_node_image(image: str) -> None:
    """Remove `image` from the local cluster's containerd (buildah's copy and the archive
    cache stay, so the next build only imports it again)."""
    run_dir = Path(os.environ.get("MLOPS_CLUSTER_RUN", "/run/mlops-cluster"))
    socket = run_dir / "containerd.sock"
    if not socket.exists():
        return
    subprocess.run(
        ["ctr", "--address", str(socket), "-n", "k8s.io", "images", "rm",
         f"docker.io/library/{image}", f"localhost/{image}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def install(
    kubeconfig: Path,
    release: str,
    namespace: str,
    values: dict[str, Any] | None = None,
    chart: Path = CHART,
    version: str = VERSION,
) -> None:
    """The chart into a namespace that enforces Pod Security `restricted` (created when
    absent; a module that may find an interrupted run's objects calls remove_leftovers first)."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": RESTRICTED_NAMESPACE_LABELS},
    }
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    # Helm installs crds/ only once per cluster; a changed CRD must be applied.
    apply_crds(kubeconfig, chart)
    upgrade(
        kubeconfig, release, namespace, values or {}, install=True, chart=chart, version=version
    )


def remove_leftovers(kubeconfig: Path, release: str, namespace: str) -> None:
    """What an interrupted earlier run left behind in `namespace` (its teardown never ran):
    its mlops.dev objects, the release and the namespace, so the run starts from a fresh
    namespace instead of finding its objects already there. Other namespaces are untouched."""
    found = kubectl(kubeconfig, "get", "namespace", namespace, "--ignore-not-found", "-o", "name")
    if not found.stdout.strip():
        return
    if kubectl(kubeconfig, "get", "crd", "datasets.mlops.dev", check=False).returncode == 0:
        # the leftover release's operator, still running, removes its finalizers as they go
        deleted = kubectl(
            kubeconfig, "delete", KINDS, "--all", "-n", namespace, "--wait=true",
            "--timeout=120s", check=False, timeout=180,
        )  # fmt: skip
        if deleted.returncode != 0:
            drop_finalizers(kubeconfig, namespace)
    helm(kubeconfig, "uninstall", release, "-n", namespace, "--wait", check=False)
    kubectl(kubeconfig, "delete", "namespace", namespace, "--ignore-not-found",
            "--wait=true", "--timeout=240s", timeout=300)  # fmt: skip


def apply_crds(kubeconfig: Path, chart: Path = CHART) -> None:
    """The chart's CRDs, server-side (Helm installs crds/ once and never upgrades them)."""
    kubectl(
        kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(chart / "crds"),
    )  # fmt: skip
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def upgrade(
    kubeconfig: Path,
    release: str,
    namespace: str,
    values: dict[str, Any],
    install: bool = False,
    chart: Path = CHART,
    version: str = VERSION,
) -> None:
    settings = {"image": {"repository": "mlops-operator", "tag": version}, **values}
    command = ["upgrade", release, str(chart), "-n", namespace, "-f", "-", "--wait"]
    if install:
        command.append("--install")
    helm(kubeconfig, *command, "--timeout", "5m", stdin=json.dumps(settings), timeout=360)


def operator_pods(core: Any, namespace: str, release: str) -> list[Any]:
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/name=mlops-operator"
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def wait_operator_ready(core: Any, namespace: str, release: str, timeout: float = 180) -> Any:
    def ready() -> Any:
        for pod in operator_pods(core, namespace, release):
            if pod.metadata.deletion_timestamp:
                continue
            statuses = pod.status.container_statuses or []
            if statuses and all(s.ready for s in statuses):
                return pod
        return None

    return wait_for(ready, timeout=timeout, interval=1, what=f"operator pod of {release} ready")
