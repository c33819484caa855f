"""The operator at scale on the real control plane (etcd, kube-apiserver, controller-manager).

One run, N objects (BENCH_SCALE_N, default 1000), the operator as its own process
(`mlops-operator run --namespace scale`, default settings, installed with its runtime
dependencies only, as in the image) so its memory and CPU can be read:

- N Datasets created at once: seconds until all N profile Jobs exist, and until all N
  Datasets have a status (the operator writes `jobName` and a Ready=False condition as it
  creates the Job). No kubelet runs, so the Jobs never finish: that is expected.
- One ModelVersion with a real ONNX artifact in the store (verified Ready by the operator),
  then N ModelDeployments pointing at it: seconds until all N Deployments and Services exist,
  and until all N have `status.phase`.
- Idle, once the controller-manager has caught up (the API server takes fewer than
  QUIET_WRITES writes/s): the API server's own `apiserver_request_total`, read
  BENCH_IDLE_SECONDS (60) apart, with the operator running and then paused (SIGSTOP); the
  difference is the operator's share, what it sends and what it makes others send (the
  metric has no client label).
- N ModelDeployments deleted: seconds until their Deployments and Services are gone (the
  operator deletes a deleted owner's children itself; the garbage collector would too, and
  the operator must not hold a finalizer).
- The floor: the same client and thread pool creating N Jobs, and N Deployments + N Services,
  directly in namespace `floor`, then deleting them, timed the same way. Floor and ours
  alternate, so both meet a controller-manager about as busy.

Times run from the first request to the moment a list shows everything (polled every 0.5 s).
The ratio is ours / floor: the floor is what the API server needs to store the same children
for one client, so a ratio near 1 means the operator adds little. Deleting: the floor's client
deletes its children itself; ours are removed by the operator or by the controller-manager's
garbage collector, whose client is limited to 20 requests/s by default (--kube-api-qps): that
alone makes 1000 ModelDeployments' children take minutes. Every create and delete goes
through one pool of CLIENT_THREADS threads sending raw JSON (no model objects). RSS is the
operator's main process (VmRSS sampled every 0.5 s, and VmHWM); CPU is its utime + stime.
Nothing fails on timing; the bench exits 1 only when something never happens within
BENCH_TIMEOUT (600 s), and says what was missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
N = int(os.environ.get("BENCH_SCALE_N", "1000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "600"))
CLIENT_THREADS = 16
POLL_SECONDS = 0.5
OURS, FLOOR = "scale", "floor"
MODEL_VERSION = "iris-v1"
FLOOR_LABEL = "bench.mlops.dev/floor"
JSON = "application/json"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io," + JSON
CRD_PATH = "/apis/mlops.dev/v1alpha1/namespaces/{ns}/{plural}"
PATHS = {
    "Dataset": CRD_PATH.replace("{plural}", "datasets"),
    "ModelVersion": CRD_PATH.replace("{plural}", "modelversions"),
    "ModelDeployment": CRD_PATH.replace("{plural}", "modeldeployments"),
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Service": "/api/v1/namespaces/{ns}/services",
}
RETRY_STATUSES = {429, 500, 502, 503, 504}
ACCEPTED = {("POST", 409), ("DELETE", 404)}
WRITES = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
QUIET_WRITES = 2.0


class Missing(Exception):
    """Something never happened within the timeout (or a request failed for good)."""


class Api:
    """Raw JSON over the kubernetes client's connection pool: no model (de)serialisation."""

    def __init__(self, kubeconfig: Path) -> None:
        import kubernetes
        from tests.support.cluster import configuration

        config = configuration(kubeconfig)
        config.connection_pool_maxsize = CLIENT_THREADS + 4
        self.client = kubernetes.client.ApiClient(config)
        self.host = config.host

    def call(self, method: str, path: str, body: Any = None, accept: str = JSON) -> bytes:
        headers = {"Accept": accept, "Content-Type": JSON, "User-Agent": "scale-bench"}
        for attempt in range(6):
            response = self.client.call_api(
                method, self.host + path, header_params=headers, body=body, _request_timeout=60
            )
            data: bytes = response.read()
            if response.status not in RETRY_STATUSES or attempt == 5:
                break
            time.sleep(0.2 * 2**attempt)
        # 409 on create / 404 on delete: a retried request already took effect
        if response.status < 300 or (method, response.status) in ACCEPTED:
            return data
        raise Missing(f"{method} {path}: HTTP {response.status} {data[:300]!r}")

    def send(self, method: str, path: str, body: Any = None) -> float:
        self.call(method, path, body)
        return time.perf_counter()

    def items(self, kind: str, ns: str, selector: str = "", full: bool = False) -> list[Any]:
        query = f"?labelSelector={selector}" if selector else ""
        data = self.call(
            "GET", PATHS[kind].format(ns=ns) + query, accept=JSON if full else METADATA_ONLY
        )
        return list(json.loads(data).get("items") or [])


