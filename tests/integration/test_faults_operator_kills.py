"""The operator killed (SIGKILL) at random points while 200 objects of every kind reconcile.

200 objects are created at once in one namespace: Datasets (profile Jobs), TrainingJobs on
them (training Jobs, each registering a ModelVersion), ModelVersions of a ready artifact,
ModelDeployments serving those (Deployment + Service, pods reported Ready), DriftMonitors on
the deployments. A kubelet stand-in runs every Job pod in-process and reports serving pods
Ready (tests/support/namespace_kubelet.py). The operator runs as its own process; a seeded RNG
picks the kill points (by how far the run has got, so a kill lands mid-run and not in an idle
tail) and each kill is followed by a restart.

Afterwards: no object lost (same uid), no child made twice (every Job, Deployment, Service
and registered ModelVersion ever created — watched from the start — is the one its owner
names, one per purpose), and every status converged (Ready at observedGeneration ==
generation). The counts are printed.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from tests.integration.test_training_flow import IRIS, training_job
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.namespace_kubelet import NamespaceKubelet
from tests.support.operator_process import OperatorProcess
from tests.unit.test_serving_fixtures import iris_onnx

from mlops_operator.artifacts import Store, paths

pytestmark = pytest.mark.integration

DATASETS, TRAININGS, VERSIONS, DEPLOYMENTS, MONITORS = 15, 10, 60, 60, 55
KILLS = 6
CONVERGE_TIMEOUT = 300  # seconds; generous on a loaded 2-core machine
START_TIMEOUT = 300  # a restart resumes every object before its health endpoint answers


def dataset(i: int) -> dict[str, Any]:
    return {**IRIS, "metadata": {"name": f"ds-{i}"}}


def training(i: int) -> dict[str, Any]:
    body = training_job(f"tj-{i}", model=f"m{i}")
    body["spec"]["datasetRef"] = {"name": f"ds-{i}"}
    return body


def model_version(i: int, uri: str, sha256: str, signature: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": f"iris-v{i + 1}"},
        "spec": {
            "model": "iris",
            "version": i + 1,
            "task": "classification",
            "artifact": {"uri": uri, "format": "onnx", "sha256": sha256},
            "signature": signature,
            "metrics": {"accuracy": 0.95},
        },
    }


def model_deployment(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": f"md-{i}"},
        "spec": {"modelVersionRef": {"name": f"iris-v{i + 1}"}, "replicas": 1},
    }


def drift_monitor(i: int, datasets: int = DATASETS) -> dict[str, Any]:
    return {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": f"dm-{i}"},
        "spec": {
            "target": {"deploymentRef": {"name": f"md-{i}"}},
            "reference": {"name": f"ds-{i % datasets}"},
            "minSamples": 100,
        },
    }


def mixed(
    store: str,
    namespace: str,
    datasets: int,
    trainings: int,
    versions: int,
    deployments: int,
    monitors: int,
) -> list[dict[str, Any]]:
    """The objects of a mixed run (a ready ONNX artifact written to the namespace's part of
    the store for the ModelVersions made here): TrainingJob i trains on Dataset i, deployment i
    serves ModelVersion iris-v<i+1>, monitor i watches deployment i against a Dataset."""
    assert trainings <= datasets and deployments <= versions and monitors <= deployments
    served = iris_onnx("logistic")
    artifact = paths.model_file(namespace, "iris", served.sha256, "onnx")
    uri, _ = Store(store).write_bytes(artifact, served.path.read_bytes())
    signature = served.signature.wire()
    return (
        [dataset(i) for i in range(datasets)]
        + [training(i) for i in range(trainings)]
        + [model_version(i, uri, served.sha256, signature) for i in range(versions)]
        + [model_deployment(i) for i in range(deployments)]
        + [drift_monitor(i, datasets) for i in range(monitors)]
    )


class Created:
    """Every object of a few child kinds the API server reports ADDED in the namespace, from
    before the first object exists: a child deleted and made again shows up as two uids."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        batch = kubernetes.client.BatchV1Api(api)
        apps = kubernetes.client.AppsV1Api(api)
        core = kubernetes.client.CoreV1Api(api)
        custom = kubernetes.client.CustomObjectsApi(api)

        def versions(**kw: Any) -> Any:
            return custom.list_namespaced_custom_object(
                "mlops.dev", "v1alpha1", namespace, "modelversions", **kw
            )

        self.lists: dict[str, Callable[..., Any]] = {
            "Job": lambda **kw: batch.list_namespaced_job(namespace, **kw),
            "Deployment": lambda **kw: apps.list_namespaced_deployment(namespace, **kw),
            "Service": lambda **kw: core.list_namespaced_service(namespace, **kw),
            "ModelVersion": versions,
        }
        self.uids: dict[str, dict[str, set[str]]] = {k: defaultdict(set) for k in self.lists}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(kind,), daemon=True) for kind in self.lists
        ]

    def __enter__(self) -> Created:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def _record(self, kind: str, item: Any) -> None:
        meta = item["metadata"] if isinstance(item, dict) else item.metadata
        name = meta["name"] if isinstance(meta, dict) else meta.name
        uid = meta["uid"] if isinstance(meta, dict) else meta.uid
        self.uids[kind][name].add(uid)

    def _watch(self, kind: str) -> None:
        list_ = self.lists[kind]
        while not self._stop.is_set():
            try:  # a fresh list after any break (410 Gone, API server restart), then watch
                listed = list_()
                items = listed["items"] if isinstance(listed, dict) else listed.items
                for item in items:
                    self._record(kind, item)
                version = (
                    listed["metadata"]["resourceVersion"]
                    if isinstance(listed, dict)
                    else listed.metadata.resource_version
                )
                watch = kubernetes.watch.Watch()
                for event in watch.stream(list_, resource_version=version, timeout_seconds=5):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._record(kind, event["object"])
                    if self._stop.is_set():
                        watch.stop()
            except Exception as error:  # keep watching through API hiccups
                self.errors.append(f"{kind}: {error!r}"[:300])
                self._stop.wait(1)


