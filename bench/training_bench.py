"""Orchestration overhead of a TrainingJob on the real control plane.

Time from the TrainingJob being applied to its ModelVersion being Ready, minus the trainer's
own work (the in-process `mlops-operator train` run, which a pod would do). Job pods have no
kubelet here: the bench runs the pod command in-process and reports the pod terminated; the
real Job controller then completes the Job. Medians over ROUNDS runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
os.environ.update(MLOPS_STORE=f"file://{WORK / 'store'}", MLOPS_METRICS_PORT="0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def main() -> int:
    import kubernetes
    from tests.integration.operator import running_operator
    from tests.integration.test_training_flow import get_job, ready, ready_iris, training_job
    from tests.support.cluster import Objects, configuration, install_crds, wait_for
    from tests.support.control_plane import ControlPlane
    from tests.support.kubelet import finish_pod

    from mlops_operator.cli import main as cli

    plane = ControlPlane(WORK / "control-plane").start()
    os.environ["KUBECONFIG"] = str(plane.kubeconfig)
    api = kubernetes.client.ApiClient(configuration(plane.kubeconfig))
    install_crds(api)
    namespace = "bench"
    kubernetes.client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    objects = Objects(api, namespace)
    overheads, totals, trainer = [], [], []
    try:
        with running_operator(namespace):
            ready_iris(api, namespace, objects, WORK)
            for i in range(ROUNDS):
                name = f"iris-lr-{i}"
                started = time.perf_counter()
                objects.create(training_job(name))
                job = wait_for(
                    lambda n=name: get_job(api, namespace, f"mlops.dev/trainingjob={n}"), 60
                )
                args = list(job.spec.template.spec.containers[0].args)
                work_started = time.perf_counter()
                assert cli([*args, "--termination-log", str(WORK / f"{name}.log")]) == 0
                work = time.perf_counter() - work_started
                finish_pod(api, namespace, job.metadata.name)
                mv = wait_for(
                    lambda n=name: (objects.get("TrainingJob", n).get("status") or {}).get(
                        "modelVersion"
                    ),
                    60,
                )
                wait_for(lambda m=mv: ready(objects, "ModelVersion", m), 60)
                total = time.perf_counter() - started
                totals.append(total)
                trainer.append(work)
                overheads.append(total - work)
        kubectl = [
            str(ROOT / "bin" / "kubectl"),
            "--kubeconfig",
            str(plane.kubeconfig),
            "-n",
            namespace,
        ]
        for what in (["get", "mlops", "-o", "wide"], ["describe", "modelversion", "iris-v1"]):
            print(f"$ kubectl {' '.join(what)}")
            print(
                subprocess.run(
                    [*kubectl, *what], capture_output=True, text=True, check=False
                ).stdout
            )
    finally:
        plane.stop()
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"TrainingJob applied -> ModelVersion Ready, {ROUNDS} rounds (medians, seconds)")
    print(f"{'total':>10} {'trainer':>10} {'overhead':>10}")
    print(
        f"{statistics.median(totals):>10.2f} {statistics.median(trainer):>10.2f} "
        f"{statistics.median(overheads):>10.2f}"
    )
    print("poll interval 1 s; overhead = operator + API server + Job controller round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