RUNTIME = Path.home() / ".cache" / "mlops-operator" / "runtime-venv"


def runtime_operator() -> Path:
    """`mlops-operator` as the image ships it: the runtime dependencies only, without the
    test tiers' Kubernetes client (Kopf loads it whenever it is installed, ~15 MB of RSS).
    Made once per pyproject.toml, beside the project (editable: the working tree's code)."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = RUNTIME / ".pyproject-sha256"
    if not stamp.exists() or stamp.read_text() != digest:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(RUNTIME)], check=True)
        pip = [str(RUNTIME / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "-e", str(ROOT)], check=True)
        stamp.write_text(digest)
    return RUNTIME / "bin" / "mlops-operator"


class Operator:
    """`mlops-operator run` as a child process, its RSS sampled in a thread."""

    def __init__(self, kubeconfig: Path, store_uri: str, workdir: Path) -> None:
        from tests.support.control_plane import free_port

        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
        env.update(KUBECONFIG=str(kubeconfig), MLOPS_STORE=store_uri)
        self.health_port = free_port()
        self.log = workdir / "operator.log"
        self.process = subprocess.Popen(
            [str(runtime_operator()), "run",
             "--namespace", OURS, "--metrics-port", str(free_port()),
             "--health-port", str(self.health_port)],
            env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.peak_kb = 0
        self._sampling = threading.Thread(target=self._sample, daemon=True)
        self._sampling.start()

    def _status_kb(self, field: str) -> int:
        try:
            text = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
        return int(found.group(1)) if found else 0

    def _sample(self) -> None:
        while self.process.poll() is None:
            self.peak_kb = max(self.peak_kb, self._status_kb("VmRSS"), self._status_kb("VmHWM"))
            time.sleep(0.5)

    def rss_mb(self) -> float:
        return self._status_kb("VmRSS") / 1024

    def peak_mb(self) -> float:
        return max(self.peak_kb, self._status_kb("VmHWM")) / 1024

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rfind(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise Missing(f"the operator exited with code {self.process.returncode}")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{self.health_port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.5)
        raise Missing("the operator's /healthz never answered 200 within 120 s")

    def signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()

    def log_summary(self, shown: int = 6) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        bad = [line for line in lines if " WARNING " in line or " ERROR " in line]
        shapes = Counter(re.sub(r"\d+", "#", " ".join(line.split()[2:]))[:150] for line in bad)
        tracebacks = sum("Traceback" in line for line in lines)
        head = (
            f"operator log: {len(lines)} lines, {len(bad)} warnings/errors, {tracebacks} tracebacks"
        )
        return [head] + [f"  {count:>5} x {shape}" for shape, count in shapes.most_common(shown)]

    def tail(self, count: int = 25) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-count:])


class Run:
    """The client's thread pool, the operator, and what each phase measured."""

    def __init__(self, api: Api, operator: Operator) -> None:
        self.api, self.operator = api, operator
        self.pool = ThreadPoolExecutor(CLIENT_THREADS)
        self.seconds: dict[str, dict[str, float]] = {}
        self.cpu: dict[str, float] = {"startup": operator.cpu_seconds()}
        self.notes: dict[str, Any] = {}

    def phase(
        self, name: str, method: str, calls: list[tuple[str, Any]], **checks: Callable[[], int]
    ) -> dict[str, float]:
        """Send `calls` through the pool at once; seconds until each check counts 0 left."""
        print(f"N={N}: {name}", flush=True)
        started = time.perf_counter()
        sent = [self.pool.submit(self.api.send, method, path, body) for path, body in calls]
        reached: dict[str, float] = {}
        outstanding: dict[str, int] = {}
        while True:
            failed = [r.exception() for r in sent if r.done() and r.exception() is not None]
            if failed:
                raise Missing(f"{name}: {len(failed)} requests failed, first: {failed[0]}")
            self.operator.check_alive()
            for what, check in checks.items():
                if what not in reached:
                    outstanding[what] = check()
                    if outstanding[what] == 0:
                        reached[what] = time.perf_counter() - started
            if len(reached) == len(checks):
                break
            if time.perf_counter() - started > TIMEOUT:
                waiting = [f"{w} {n} left" for w, n in outstanding.items() if w not in reached]
                raise Missing(f"{name}, after {TIMEOUT:.0f} s: {', '.join(waiting)}")
            time.sleep(POLL_SECONDS)
        if sent:
            reached["client"] = max(r.result() for r in sent) - started
        self.seconds[name] = reached
        self.cpu[name] = self.operator.cpu_seconds()
        return reached


