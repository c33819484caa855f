"""kube-apiserver stopped and started again (twice) while objects of every kind reconcile.

The operator runs as its own process and is never restarted: it has to ride out its watch
streams breaking and its requests being refused, and reconnect by itself. The resync is an
hour away (conftest), so objects created after the restarts converge only if the operator's
watches came back. Afterwards: the operator process never exited, no object lost, no child
made twice, every status Ready at its generation.
"""

from __future__ import annotations

import random
import sys
from collections import Counter

import kubernetes
import pytest
from tests.integration.test_faults_operator_kills import (
    Created,
    converged,
    dataset,
    find_duplicates,
    is_ready,
    mixed,
    survivors,
    training,
)
from tests.support.cluster import Objects, wait_for
from tests.support.control_plane import ControlPlane
from tests.support.namespace_kubelet import NamespaceKubelet
from tests.support.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

# Created before the restarts; LATE more Datasets and TrainingJobs come after them.
DATASETS, TRAININGS, VERSIONS, DEPLOYMENTS, MONITORS = 10, 8, 12, 12, 8
LATE = 2
TIMEOUT = 300  # seconds; generous on a loaded 2-core machine


def test_operator_rides_out_apiserver_restarts(
    control_plane: ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    namespace: str,
    objects: Objects,
    store: str,
) -> None:
    bodies = mixed(store, namespace, DATASETS, TRAININGS, VERSIONS, DEPLOYMENTS, MONITORS)
    random.Random(14).shuffle(bodies)
    logs = control_plane.workdir / f"operator-{namespace}"  # kept when a test fails
    logs.mkdir()
    operator = OperatorProcess(control_plane.kubeconfig, namespace, logs)
    expected_progress = DATASETS + TRAININGS + DEPLOYMENTS
    with (
        Created(kube_api, namespace) as created,
        NamespaceKubelet(kube_api, namespace, logs) as kubelet,
    ):
        operator.start(timeout=TIMEOUT)
        uids = {(b["kind"], b["metadata"]["name"]): objects.create(b)["metadata"]["uid"]
                for b in bodies}  # fmt: skip
        try:
            for point, down in ((expected_progress // 4, 3.0), (expected_progress // 2, 10.0)):
                wait_for(
                    lambda p=point: kubelet.progress >= p,
                    timeout=TIMEOUT,
                    interval=0.1,
                    what=f"{point} pods handled (now {kubelet.progress})",
                )
                control_plane.restart_apiserver(down_seconds=down, timeout=TIMEOUT)
                print(
                    f"kube-apiserver restarted at {kubelet.progress} pods handled, "
                    f"down {down:.0f} s",
                    file=sys.stderr,
                )
                assert operator.process is not None and operator.process.poll() is None, (
                    f"the operator exited: {operator.log()[-3000:]}"
                )
            # Objects the operator can only see through watches made after the restarts.
            late = [dataset(DATASETS + i) for i in range(LATE)] + [
                training(TRAININGS + i) for i in range(LATE)
            ]
            for body in late:  # tj-8 and tj-9 train on ds-8 and ds-9, created earlier
                uids[(body["kind"], body["metadata"]["name"])] = objects.create(body)["metadata"][
                    "uid"
                ]
            try:
                wait_for(
                    lambda: not any(converged(objects).values()),
                    timeout=TIMEOUT,
                    interval=2,
                    what="every object Ready at its generation",
                )
            except TimeoutError as error:
                left = {k: v[:5] for k, v in converged(objects).items() if v}
                raise AssertionError(
                    f"{error}; not converged: {left}; kubelet errors: {kubelet.errors[-3:]}"
                ) from None
            assert operator.process is not None and operator.process.poll() is None, (
                f"the operator exited: {operator.log()[-3000:]}"
            )
        finally:
            operator.stop()

    now, lost = survivors(objects, uids)
    assert lost == []
    duplicates = find_duplicates(
        kube_api, namespace, objects, created, DATASETS + LATE, TRAININGS + LATE, DEPLOYMENTS
    )
    ready_count = sum(1 for o in now.values() if is_ready(o))
    by_kind = Counter({kind: len(names) for kind, names in created.uids.items()})
    print(
        f"apiserver restart counts: objects={len(uids)} (+{len(now) - len(uids)} registered "
        f"ModelVersions) restarts=2 children={dict(by_kind)} duplicates={len(duplicates)} "
        f"converged={ready_count}/{len(now)} operator starts={operator.starts}"
    )
    assert duplicates == [], duplicates
    assert ready_count == len(now)
    assert operator.starts == 1