def is_ready(body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"]["generation"]:
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


KINDS = ("Dataset", "TrainingJob", "ModelVersion", "ModelDeployment", "DriftMonitor")


def converged(objects: Objects) -> dict[str, list[str]]:
    """Objects of each kind not (yet) Ready at their generation, by kind."""
    return {
        kind: [o["metadata"]["name"] for o in objects.list(kind) if not is_ready(o)]
        for kind in KINDS
    }


def test_sigkill_at_random_points_while_200_objects_reconcile(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("MLOPS_FAULT_SEED", random.SystemRandom().randrange(2**32)))
    print(f"\nfault seed {seed} (rerun with MLOPS_FAULT_SEED={seed})", file=sys.stderr)
    rng = random.Random(seed)

    bodies = mixed(store, namespace, DATASETS, TRAININGS, VERSIONS, DEPLOYMENTS, MONITORS)
    rng.shuffle(bodies)  # kinds interleaved: dependents often exist before what they need
    assert len(bodies) == 200

    # Progress: one Job pod per Dataset and TrainingJob, one server pod per deployment.
    expected_progress = DATASETS + TRAININGS + DEPLOYMENTS
    kill_points = sorted(rng.sample(range(3, expected_progress - 10), KILLS - 1))
    logs = control_plane.workdir / f"operator-{namespace}"  # kept when a test fails
    logs.mkdir()
    operator = OperatorProcess(control_plane.kubeconfig, namespace, logs)
    with (
        Created(kube_api, namespace) as created,
        NamespaceKubelet(kube_api, namespace, tmp_path) as kubelet,
    ):
        operator.start(timeout=START_TIMEOUT)
        started = time.monotonic()
        uids = {(b["kind"], b["metadata"]["name"]): objects.create(b)["metadata"]["uid"]
                for b in bodies}  # fmt: skip
        kills = 0
        try:
            # The first kill while the 200 creations are still being picked up.
            operator.kill()
            kills += 1
            operator.start(timeout=START_TIMEOUT)
            for point in kill_points:
                wait_for(
                    lambda p=point: kubelet.progress >= p,
                    timeout=CONVERGE_TIMEOUT,
                    interval=0.1,
                    what=f"{point} pods handled (now {kubelet.progress})",
                )
                operator.kill()
                kills += 1
                print(
                    f"kill {kills} at {kubelet.progress} pods handled, "
                    f"{time.monotonic() - started:.0f} s in",
                    file=sys.stderr,
                )
                operator.start(timeout=START_TIMEOUT)
            try:
                wait_for(
                    lambda: not any(converged(objects).values()),
                    timeout=CONVERGE_TIMEOUT,
                    interval=2,
                    what="every object Ready at its generation",
                )
                converged_after = time.monotonic() - started
            except TimeoutError as error:
                left = {k: v[:5] for k, v in converged(objects).items() if v}
                raise AssertionError(
                    f"{error}; not converged: {left}; kubelet errors: {kubelet.errors[:3]}"
                ) from None
        finally:
            operator.stop()

    # 0 lost: every object created is there, the same object (uid).
    now, lost = survivors(objects, uids)
    assert lost == []

    duplicates = find_duplicates(
        kube_api, namespace, objects, created, DATASETS, TRAININGS, DEPLOYMENTS
    )
    children = sum(len(names) for names in created.uids.values())
    by_kind = Counter({kind: len(names) for kind, names in created.uids.items()})
    ready_count = sum(1 for o in now.values() if is_ready(o))
    print(
        f"fault test counts: objects={len(uids)} (+{len(now) - len(uids)} registered "
        f"ModelVersions) kills={kills} children={children} {dict(by_kind)} "
        f"duplicates={len(duplicates)} converged={ready_count}/{len(now)} "
        f"pods handled={kubelet.progress} jobs run={kubelet.jobs_run} seed={seed} "
        f"(converged {converged_after:.0f} s after the first create)"
    )
    assert duplicates == [], duplicates
    assert ready_count == len(now) == 200 + TRAININGS
    assert kills == KILLS


def survivors(
    objects: Objects, uids: dict[tuple[str, str], str]
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[tuple[str, str]]]:
    """Every object of the test's kinds now, and those created (kind, name -> uid) that are
    gone or were replaced by another object of the same name."""
    now = {(k, o["metadata"]["name"]): o for k in KINDS for o in objects.list(k)}
    lost = [
        key for key, uid in uids.items() if key not in now or now[key]["metadata"]["uid"] != uid
    ]
    return now, lost


def find_duplicates(
    api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    created: Created,
    datasets: int,
    trainings: int,
    deployments: int,
) -> list[str]:
    """Every child ever created that its owner does not name, and every purpose with more than
    one child, for ds-<i> (i < datasets), tj-<i> and md-<i>."""
    found: list[str] = []
    for kind, names in created.uids.items():
        found += [
            f"{kind} {name} created {len(u)} times" for name, u in names.items() if len(u) > 1
        ]

    batch = kubernetes.client.BatchV1Api(api)
    jobs = batch.list_namespaced_job(namespace).items
    owners = Counter(
        (j.metadata.owner_references[0].kind, j.metadata.owner_references[0].name) for j in jobs
    )
    found += [f"{owner} owns {n} Jobs" for owner, n in owners.items() if n > 1]
    expected_owners = {("Dataset", f"ds-{i}") for i in range(datasets)} | {
        ("TrainingJob", f"tj-{i}") for i in range(trainings)
    }
    found += [f"Job for {owner} unexpected" for owner in set(owners) - expected_owners]
    found += [f"no Job for {owner}" for owner in expected_owners - set(owners)]
    found += [f"Job {name} no longer exists" for name in set(created.uids["Job"]) - {
        j.metadata.name for j in jobs
    }]  # fmt: skip

    apps = kubernetes.client.AppsV1Api(api)
    core = kubernetes.client.CoreV1Api(api)
    mds = {f"md-{i}" for i in range(deployments)}
    for what, items in (
        ("Deployment", apps.list_namespaced_deployment(namespace).items),
        ("Service", core.list_namespaced_service(namespace).items),
    ):
        per_owner = Counter(
            (i.metadata.labels or {}).get("mlops.dev/modeldeployment") for i in items
        )
        found += [f"{owner} has {n} {what}s" for owner, n in per_owner.items() if n != 1]
        found += [f"{what} {i.metadata.name} not named after its owner" for i in items
                  if i.metadata.name not in mds]  # fmt: skip
        found += [f"md {name} has no {what}" for name in mds - set(per_owner)]
        found += [f"{what} {name} created and gone" for name in set(created.uids[what]) - {
            i.metadata.name for i in items
        }]  # fmt: skip

    registered = [
        mv
        for mv in objects.list("ModelVersion")
        if mv["spec"].get("lineage", {}).get("trainingJob")
    ]
    per_job = Counter(mv["spec"]["lineage"]["trainingJob"] for mv in registered)
    found += [f"{tj} registered {n} ModelVersions" for tj, n in per_job.items() if n != 1]
    for i in range(trainings):
        named = (objects.get("TrainingJob", f"tj-{i}").get("status") or {}).get("modelVersion")
        if named != f"m{i}-v1":
            found.append(f"tj-{i} names ModelVersion {named!r}, not m{i}-v1")
    extra = set(created.uids["ModelVersion"]) - {
        mv["metadata"]["name"] for mv in objects.list("ModelVersion")
    }
    found += [f"ModelVersion {name} created and gone" for name in extra]
    return found