def left(api: Api, kind: str, ns: str, names: set[str], label: str = "", status: str = "") -> int:
    """How many of `names` are not there yet: by name, or by the value of their label `label`;
    with `status`, only objects whose status has that field count as there."""
    items = api.items(kind, ns, selector=label, full=bool(status))
    found = {
        i["metadata"]["labels"][label] if label else i["metadata"]["name"]
        for i in items
        if not status or (i.get("status") or {}).get(status)
    }
    return len(names - found)


def not_ready(api: Api) -> int:
    """1 until the ModelVersion is Ready; Missing at once when the operator found it Invalid."""
    found = [v for v in api.items("ModelVersion", OURS, full=True) if v["metadata"]["name"]]
    status = (found[0].get("status") if found else None) or {}
    if status.get("phase") == "Invalid":
        raise Missing(f"ModelVersion {MODEL_VERSION} is Invalid: {status.get('conditions')}")
    return int(status.get("phase") != "Ready")


def manifest(kind: str, name: str, spec: Any, labels: Any = None) -> dict[str, Any]:
    api_version = {"Job": "batch/v1", "Deployment": "apps/v1", "Service": "v1"}
    metadata = {"name": name, "labels": labels or {}}
    kind_version = api_version.get(kind, "mlops.dev/v1alpha1")
    return {"apiVersion": kind_version, "kind": kind, "metadata": metadata, "spec": spec}


def floor_children(name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A minimal Job, Deployment and Service: the children's shape without the operator."""
    labels = {FLOOR_LABEL: name}
    container = {"name": "main", "image": "mlops-operator:0.2.0", "args": ["profile"]}
    pod = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
    job_pod = {**pod, "spec": {**pod["spec"], "restartPolicy": "Never"}}
    job = {"backoffLimit": 0, "template": job_pod}
    deployment = {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod}
    service = {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}
    return (
        manifest("Job", name, job, labels),
        manifest("Deployment", name, deployment, labels),
        manifest("Service", name, service, labels),
    )


def model_version(store_uri: str) -> dict[str, Any]:
    """A real ONNX LogisticRegression on iris, written to the store the operator reads."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_operator.artifacts import Store, paths, sha256_hex
    from mlops_operator.training.export import signature, to_onnx

    iris = load_iris(as_frame=True)
    x, y = iris.data, iris.target.astype(str)
    features = list(x.columns)
    columns = ColumnTransformer([("numeric", StandardScaler(), features)])
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))])
    data = to_onnx(pipeline.fit(x, y), features, features, "classification")
    sha = sha256_hex(data)
    uri, _ = Store(store_uri).write_bytes(paths.model_file(OURS, "iris", sha, "onnx"), data)
    return manifest("ModelVersion", MODEL_VERSION, {
        "model": "iris", "version": 1, "task": "classification",
        "artifact": {"uri": uri, "format": "onnx", "sha256": sha},
        "signature": signature(features, features, "classification", sorted(set(y))).wire(),
        "metrics": {"accuracy": 0.95},
    })  # fmt: skip


def idle_rate(api: Api, seconds: float) -> tuple[float, Counter[str]]:
    """API requests per second over a window, in total and by verb and resource."""

    def counts() -> Counter[str]:
        text = api.call("GET", "/metrics", accept="text/plain").decode()
        total: Counter[str] = Counter()
        for labels, value in re.findall(r"^apiserver_request_total\{(.*)\} (\S+)$", text, re.M):
            fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            total[f"{fields.get('verb')} {fields.get('resource') or '(non-resource URL)'}"] += (
                float(value)
            )
        return total

    before, started = counts(), time.perf_counter()
    time.sleep(seconds)
    after, elapsed = counts(), time.perf_counter() - started
    after.subtract(before)
    return sum(after.values()) / elapsed, after


def measure(run: Run, version: dict[str, Any]) -> None:
    """Every phase in order, floor and ours alternating; results land in `run`."""
    api, operator, names = run.api, run.operator, [f"x-{i:05d}" for i in range(N)]
    every = set(names)
    ours = {kind: path.format(ns=OURS) for kind, path in PATHS.items()}
    floor = {kind: path.format(ns=FLOOR) for kind, path in PATHS.items()}
    children = {name: floor_children(name) for name in names}
    run.phase(
        "floor: Jobs", "POST", [(floor["Job"], children[n][0]) for n in names],
        jobs=lambda: left(api, "Job", FLOOR, every),
    )  # fmt: skip
    source = {"source": {"uri": "sklearn://iris"}}
    run.phase(
        "Datasets", "POST", [(ours["Dataset"], manifest("Dataset", n, source)) for n in names],
        jobs=lambda: left(api, "Job", OURS, every, "mlops.dev/dataset"),
        status=lambda: left(api, "Dataset", OURS, every, status="jobName"),
    )  # fmt: skip
    run.phase(
        "floor: Deployments + Services", "POST",
        [(floor[c["kind"]], c) for n in names for c in children[n][1:]],
        deployments=lambda: left(api, "Deployment", FLOOR, every),
        services=lambda: left(api, "Service", FLOOR, every),
    )  # fmt: skip
    run.phase(
        "ModelVersion", "POST", [(ours["ModelVersion"], version)], ready=lambda: not_ready(api)
    )
    ref = {"modelVersionRef": {"name": MODEL_VERSION}, "replicas": 1}
    run.phase(
        "ModelDeployments", "POST",
        [(ours["ModelDeployment"], manifest("ModelDeployment", n, ref)) for n in names],
        deployments=lambda: left(api, "Deployment", OURS, every),
        services=lambda: left(api, "Service", OURS, every),
        status=lambda: left(api, "ModelDeployment", OURS, every, status="phase"),
    )  # fmt: skip

    print(f"N={N}: waiting for fewer than {QUIET_WRITES} writes/s (the controller-manager)")
    started = time.perf_counter()
    while True:  # idle means the controller-manager's backlog is written too
        writes = sum(n for what, n in idle_rate(api, 5)[1].items() if what.split()[0] in WRITES)
        if writes / 5 < QUIET_WRITES or time.perf_counter() - started > TIMEOUT:
            break
    run.notes.update(quiet_after=time.perf_counter() - started, writes=writes / 5)
    run.cpu["settle"] = operator.cpu_seconds()
    print(f"N={N}: idle, operator running then paused, {IDLE_SECONDS:.0f} s each", flush=True)
    cpu = operator.cpu_seconds()
    running, by_request = idle_rate(api, IDLE_SECONDS)
    run.notes["idle cpu"] = operator.cpu_seconds() - cpu
    operator.signal(signal.SIGSTOP)
    try:
        time.sleep(2)
        paused, by_request_paused = idle_rate(api, IDLE_SECONDS)
    finally:
        operator.signal(signal.SIGCONT)
    time.sleep(2)
    by_request.subtract(by_request_paused)
    run.notes.update(running=running, paused=paused, by_request=by_request)
    run.cpu["idle"] = operator.cpu_seconds()

    run.phase(
        "delete ModelDeployments", "DELETE",
        [(f"{ours['ModelDeployment']}/{n}", None) for n in names],
        model_deployments=lambda: N - left(api, "ModelDeployment", OURS, every),
        deployments=lambda: N - left(api, "Deployment", OURS, every),
        services=lambda: N - left(api, "Service", OURS, every),
    )  # fmt: skip
    run.phase(
        "floor: delete Deployments + Services", "DELETE",
        [(f"{floor[kind]}/{n}", None) for n in names for kind in ("Deployment", "Service")],
        deployments=lambda: N - left(api, "Deployment", FLOOR, every),
        services=lambda: N - left(api, "Service", FLOOR, every),
    )  # fmt: skip
    run.notes.update(rss_end=operator.rss_mb(), peak=operator.peak_mb())


def report(run: Run, log_summary: list[str]) -> None:
    seconds, notes = run.seconds, run.notes

    def all_of(phase: str, *checks: str) -> float:
        return max(v for k, v in seconds[phase].items() if k != "client" and k in (checks or k))

    print(f"\nThe operator at scale, N={N} (real control plane, no kubelet)")
    print("seconds from the first request until a list shows all; ratio = ours / floor")
    print(f"{'work':<48} {'ours':>7} {'floor':>7} {'ratio':>7}  target (N=1000)")
    floor_jobs = all_of("floor: Jobs")
    floor_serving = all_of("floor: Deployments + Services")
    rows = [
        ("Datasets -> profile Jobs exist", all_of("Datasets", "jobs"), floor_jobs, ""),
        ("Datasets -> Jobs + statuses", all_of("Datasets"), floor_jobs, "<= 30 s"),
        ("ModelDeployments -> Deployments + Services",
         all_of("ModelDeployments", "deployments", "services"), floor_serving, ""),
        ("ModelDeployments -> children + statuses", all_of("ModelDeployments"), floor_serving,
         "<= 45 s"),
        ("delete ModelDeployments -> children gone", all_of("delete ModelDeployments"),
         all_of("floor: delete Deployments + Services"), "<= 30 s"),
    ]  # fmt: skip
    for work, ours, floor, target in rows:
        print(f"{N} {work:<43} {ours:>7.1f} {floor:>7.1f} {ours / floor:>6.1f}x  {target}")
    print(
        "(the floor deletes its children itself; ours go through the operator or the garbage "
        "collector, whose client is limited to 20 requests/s by default)"
    )
    print(
        f"API server under {QUIET_WRITES} writes/s {notes['quiet_after']:.0f} s after the "
        f"ModelDeployments phase ({notes['writes']:.1f}/s then): the controller-manager's backlog"
    )
    answered = ", ".join(f"{p} {s['client']:.1f}" for p, s in seconds.items() if "client" in s)
    print(f"all requests answered after (s, {CLIENT_THREADS} client threads): {answered}")
    print(
        f"idle API requests/s with {2 * N} objects + children: operator running "
        f"{notes['running']:.1f}, paused {notes['paused']:.1f}, operator's share "
        f"{notes['running'] - notes['paused']:.1f} (target <= 5); operator CPU while idle "
        f"{100 * notes['idle cpu'] / IDLE_SECONDS:.1f} %"
    )
    top = [(what, n) for what, n in notes["by_request"].most_common(5) if n > 0]
    shares = [f"{what} {count / IDLE_SECONDS:.2f}/s" for what, count in top]
    print(f"  share by verb and resource: {', '.join(shares) or 'nothing above the paused window'}")
    print(
        f"operator RSS MB: before objects {notes['rss_before']:.0f}, peak {notes['peak']:.0f}, "
        f"at end {notes['rss_end']:.0f} (target <= 150)"
    )
    marks, previous = [], 0.0
    for phase, total in run.cpu.items():
        marks.append(f"{phase} {total - previous:.1f}")
        previous = total
    print(f"operator CPU s: {previous:.1f} in all ({', '.join(marks)})")
    print("\n".join(log_summary))


def main() -> int:
    from tests.support.cluster import install_crds
    from tests.support.control_plane import ControlPlane

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="mlops-scale-bench-"))
    store_uri = (work / "store").as_uri()
    plane = ControlPlane(work / "control-plane")
    operator: Operator | None = None
    run: Run | None = None
    try:
        plane.start()
        api = Api(plane.kubeconfig)
        install_crds(api.client)
        for ns in (OURS, FLOOR):
            api.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        for plural in ("datasets", "trainingjobs", "modelversions", "modeldeployments"):
            api.call("GET", CRD_PATH.format(ns=OURS, plural=plural))  # 429 until storage is up
        version = model_version(store_uri)  # before any timing: sklearn and skl2onnx load slowly
        operator = Operator(plane.kubeconfig, store_uri, work)
        operator.wait_healthy()
        time.sleep(5)  # startup settles: the first lists and watches are in
        run = Run(api, operator)
        run.notes["rss_before"] = operator.rss_mb()
        measure(run, version)
    except Missing as error:
        print(f"\nMISSING: {error}")
        if operator is not None:
            print(f"--- operator log, last lines:\n{operator.tail()}")
        return 1
    finally:
        if run is not None:
            run.pool.shutdown(wait=False, cancel_futures=True)
        if operator is not None:
            operator.stop()
        plane.stop()
        log_summary = operator.log_summary() if operator is not None else []
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(run, log_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
